"""Apply one app: put its source in place, run its playbook, check its health, roll back."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitops_agent import git_objects
from gitops_agent.clock import now_iso
from gitops_agent.config import AgentConfig, App, load_app
from gitops_agent.errors import ConfigError, GitError
from gitops_agent.execute import ansible_env, checkouts, deploy_marks, health, runner
from gitops_agent.execute.check_mode import changed_tasks, check_verdict
from gitops_agent.execute.tracing import Reads
from gitops_agent.git import Auth
from gitops_agent.layout import Layout
from gitops_agent.observe import AppView, config_repo, shipped
from gitops_agent.observe.config_repo import ConfigView
from gitops_agent.observe.shipped import SHIPPED_FACT
from gitops_agent.plan import inputs as recorded
from gitops_agent.record.state import AppRecord

log = logging.getLogger(__name__)


@dataclass
class Target:
    """One app as this pass wants it: the config commit and what was observed of it."""

    app: App
    config_commit: str
    view: AppView
    reason: str | None = None  # why it is applied (the plan's reasons)

    @property
    def source_commit(self) -> str | None:
        return self.view.source_commit


@dataclass
class Context:
    config: AgentConfig
    layout: Layout
    auth: Auth
    show_output: bool = False
    check: bool = False
    diff: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    view: ConfigView | None = None  # the pass's config commit: its files, its trees
    # check mode: copies of the sources go here, so the agent's checkouts never move
    scratch: Path | None = None

    def source_dir(self, name: str) -> Path:
        if self.scratch is not None:
            return self.scratch / "sources" / name
        return self.layout.app_checkout(name)


def spec_of(app: App) -> dict[str, Any]:
    """What the state keeps of an app file, to act on it once the file is gone."""
    return {
        "file": app.file,
        "playbook": app.playbook,
        "remove_playbook": app.remove_playbook,
        "vars": app.vars,
        "source_url": app.source.url if app.source else None,
    }


def extravars(context: Context, name: str, variables: dict[str, Any], config_dir: Path,
              config_commit: str | None, source_commit: str | None,
              has_source: bool) -> dict[str, Any]:
    """The app's vars plus the gitops_* facts every playbook gets (SPEC §3)."""
    values = dict(variables)
    values.update({
        "gitops_app": name,
        "gitops_host": context.config.host,
        "gitops_labels": dict(context.config.labels),
        "gitops_config_dir": str(config_dir),
        "gitops_config_commit": config_commit,
        "gitops_source_dir": str(context.source_dir(name)) if has_source else None,
        "gitops_source_commit": source_commit,
    })
    return values


def run_playbook(context: Context, name: str, playbook: Path, config_dir: Path,
                 variables: dict[str, Any], timeout: int | None,
                 metadata: dict[str, Any], trace: bool = False,
                 timeout_from: str | None = None) -> runner.RunResult:
    """One ansible-runner run for app `name`, with the agent's settings; `timeout`, when
    given, comes from the setting `timeout_from` names (else runner.timeout applies)."""
    return runner.run_playbook(runner.RunRequest(
        app=name,
        playbook=playbook,
        config_dir=config_dir,
        run_dir=context.layout.run_dir(name),
        host=context.config.host,
        extravars=variables,
        timeout=timeout or context.config.runner.timeout,
        timeout_source=(timeout_from or "the app's timeout") if timeout else "runner.timeout",
        keep_artifacts=context.config.runner.keep_artifacts,
        vault_password_file=context.config.runner.vault_password_file,
        check=context.check,
        diff=context.diff,
        show_output=context.show_output,
        cancel=context.cancel,
        metadata=metadata,
        trace=trace and not context.check,
    ))


def run_app(context: Context, app: App, config_dir: Path, config_commit: str,
             source_commit: str | None, reason: str | None,
             trace: bool = False) -> runner.RunResult:
    variables = extravars(context, app.name, app.vars, config_dir, config_commit,
                          source_commit, app.source is not None)
    playbook, running = config_dir / str(app.playbook), None
    if app.deploy is not None:
        variables["gitops_deploy"] = app.deploy
        variables["gitops_state_dir"] = str(context.layout.root)  # for deploy-pending/<app>
        playbook = ansible_env.SHIPPED / "playbooks" / "deploy.yml"
        if app.deploy.get("commands") and not context.check:  # a run cut short owes them
            running = deploy_marks.begin(context.layout, app.name,
                                         f"{source_commit or '-'} {config_commit}\n")
    result = run_playbook(context, app.name, playbook, config_dir, variables, app.timeout,
                          {"config_commit": config_commit, "source_commit": source_commit,
                           "reason": reason}, trace, f"timeout in {app.file}")
    if running is not None:
        deploy_marks.end(running, result.outcome)
    return result


def _failed(previous: AppRecord | None, target: Target, message: str) -> AppRecord:
    base = previous or AppRecord(state="failed")
    return replace(base, state="failed", message=message, last_attempt="failed",
                   source_commit=target.source_commit or base.source_commit,
                   config_commit=target.config_commit, failed_tasks=[], restored=None,
                   spec=spec_of(target.app))


def inputs_of(context: Context, target: Target, reads: Reads | None) -> dict[str, Any] | None:
    """What an apply of `target` depended on, for state; None when it cannot be known."""
    if reads is None or context.view is None:
        return None
    try:
        tree = context.view.tree_at(target.config_commit)
    except GitError as error:
        log.warning("%s: cannot read the config tree to record inputs: %s", target.app.name,
                    error)
        return None
    app = target.app
    facts = {key: value for key, value in target.view.facts.items() if key != SHIPPED_FACT}
    # the shipped files it read: an upgrade that changes none of them leaves it alone
    if reads.shipped():
        facts[SHIPPED_FACT] = shipped.record(reads.in_shipped(reads.read),
                                             reads.in_shipped(reads.probed),
                                             reads.in_shipped(reads.listed))
    # watch: files as they were before the run. A playbook that manages the file it
    # watches is applied once more to settle (it then finds the file as it left it); a
    # hand edit made during the run is never taken for the applied state.
    return recorded.record(tree, reads.in_repo(reads.read), reads.in_repo(reads.probed),
                           reads.in_repo(reads.listed), (app.file,), app.paths,
                           target.source_commit, facts, target.view.watch).to_dict()


def put_source(context: Context, app: App, sha: str | None) -> str | None:
    """Put the app's source at `sha` where its run reads it; the note of a healed checkout.
    In check mode that is a copy in scratch: the agent's checkout is only read."""
    if app.source is None or sha is None:
        return None
    if context.scratch is None:
        return checkouts.sync(context.layout.app_checkout(app.name), app.source.url, sha,
                              context.auth, what=app.source.ref)
    checkout = Layout(context.config.state_dir).app_checkout(app.name)  # read, not moved
    repo = config_repo.objects(checkout, app.source.url, sha, context.auth, context.scratch,
                               app.source.ref)
    git_objects.export(repo, sha, context.source_dir(app.name))
    return None


def apply(context: Context, target: Target, previous: AppRecord | None) -> AppRecord:
    """Run the app's playbook now and return its new record (never raises for a failure)."""
    app = target.app
    if target.view.source_error:
        return _failed(previous, target, target.view.source_error)
    try:
        healed = put_source(context, app, target.source_commit)
    except GitError as error:
        return _failed(previous, target, f"source checkout failed: {error}")
    log.info("%s: %s (%s)", app.name, "checking" if context.check else "applying",
             target.reason or "asked")
    config_dir = context.view.directory if context.view else context.layout.config_checkout
    result = run_app(context, app, config_dir,
                      target.config_commit, target.source_commit, target.reason, trace=True)
    outcome = result.outcome
    note = f" ({healed})" if healed else ""
    if context.check:
        return checked(target, result, note)
    message, failed_tasks = outcome.message + note, outcome.failed_tasks
    ok = outcome.ok
    if ok and app.health:
        problem = health.check(app.name, app.health, context.cancel)
        if problem:
            ok, message = False, problem
            failed_tasks = [{"task": "health check", "module": "gitops-agent.health",
                             "msg": problem}]
    log.log(logging.INFO if ok else logging.ERROR, "%s: %s — %s (run %s)", app.name,
            "applied" if ok else "failed", message, result.run_id)
    base = previous or AppRecord(state="applied")
    traced = inputs_of(context, target, result.reads)
    record = replace(
        base,
        state="applied" if ok else "failed",
        message=message,
        source_commit=target.source_commit,
        config_commit=target.config_commit,
        started=result.started,
        duration=result.duration,
        stats=outcome.stats,
        failed_tasks=failed_tasks,
        run_id=result.run_id,
        last_attempt="ok" if ok else "failed",
        inputs=traced if ok else base.inputs,
        failed_inputs=None if ok else traced,
        good_source_commit=target.source_commit if ok else base.good_source_commit,
        good_config_commit=target.config_commit if ok else base.good_config_commit,
        spec=spec_of(app),
        restored=None,
        drifted_tasks=[],
        last_success=now_iso() if ok else base.last_success,
    )
    if not ok and app.rollback and not context.cancel.is_set():
        return roll_back(context, target, record)
    return record


def checked(target: Target, result: runner.RunResult, note: str = "") -> AppRecord:
    """The record of a check-mode run, for the command's output only (check mode records
    nothing): no inputs, no good revisions, no health check, no rollback."""
    outcome = result.outcome
    state, message = check_verdict(outcome)
    log.log(logging.ERROR if state == "failed" else logging.INFO, "%s: %s (run %s)",
            target.app.name, message, result.run_id)
    return AppRecord(state=state, message=message + note, source_commit=target.source_commit,
                     config_commit=target.config_commit, started=result.started,
                     duration=result.duration, stats=outcome.stats,
                     failed_tasks=outcome.failed_tasks, run_id=result.run_id,
                     spec=spec_of(target.app), drifted_tasks=changed_tasks(outcome))


def check_drift(context: Context, target: Target) -> tuple[list[str], str | None]:
    """Run the app in check mode: (tasks that would change, why the check was impossible)."""
    checking = replace(context, check=True, diff=False, show_output=False)
    result = run_app(checking, target.app, context.layout.config_checkout,
                      target.config_commit, target.source_commit, "drift check")
    if not result.outcome.ok:
        return [], f"check mode failed, so drift cannot be checked: {result.outcome.message}"
    return changed_tasks(result.outcome), None


def roll_back(context: Context, target: Target, failed: AppRecord) -> AppRecord:
    """Re-apply the last good source and config revisions after a failed apply or health."""
    good_config, good_source = failed.good_config_commit, failed.good_source_commit
    if good_config is None:
        failed.message += " (no earlier good revision to roll back to)"
        return failed
    name = target.app.name
    log.warning("%s: rolling back to config %s, source %s", name, good_config[:12],
                (good_source or "-")[:12])
    try:
        with context.layout.temporary() as temporary:
            config_dir = context.layout.config_checkout
            if good_config != target.config_commit:
                config_dir = checkouts.export(config_dir, context.config.config_repo.url,
                                            good_config, context.auth, Path(temporary))
            good_app = load_app(config_dir, config_dir / target.app.file)
            if good_app.source and good_source:
                checkouts.sync(context.layout.app_checkout(name), good_app.source.url,
                               good_source, context.auth)
            result = run_app(context, good_app, config_dir, good_config, good_source,
                              "rollback")
    except (GitError, ConfigError, OSError) as error:
        failed.message += f"; rollback impossible: {error}"
        return failed
    if not result.outcome.ok:
        failed.message += f"; the rollback failed too: {result.outcome.message}"
        return failed
    log.warning("%s: rolled back (run %s)", name, result.run_id)
    return replace(failed, state="rolled_back", last_attempt="rolled_back",
                   message=f"rolled back after: {failed.message}",
                   restored={"config_commit": good_config, "source_commit": good_source,
                             "run_id": result.run_id})
