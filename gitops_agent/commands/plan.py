"""`gitops-agent plan`: observe read-only, plan, print the decisions (and with --check,
Ansible's check+diff for each app to apply). No checkout moves, no state is written."""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from gitops_agent import git
from gitops_agent.commands.run import cancel_on_signals
from gitops_agent.config import AgentConfig
from gitops_agent.errors import EXIT_CHANGES_PENDING, EXIT_FAILED, EXIT_OK, GitError
from gitops_agent.execute.apply import Context, put_source, run_app
from gitops_agent.execute.check_mode import changed_tasks, check_verdict
from gitops_agent.layout import Layout
from gitops_agent.observe import Observation
from gitops_agent.pass_ import preview
from gitops_agent.plan import APPLY, Plan


def _table(plan: Plan) -> list[dict[str, Any]]:
    rows = [{"app": name, "decision": decision.action, "reasons": list(decision.reasons)}
            for name, decision in sorted(plan.decisions.items())]
    rows += [{"app": name, "decision": "invalid", "reasons": [problem]}
             for name, problem in sorted(plan.invalid.items())]
    rows += [{"app": name, "decision": "remove", "reasons": ["no longer selects this host"]}
             for name in plan.remove]
    rows += [{"app": name, "decision": "wait", "reasons": [str(plan.held), "to be removed"]}
             for name in plan.waiting]
    return rows


def _check(config: AgentConfig, observation: Observation, plan: Plan, scratch: Path,
           row: dict[str, Any], cancel: threading.Event) -> None:
    """Run one app to apply in check+diff mode from scratch copies of its revisions."""
    name = row["app"]
    app, view = observation.selected[name], observation.apps[name]
    auth = git.Auth(config.config_repo.ssh_key, config.config_repo.known_hosts)
    context = Context(config, Layout(scratch / "state"), auth,  # plan writes no artifacts
                      show_output=not row.get("quiet"), check=True, diff=True, cancel=cancel,
                      view=observation.config, scratch=scratch)
    try:
        put_source(context, app, view.source_commit)
    except GitError as error:
        row["check"] = {"error": f"cannot get the source: {error}"}
        return
    result = run_app(context, app, observation.config.directory, plan.commit,
                     view.source_commit, "plan --check")
    outcome = result.outcome
    state, message = check_verdict(outcome)
    row["check"] = {"ok": outcome.ok, "state": state, "would_change": changed_tasks(outcome),
                    "message": message}


def plan(config: AgentConfig, apps: tuple[str, ...], check: bool, as_json: bool) -> int:
    cancel = threading.Event()
    cancel_on_signals(cancel)
    with tempfile.TemporaryDirectory(prefix="gitops-agent-plan-") as temporary:
        scratch = Path(temporary)
        observation, decided, _ = preview(config, apps, scratch)
        rows = _table(decided)
        if check:
            for row in rows:
                if row["decision"] == APPLY and not cancel.is_set():
                    row["quiet"] = as_json
                    _check(config, observation, decided, scratch, row, cancel)
                    row.pop("quiet")
    if as_json:
        click.echo(json.dumps({"host": config.host, "config_commit": decided.commit,
                               "refused": decided.refused, "held": decided.held,
                               "apps": rows}, indent=2))
    else:
        _print(decided, rows)
    failed_checks = any(not row.get("check", {}).get("ok", True) for row in rows)
    if observation.rules_error:  # `run` would exit 2 and apply nothing
        click.echo(f"fleet.yml is invalid: {observation.rules_error}", err=True)
        return EXIT_FAILED
    if decided.errors or failed_checks:
        return EXIT_FAILED
    return EXIT_CHANGES_PENDING if decided.pending else EXIT_OK


def _print(decided: Plan, rows: list[dict[str, Any]]) -> None:
    click.echo(f"config {decided.commit[:12]}"
               + (f": refused: {decided.refused}" if decided.refused else "")
               + (f": held: {decided.held}" if decided.held else ""))
    if not rows:
        click.echo("no apps select this host")
    for row in rows:
        reason = "; ".join(row["reasons"]) or "-"
        click.echo(f"  {row['app']:<24} {row['decision']:<10} {reason}")
        result = row.get("check")
        if result is None:
            continue
        if "error" in result or not result["ok"]:
            click.echo(f"  {'':<24} {'check':<10} cannot tell: "
                       f"{result.get('error') or result['message']}")
        else:
            click.echo(f"  {'':<24} {'check':<10} {result['message']}")
    if not decided.pending and not decided.errors and not decided.held:
        click.echo("nothing to do")
