"""Apply one app: put its source in place, run its playbook, turn the run into a record."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitops_agent import git, runner, sources
from gitops_agent.config import AgentConfig, App
from gitops_agent.errors import GitError
from gitops_agent.layout import Layout
from gitops_agent.state import AppRecord

log = logging.getLogger(__name__)
DEPLOY_PLAYBOOK = runner.SHIPPED / "playbooks" / "deploy.yml"


@dataclass
class Target:
    """One app as this pass wants it: resolved source commit and inputs digest."""

    app: App
    config_commit: str
    digest: str
    source_commit: str | None = None
    reason: str | None = None  # why it must be applied; None: unchanged
    error: str | None = None  # could not even be planned (source unreachable, bad ref)


@dataclass
class Context:
    config: AgentConfig
    layout: Layout
    auth: git.Auth
    show_output: bool = False
    check: bool = False
    diff: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)


def spec_of(app: App) -> dict[str, Any]:
    """What the state keeps of an app file, to act on it once the file is gone."""
    return {
        "playbook": app.playbook,
        "remove_playbook": app.remove_playbook,
        "vars": app.vars,
        "source_url": app.source.url if app.source else None,
    }


def extravars(context: Context, target: Target) -> dict[str, Any]:
    app = target.app
    layout = context.layout
    values: dict[str, Any] = dict(app.vars)
    if app.deploy is not None:
        values["gitops_deploy"] = app.deploy
    values.update({
        "gitops_app": app.name,
        "gitops_host": context.config.host,
        "gitops_labels": dict(context.config.labels),
        "gitops_config_dir": str(layout.config_checkout),
        "gitops_config_commit": target.config_commit,
        "gitops_source_dir": str(layout.app_checkout(app.name)) if app.source else None,
        "gitops_source_commit": target.source_commit,
    })
    return values


def _playbook(context: Context, app: App) -> Path:
    if app.deploy is not None:
        return DEPLOY_PLAYBOOK
    return context.layout.config_checkout / str(app.playbook)


def _failed(previous: AppRecord | None, target: Target, message: str) -> AppRecord:
    base = previous or AppRecord(state="failed")
    return replace(base, state="failed", message=message, digest=target.digest,
                   source_commit=target.source_commit or base.source_commit,
                   config_commit=target.config_commit, failed_tasks=[],
                   spec=spec_of(target.app))


def apply(context: Context, target: Target, previous: AppRecord | None) -> AppRecord:
    """Run the app's playbook now and return its new record (never raises for a failure)."""
    app = target.app
    if target.error:
        return _failed(previous, target, target.error)
    if app.source and target.source_commit:
        try:
            sources.sync(context.layout.app_checkout(app.name), app.source.url,
                         target.source_commit, context.auth, what=app.source.ref)
        except GitError as error:
            return _failed(previous, target, f"source checkout failed: {error}")
    log.info("%s: applying (%s)", app.name, target.reason or "asked")
    result = runner.run_playbook(runner.RunRequest(
        app=app.name,
        playbook=_playbook(context, app),
        config_dir=context.layout.config_checkout,
        run_dir=context.layout.run_dir(app.name),
        host=context.config.host,
        extravars=extravars(context, target),
        timeout=app.timeout or context.config.runner.timeout,
        keep_artifacts=context.config.runner.keep_artifacts,
        vault_password_file=context.config.runner.vault_password_file,
        check=context.check,
        diff=context.diff,
        show_output=context.show_output,
        cancel=context.cancel,
        metadata={"config_commit": target.config_commit,
                  "source_commit": target.source_commit, "reason": target.reason},
    ))
    outcome = result.outcome
    log.log(logging.INFO if outcome.ok else logging.ERROR, "%s: %s — %s (run %s)", app.name,
            "applied" if outcome.ok else "failed", outcome.message, result.run_id)
    good = outcome.ok and not context.check
    base = previous or AppRecord(state="applied")
    return replace(
        base,
        state="applied" if outcome.ok else "failed",
        message=outcome.message,
        source_commit=target.source_commit,
        config_commit=target.config_commit,
        started=result.started,
        duration=result.duration,
        stats=outcome.stats,
        failed_tasks=outcome.failed_tasks,
        run_id=result.run_id,
        digest=target.digest,
        good_digest=target.digest if good else base.good_digest,
        good_source_commit=target.source_commit if good else base.good_source_commit,
        good_config_commit=target.config_commit if good else base.good_config_commit,
        spec=spec_of(app),
    )
