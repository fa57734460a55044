"""Remove an app that left this host: its remove_playbook once, then its checkout and state."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

from gitops_agent.config import repo_file_problem
from gitops_agent.errors import GitError
from gitops_agent.execute import checkouts
from gitops_agent.execute.apply import Context, extravars, run_playbook
from gitops_agent.record.state import AppRecord

log = logging.getLogger(__name__)


def forget(context: Context, name: str) -> None:
    shutil.rmtree(context.layout.app_checkout(name), ignore_errors=True)
    shutil.rmtree(context.layout.run_dir(name), ignore_errors=True)
    context.layout.deploy_pending(name).unlink(missing_ok=True)
    context.layout.deploy_running(name).unlink(missing_ok=True)


def remove(context: Context, name: str, record: AppRecord, config_commit: str) -> AppRecord:
    """Run the app's remove_playbook (from the current config commit when it is still
    there, else from the last commit the app was applied from). Returns the `removed`
    record, or a `failed` one to keep (and retry) when the playbook fails."""
    playbook = record.spec.get("remove_playbook")
    if record.run_id is None and record.state == "waiting":  # a rollout gate held its first
        log.info("%s: no longer selects this host and was never applied: forgetting it", name)
        forget(context, name)
        return replace(record, state="removed", message="removed (it was never applied)")
    if not playbook:
        log.info("%s: no longer selects this host and has no remove_playbook: forgetting it",
                 name)
        forget(context, name)
        return replace(record, state="removed", message="removed (no remove_playbook to run)",
                       failed_tasks=[], restored=None)
    log.info("%s: no longer selects this host: running %s", name, playbook)
    with context.layout.temporary() as temporary:
        config_dir, commit = context.layout.config_checkout, config_commit
        if repo_file_problem(config_dir, playbook):
            commit = record.good_config_commit or record.config_commit or config_commit
            try:
                config_dir = checkouts.export(config_dir, context.config.config_repo.url,
                                            commit, context.auth, Path(temporary))
            except GitError as error:
                return _failed(record, f"cannot recover the remove playbook: {error}")
            if problem := repo_file_problem(config_dir, playbook):
                return _failed(record, f"remove playbook unavailable: {problem}")
        variables = extravars(context, name, record.spec.get("vars") or {}, config_dir, commit,
                              record.good_source_commit or record.source_commit,
                              bool(record.spec.get("source_url")))
        result = run_playbook(context, name, config_dir / playbook, config_dir, variables,
                              None, {"config_commit": commit, "reason": "remove"})
    outcome = result.outcome
    if not outcome.ok:
        log.error("%s: remove playbook failed: %s (run %s)", name, outcome.message,
                  result.run_id)
        return replace(_failed(record, f"remove playbook failed: {outcome.message}"),
                       started=result.started, duration=result.duration,
                       stats=outcome.stats, failed_tasks=outcome.failed_tasks,
                       run_id=result.run_id)
    forget(context, name)
    return replace(record, state="removed", message=f"removed: {outcome.message}",
                   started=result.started, duration=result.duration, stats=outcome.stats,
                   failed_tasks=[], run_id=result.run_id, restored=None)


def _failed(record: AppRecord, message: str) -> AppRecord:
    return replace(record, state="failed", message=message, failed_tasks=[],
                   spec={**record.spec, "removing": True})
