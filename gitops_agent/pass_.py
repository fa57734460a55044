"""One pass: observe -> plan -> execute -> record -> publish.

    observe   remote heads, the config commit's files and tree, apps, sources, watch files
    plan      pure: one decision per app with its reasons (plan/decide.py)
    execute   per app, in dependency order, isolated: apply / leave / suspend / drift
    record    state.json after every app that ran, and once at the end
    publish   the status report, pushed to the status branch (never changes the result)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from gitops_agent import clock, git, lock
from gitops_agent.clock import now_iso
from gitops_agent.config import SCHEMA_CACHE, AgentConfig
from gitops_agent.config import schema as schemas
from gitops_agent.errors import EXIT_BAD_CONFIG, EXIT_FAILED, EXIT_OK, ConfigError, FatalError
from gitops_agent.execute import housekeeping, reaper, removal, scheduler
from gitops_agent.execute.apply import Context, Target, spec_of
from gitops_agent.execute.job import carry_out, crashed, unrun
from gitops_agent.layout import Layout
from gitops_agent.observe import Observation, observe, waves
from gitops_agent.plan import Backoff, Plan, make_plan, needs_tree, rollout
from gitops_agent.plan.decide import FAILED_STATES, satisfies_dependents
from gitops_agent.publish import report, status
from gitops_agent.publish.announce import announce
from gitops_agent.record import suspensions
from gitops_agent.record.state import AppRecord, State, load_state, save_state

log = logging.getLogger(__name__)


BY_HAND = "asked by run-playbook"  # the one way past a rollout gate


@dataclass
class Options:
    only: tuple[str, ...] = ()  # --app: reconcile just these
    force: bool = False
    forced_by: str = "forced"  # the reason shown for a forced apply
    push: bool = True
    show_output: bool = False
    check: bool = False  # check mode: nothing is recorded or pushed
    scratch: Path | None = None  # check mode's copies of the revisions: no checkout moves
    drift_check: bool = False  # check unchanged apps for drift (self-heal if asked)
    allow_rewind: bool = False  # with verify: apply a commit that does not descend, once
    diff: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class PassResult:
    exit_code: int
    config_commit: str | None
    records: dict[str, AppRecord]  # what this pass did, app by app
    invalid: dict[str, str]
    pushed: bool | None = None
    watch: dict[str, tuple[str, ...]] = field(default_factory=dict)  # app -> local paths
    plan: Plan | None = None
    overridden: str | None = None  # the rollout gate `run-playbook` went past


def plan_of(observation: Observation, state: State, suspended: dict[str, dict[str, Any]],
            options: Options, config: AgentConfig) -> Plan:
    """The pure plan for what `observe` found, at this time and with the config's backoff;
    the new tree is read only if it is needed."""
    view = observation.config
    appset = observation.appset
    tree = view.tree() if needs_tree(view.commit, observation.selected, state.apps,
                                     suspended) else None
    return make_plan(
        view.commit, observation.selected, observation.apps, state.apps, tree,
        view.edited, suspended, appset.invalid, [*appset.apps, *appset.invalid],
        options.only, options.forced_by if options.force or options.check else None,
        view.refused, clock.now(), Backoff(config.runner.backoff, config.runner.backoff_max))


def preview(config: AgentConfig, only: tuple[str, ...], scratch: Path) -> tuple[
        Observation, Plan, State]:
    """Observe read-only (scratch space for what the checkout lacks) and plan."""
    layout = Layout(config.state_dir)
    state = load_state(layout.state_file)
    auth = git.Auth(config.config_repo.ssh_key, config.config_repo.known_hosts)
    auth.check()
    observation = observe(config, layout, state, auth, only, scratch=scratch)
    suspended = suspensions.load_failing_closed(layout.suspensions_file)
    decided = plan_of(observation, state, suspended, Options(only=only), config)
    gate = gated(config, scratch / "waves.git", auth, state, observation, decided, False)
    return observation, gate.plan, state


def context_of(config: AgentConfig, layout: Layout, auth: git.Auth, options: Options) -> Context:
    return Context(config, layout, auth, options.show_output, options.check, options.diff,
                   options.cancel, scratch=options.scratch)


class Pass:
    def __init__(self, config: AgentConfig, options: Options) -> None:
        self.config = config
        self.options = options
        self.layout = Layout(config.state_dir)
        self.auth = git.Auth(config.config_repo.ssh_key, config.config_repo.known_hosts)
        self.context = context_of(config, self.layout, self.auth, options)
        self.records: dict[str, AppRecord] = {}
        self.saving = threading.Lock()
        self.observation: Observation | None = None
        self.suspended = suspensions.load_failing_closed(self.layout.suspensions_file)
        self.push_error: str | None = None
        self.pushing = config.status.enabled and options.push and not options.check
        self.started = time.monotonic()
        self.gate = rollout.Outcome(Plan(""), rollout.Gate(), None)

    def run(self) -> PassResult:
        self.auth.check()
        self.layout.prepare()
        with lock.hold(self.layout.lock_file):
            reaper.end_stale(str(self.layout.root))
            housekeeping.clear_work(self.layout)
            state = load_state(self.layout.state_file, quarantine=not self.options.check)
            try:
                self.observation = observe(self.config, self.layout, state, self.auth,
                                           self.options.only, self.options.scratch,
                                           self.options.allow_rewind)
            except FatalError as error:
                if not isinstance(error, ConfigError):  # the repo, not the user's input
                    self._report_failure(state, str(error))
                raise
            self.context.view = self.observation.config  # what applies read, and where
            plan = plan_of(self.observation, state, self.suspended, self.options, self.config)
            self.gate = gated(self.config, self.layout.waves_repo, self.auth, state,
                              self.observation, plan, self.options.forced_by == BY_HAND)
            plan = self.gate.plan
            if plan.refused:
                return self._refuse(state, plan)
            self._execute(state, plan, self.observation)
            return self._finish(state, plan, self.observation)

    # --- execute -------------------------------------------------------------------
    def _execute(self, state: State, plan: Plan, observation: Observation) -> None:
        commit = plan.commit
        for name, record in unrun(plan, state.apps, self.options.check):
            self._record(state, name, record)
        selected = observation.selected
        hold = plan.held or self.gate.gate.hold  # a pause or window, even with nothing pending

        def job(name: str) -> bool:
            previous = state.apps.get(name)
            decision = plan.decisions[name]
            target = Target(selected[name], commit, observation.apps[name])
            try:
                heal = selected[name].self_heal
                heal = (self.config.self_heal if heal is None else heal) and not hold
                record = carry_out(self.context, target, decision, previous,
                                   self.options.drift_check, heal, self.suspended.get(name))
            except Exception as error:  # one app's error is that app's failure only
                log.error("%s: %s: %s", name, type(error).__name__, error,
                          exc_info=log.isEnabledFor(logging.DEBUG))
                record = crashed(previous, target, error)
            ran = record.run_id != (previous.run_id if previous else None)
            self._record(state, name, record, durable=ran)
            return satisfies_dependents(decision, record.state)

        def blocked(name: str, dependency: str) -> None:
            self._record(state, name, replace(
                state.apps.get(name) or AppRecord(state="blocked"), state="blocked",
                config_commit=commit, spec=spec_of(selected[name]),
                message=f"not attempted: dependency {dependency} failed"))

        scheduler.run_in_order({name: app.depends_on for name, app in selected.items()},
                               job=job, blocked=blocked, workers=self.config.runner.workers,
                               stop=self.options.cancel.is_set, already_failed=plan.invalid)
        if not self.options.check:
            for name in plan.remove:
                if self.options.cancel.is_set():
                    break
                self._record(state, name,
                             removal.remove(self.context, name, state.apps[name], commit))

    # --- record --------------------------------------------------------------------
    def _record(self, state: State, name: str, record: AppRecord, durable: bool = True) -> None:
        """Keep an app's result: real work is saved at once (crash safety), the rest last."""
        with self.saving:
            self.records[name] = record
            if not self.options.check:
                if record.state == "removed":
                    state.apps.pop(name, None)
                else:
                    state.apps[name] = record
                if durable:
                    save_state(self.layout.state_file, state)

    def _refuse(self, state: State, plan: Plan) -> PassResult:
        """The config commit may not be applied: every app is reported blocked; each keeps
        what it last applied and read, so nothing re-runs once a good commit comes."""
        for name, decision in plan.decisions.items():
            self._record(state, name, replace(state.apps[name], state="blocked",
                                              message=decision.text()), durable=False)
        state.last_pass = now_iso()
        save_state(self.layout.state_file, state)
        return PassResult(EXIT_FAILED, state.config_commit, self.records, {},
                          self._publish(state, state.config_commit), plan=plan)

    def _finish(self, state: State, plan: Plan, observation: Observation) -> PassResult:
        pushed = None
        if not self.options.check:
            if not (self.options.only or plan.held):  # every app reconciled at the commit
                state.config_commit = plan.commit
            state.error, state.updated = None, now_iso()
            state.last_pass = state.updated
            save_state(self.layout.state_file, state)
            schemas.save_known_valid(self.layout.root / SCHEMA_CACHE)
            pushed = self._publish(state, state.config_commit)
            if self.push_error != state.push_error:  # `status` says whether it is pending
                state.push_error = self.push_error
                save_state(self.layout.state_file, state)
            housekeeping.tidy(self.layout)  # after the report: it never delays one
        watch = {name: app.watch for name, app in observation.appset.apps.items() if app.watch}
        code = EXIT_BAD_CONFIG if observation.rules_error and not self.gate.gate.overridden \
            else exit_code_of(plan, self.records)
        return PassResult(code, plan.commit, self.records, plan.invalid, pushed, watch, plan,
                          self.gate.gate.overridden)

    # --- publish -------------------------------------------------------------------
    def _report_failure(self, state: State, error: str) -> None:
        """The pass could not even start on the config repo: say so in the report (the
        apps keep their last results) and in state, for `status`."""
        if self.options.check:
            return
        state.error, state.last_pass = error, now_iso()  # `status` sees that a pass ran
        save_state(self.layout.state_file, state)
        self._publish(state, state.config_commit, error,  # the config repo is unreachable
                      push=self.config.status.url != self.config.config_repo.url)

    def _publish(self, state: State, sha: str | None, error: str | None = None,
                 push: bool = True) -> bool | None:
        """Push the report, then metrics and notifications; none changes the result."""
        if self.options.check:
            return None
        document = document_of(self.config, state, self.records, sha, error)
        outcome = None
        if self.pushing and push:
            outcome, self.push_error = status.push_report(
                self.layout.status_repo, self.config.status, self.auth, self.config.host,
                document, prompt=self.gate.gate.leads)
        announce(self.config, self.layout, state, document, time.monotonic() - self.started,
                 outcome is not None if self.config.status.enabled else None)
        return None if outcome is None else outcome != status.UNCHANGED


def gated(config: AgentConfig, repo: Path, auth: git.Auth, state: State,
          observation: Observation, plan: Plan, by_hand: bool) -> rollout.Outcome:
    """The plan as fleet.yml's rollout rules let it run now (plan/rollout.py); keeps the
    host's wave and what the waves released in `state`."""
    rules = observation.rules
    if observation.rules_error:
        why = f"fleet.yml is invalid, so nothing is applied: {observation.rules_error}"
        if by_hand:
            log.warning("run-playbook by hand overrides the rollout rules: %s", why)
            return rollout.Outcome(plan, rollout.Gate(overridden=why), state.released)
        log.error("%s", why)
        return rollout.Outcome(rollout.hold(plan, why), rollout.Gate(why), state.released)
    outcome = rollout.gate(
        plan, rules, config.host, config.labels, clock.now(),
        {name: view.source_commit for name, view in observation.apps.items()},
        state.released, lambda limit: waves.peers(repo, config.status, auth, rules, limit)
        if rules else [], config.stale_after, by_hand)
    if outcome.gate.leads and not config.status.enabled:
        log.warning("a later rollout wave waits for this host, but status.enabled is false: "
                    "it never reports, so that wave waits for ever (or skip_stale_after)")
    if outcome.gate.overridden:
        log.warning("run-playbook by hand overrides the rollout rules: %s",
                    outcome.gate.overridden)
    elif outcome.plan.held:
        log.info("rollout: nothing is applied: %s", outcome.plan.held)
    state.wave, state.released = outcome.gate.wave, outcome.released
    return outcome


def exit_code_of(plan: Plan, records: dict[str, AppRecord]) -> int:
    """2 an app file is invalid, 1 an app failed (or was blocked or rolled back), else 0."""
    if plan.invalid:
        return EXIT_BAD_CONFIG
    if any(record.state in FAILED_STATES for record in records.values()):
        return EXIT_FAILED
    return EXIT_OK


def document_of(config: AgentConfig, state: State, records: dict[str, AppRecord],
                sha: str | None, error: str | None = None) -> dict[str, Any]:
    """The report: every app state knows, this pass's results over them."""
    apps = {name: asdict(record) for name, record in state.apps.items()}
    apps.update({name: asdict(record) for name, record in records.items()})
    now = now_iso()
    return report.build(config.host, now, sha, apps, error, config.labels, now, state.wave)
