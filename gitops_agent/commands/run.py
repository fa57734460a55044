"""`gitops-agent run` and `run-playbook`: one reconcile pass."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from gitops_agent import git
from gitops_agent.config import AgentConfig
from gitops_agent.execute.check_mode import LABELS
from gitops_agent.layout import Layout
from gitops_agent.pass_ import BY_HAND, Options, Pass, PassResult


def cancel_on_signals(cancel: threading.Event) -> None:
    """SIGTERM/SIGINT cancel the running playbook through ansible-runner; the pass then ends."""

    def handler(signum: int, frame: FrameType | None) -> None:
        cancel.set()
        git.stop()  # a git call that hangs (a dead remote) ends at once too

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


QUIET = ("unchanged", "waiting", "suspended", "blocked")  # no run of theirs in this pass


def print_result(result: PassResult) -> None:
    for name, record in sorted(result.records.items()):
        run = f" (run {record.run_id[:12]})" if record.run_id and record.state not in QUIET \
            else ""
        label = LABELS.get(record.state, record.state)
        click.echo(f"{name:<24} {label:<12} {record.message}{run}")
    if not result.records:
        click.echo("no apps select this host")


def print_json(result: PassResult, exit_code: int, check: bool = False) -> None:
    """The pass as one JSON document (`--json`): what each app did, and the exit code;
    with `check`, `check: true` and each app's `would_change` tasks too (its state is
    would_change, no_change or failed: check mode applies nothing)."""
    apps: dict[str, dict[str, Any]] = {}
    for name, record in sorted(result.records.items()):
        apps[name] = {"state": record.state, "message": record.message,
                      "run_id": record.run_id}
        if check:
            apps[name]["would_change"] = record.drifted_tasks
    document = {"exit_code": exit_code, "config_commit": result.config_commit, "apps": apps,
                "invalid": result.invalid, "pushed": result.pushed}
    if check:
        document["check"] = True
    click.echo(json.dumps(document, indent=2))


def run(config: AgentConfig, apps: tuple[str, ...], force: bool, push: bool,
        drift_check: bool = False, allow_rewind: bool = False, as_json: bool = False) -> int:
    options = Options(only=apps, force=force, push=push, drift_check=drift_check,
                      allow_rewind=allow_rewind)
    cancel_on_signals(options.cancel)
    result = Pass(config, options).run()
    if as_json:
        print_json(result, result.exit_code)
    else:
        print_result(result)
    return result.exit_code


def run_playbook(config: AgentConfig, app: str, check: bool, diff: bool,
                 as_json: bool = False) -> int:
    """With `as_json`, Ansible's output is not shown (stdout is the document); the run's
    artifacts keep it (`gitops-agent artifacts APP RUN_ID`)."""
    with contextlib.ExitStack() as stack:
        scratch = None
        if check:  # check mode reads copies of the revisions: no checkout of the agent moves
            scratch = Path(stack.enter_context(Layout(config.state_dir).temporary()))
        options = Options(only=(app,), force=True, forced_by=BY_HAND,
                          show_output=not as_json, check=check, diff=diff, scratch=scratch)
        cancel_on_signals(options.cancel)
        result = Pass(config, options).run()
    if result.overridden:
        click.echo(f"run-playbook overrides the rollout rules: {result.overridden}", err=True)
    code = 1 if result.exit_code else 0
    if as_json:
        print_json(result, code, check)
    else:
        print_result(result)
    return code
