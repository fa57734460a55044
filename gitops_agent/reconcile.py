"""One reconcile pass: config repo -> plan -> ansible-runner -> state -> status report."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gitops_agent import (
    __version__,
    git,
    inputs,
    lock,
    plan,
    removal,
    report,
    scheduler,
    schema,
    sources,
    status,
    suspensions,
)
from gitops_agent.apply import Context, Target, apply, check_drift, spec_of
from gitops_agent.config import (
    SCHEMA_CACHE,
    AgentConfig,
    App,
    AppSet,
    dependency_problems,
    load_apps,
)
from gitops_agent.errors import (
    EXIT_BAD_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    ConfigError,
    FatalError,
    GitError,
)
from gitops_agent.layout import Layout
from gitops_agent.runner import now_iso
from gitops_agent.state import AppRecord, State, load_state, save_state

log = logging.getLogger(__name__)
Remotes = dict[str, dict[str, str] | GitError]
FAILED = ("failed", "blocked", "rolled_back")  # states that fail the pass and block dependents


@dataclass
class Options:
    only: tuple[str, ...] = ()  # --app: reconcile just these
    force: bool = False
    push: bool = True
    show_output: bool = False
    check: bool = False  # check mode: nothing is recorded or pushed
    drift_check: bool = False  # check unchanged apps for drift (self-heal if asked)
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


class Pass:
    def __init__(self, config: AgentConfig, options: Options) -> None:
        self.config = config
        self.options = options
        self.layout = Layout(config.state_dir)
        self.auth = git.Auth(config.config_repo.ssh_key, config.config_repo.known_hosts)
        self.context = Context(config, self.layout, self.auth, options.show_output,
                               options.check, options.diff, options.cancel)
        self.records: dict[str, AppRecord] = {}
        self.edited: list[str] = []
        self.saving = threading.Lock()
        self.suspended = suspensions.load(self.layout.suspensions_file)

    def run(self) -> PassResult:
        self.auth.check()
        self.layout.prepare()
        with lock.hold(self.layout.lock_file):
            state = load_state(self.layout.state_file)
            return self._run_locked(state)

    def _urls(self, state: State) -> set[str]:
        urls = {self.config.config_repo.url}
        if self._pushing():
            urls.add(self.config.status.url)
        return urls | {record.spec["source_url"] for record in state.apps.values()
                       if record.spec.get("source_url")}

    def _pushing(self) -> bool:
        return self.config.status.enabled and self.options.push and not self.options.check

    def _config_commit(self, remotes: Remotes) -> str:
        repo = self.config.config_repo
        refs = remotes[repo.url]
        if isinstance(refs, GitError):
            raise FatalError(f"cannot reach the config repo {repo.url}: {refs}")
        sha = refs.get(f"refs/heads/{repo.branch}")
        if sha is None:
            raise FatalError(f"the config repo {repo.url} has no branch {repo.branch!r}")
        return sha

    def _run_locked(self, state: State) -> PassResult:
        remotes = sources.list_remotes(self._urls(state), self.auth)
        sha = self._config_commit(remotes)
        checkout = self.layout.config_checkout
        repo = self.config.config_repo
        sources.fetch_commit(checkout, repo.url, sha, self.auth, f"refs/heads/{repo.branch}")
        if repo.allowed_signers:
            reason = git.verify_commit(checkout, sha, repo.allowed_signers)
            if reason is not None:
                return self._refuse_unsigned(state, sha, reason, remotes)
        self.edited = sources.place(checkout, sha)  # local edits discarded from it
        appset = load_apps(checkout, self.config.host, self.config.labels)
        for name, problem in dependency_problems(appset.apps, appset.known).items():
            appset.invalid[name] = f"{appset.apps.pop(name).file}: {problem}"
        selected = self._select(appset)
        wanted = {app.source.url for app in selected.values()
                  if app.source and not git.FULL_SHA.match(app.source.ref)}
        remotes.update(sources.list_remotes(wanted - set(remotes), self.auth))
        targets = self._targets(selected, state, sha, remotes)
        for name, problem in appset.invalid.items():
            log.error("%s", problem)
            if not self.options.only or name in self.options.only:
                self._record(state, name, self._invalid_record(state.apps.get(name), sha, problem))
        scheduler.run_in_order(
            {name: app.depends_on for name, app in selected.items()},
            job=lambda name: self._job(state, targets[name]),
            blocked=lambda name, dependency: self._record(state, name, replace(
                state.apps.get(name) or AppRecord(state="blocked"), state="blocked",
                config_commit=sha, spec=spec_of(selected[name]),
                message=f"not attempted: dependency {dependency} failed")),
            workers=self.config.runner.workers,
            stop=self.options.cancel.is_set,
            already_failed=appset.invalid,
        )
        if not self.options.only and not self.options.check:
            self._remove(state, plan.to_remove(state.apps, appset.apps, appset.invalid), sha)
        return self._finish(state, sha, appset, remotes)

    def _select(self, appset: AppSet) -> dict[str, App]:
        unknown = [name for name in self.options.only
                   if name not in appset.apps and name not in appset.invalid]
        if unknown:
            raise ConfigError(f"no app named {', '.join(unknown)} selects host "
                              f"{self.config.host} in the config repo")
        if not self.options.only:
            return appset.apps
        return {name: app for name, app in appset.apps.items() if name in self.options.only}

    def _targets(self, apps: dict[str, App], state: State, sha: str,
                 remotes: Remotes) -> dict[str, Target]:
        checkout = self.layout.config_checkout
        entries = git.tree_entries(checkout, sha)

        def target(app: App) -> Target:
            commit, error = self._source_commit(app, remotes)
            facts = {"app": app.name, "host": self.config.host, "labels": self.config.labels,
                     "source_commit": commit, "agent": __version__}
            patterns = inputs.app_patterns(checkout, app, self.config.host)
            digest = inputs.app_digest(entries, patterns, facts)
            current = commit is None or sources.is_current(
                self.layout.app_checkout(app.name), commit)
            forced = self.options.force or self.options.check
            reason = plan.apply_reason(state.apps.get(app.name), digest, current, forced)
            if reason is None and any(inputs.uses(patterns, path) for path in self.edited):
                reason = "its files were edited in the agent's config checkout"
            return Target(app, sha, digest, commit, reason, error)

        with ThreadPoolExecutor(max_workers=4) as pool:
            return dict(zip(apps, pool.map(target, apps.values()), strict=True))

    def _source_commit(self, app: App, remotes: Remotes) -> tuple[str | None, str | None]:
        if app.source is None:
            return None, None
        url, ref = app.source.url, app.source.ref
        if git.FULL_SHA.match(ref):
            return ref, None
        refs = remotes.get(url)
        if isinstance(refs, GitError):
            return None, f"cannot reach the source repo {url}: {refs}"
        sha = sources.resolve_ref(refs or {}, ref)
        if sha is None and git.SHORT_SHA.match(ref):
            try:
                sha = sources.resolve_short_sha(self.layout.app_checkout(app.name), url, ref,
                                                self.auth)
            except GitError as error:
                return None, str(error)
        if sha is None:
            return None, f"ref {ref!r} is neither a branch, a tag nor a commit of {url}"
        return sha, None

    def _job(self, state: State, target: Target) -> bool:
        name = target.app.name
        previous = state.apps.get(name)
        suspension = self.suspended.get(name) or (
            {"reason": f"suspend: true in {target.app.file}", "by": "config repo",
             "at": target.config_commit} if target.app.suspend else None)
        if suspension:
            record = replace(previous or AppRecord(state="suspended"), state="suspended",
                             message=f"suspended by {suspension['by']}: {suspension['reason']}",
                             suspended=suspension, spec=spec_of(target.app))
        elif (target.reason is None and target.error is None and previous is not None
              and self.options.drift_check and previous.state != "rolled_back"):
            record = self._drift(target, previous)
        elif target.reason is None and target.error is None and previous is not None:
            record = replace(previous, state=plan.unchanged_state(previous))
            if previous.state in ("applied", "suspended"):
                record.message = f"no change since the last apply ({previous.message})"
                record.suspended = None
        else:
            record = apply(self.context, target, previous)
        ran = record.run_id != (previous.run_id if previous else None)
        self._record(state, name, record, durable=ran)
        return record.state not in FAILED

    def _drift(self, target: Target, previous: AppRecord) -> AppRecord:
        tasks, problem = check_drift(self.context, target)
        if problem:
            return replace(previous, state="unchanged", message=problem, drifted_tasks=[])
        if not tasks:
            return replace(previous, state="unchanged", drifted_tasks=[],
                           message="no drift: a check-mode run found nothing to change")
        heal = target.app.self_heal if target.app.self_heal is not None \
            else self.config.self_heal
        names = ", ".join(tasks[:5]) + (" …" if len(tasks) > 5 else "")
        if heal:
            log.warning("%s: drift in %s: self-healing", target.app.name, names)
            return apply(self.context, replace(target, reason=f"self-heal: drift in {names}"),
                         previous)
        log.warning("%s: drifted: %s", target.app.name, names)
        return replace(previous, state="drifted", drifted_tasks=tasks,
                       message=f"drift: {len(tasks)} task(s) would change: {names}")

    def _remove(self, state: State, names: list[str], sha: str) -> None:
        for name in names:
            if self.options.cancel.is_set():
                return
            record = removal.remove(self.context, name, state.apps[name], sha)
            with self.saving:
                self.records[name] = record
                if record.state == "removed":
                    del state.apps[name]
                else:
                    state.apps[name] = record
                save_state(self.layout.state_file, state)

    def _invalid_record(self, previous: AppRecord | None, sha: str, problem: str) -> AppRecord:
        return replace(previous or AppRecord(state="failed"), state="failed",
                       config_commit=sha, message=f"invalid app file: {problem}",
                       failed_tasks=[])

    def _record(self, state: State, name: str, record: AppRecord, durable: bool = True) -> None:
        """Keep an app's result; results of real work are saved at once (crash safety),
        the rest with the pass's final save."""
        with self.saving:
            self.records[name] = record
            if not self.options.check:
                state.apps[name] = record
                if durable:
                    save_state(self.layout.state_file, state)

    def _refuse_unsigned(self, state: State, sha: str, reason: str,
                         remotes: Remotes) -> PassResult:
        log.error("config commit %s failed signature verification: %s", sha[:12], reason)
        for name, previous in list(state.apps.items()):
            self._record(state, name, replace(
                previous, state="blocked",
                message=f"config commit {sha[:12]} is not signed by an allowed key: {reason}"))
        document = self._document(state, state.config_commit)
        pushed = self._publish(document, remotes)
        return PassResult(EXIT_FAILED, state.config_commit, self.records, {}, pushed)

    def _document(self, state: State, sha: str | None) -> dict[str, Any]:
        apps = {name: asdict(record) for name, record in state.apps.items()}
        apps.update({name: asdict(record) for name, record in self.records.items()})
        return report.build(self.config.host, now_iso(), sha, apps)

    def _finish(self, state: State, sha: str, appset: AppSet, remotes: Remotes) -> PassResult:
        pushed = None
        if not self.options.check:
            state.config_commit, state.updated = sha, now_iso()
            save_state(self.layout.state_file, state)
            schema.save_known_valid(self.layout.root / SCHEMA_CACHE)
            pushed = self._publish(self._document(state, sha), remotes)
        invalid = {name: problem for name, problem in appset.invalid.items()
                   if not self.options.only or name in self.options.only}
        if invalid:
            code = EXIT_BAD_CONFIG
        elif any(record.state in FAILED for record in self.records.values()):
            code = EXIT_FAILED
        else:
            code = EXIT_OK
        watch = {name: app.watch for name, app in appset.apps.items() if app.watch}
        return PassResult(code, sha, self.records, invalid, pushed, watch)

    def _publish(self, document: dict[str, Any], remotes: Remotes) -> bool | None:
        """Push the report; a failure is a warning and never changes the pass's result."""
        if not self._pushing():
            return None
        target = self.config.status
        refs = remotes.get(target.url)
        tip: str | bool | None = refs.get(f"refs/heads/{target.branch}") \
            if isinstance(refs, dict) else False
        try:
            return status.publish(self.layout.status_repo, target.url, target.branch,
                                  self.auth, self.config.host, document, tip)
        except GitError as error:
            log.warning("status report not pushed (kept in state, pushed on a later pass): %s",
                        error)
            return None
