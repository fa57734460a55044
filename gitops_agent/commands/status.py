"""`gitops-agent status`: the last result of every app, from local state.

Exit 0 all ok; 1 an app failed, was blocked or rolled back, or the last pass failed
before any app (the config repo); 4 no pass within 2 x interval (stale). When both
apply, 1 wins (as in `fleet`): a failure is what needs a look first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime

import click

from gitops_agent.clock import parse_iso
from gitops_agent.config import AgentConfig
from gitops_agent.errors import EXIT_FAILED, EXIT_OK, EXIT_STALE
from gitops_agent.layout import Layout
from gitops_agent.plan.decide import FAILED_STATES
from gitops_agent.publish import report
from gitops_agent.record.state import State, load_state


def is_stale(state: State, window: float, now: datetime) -> bool:
    """No pass ended within `window` seconds (never one, or one that cannot be read)."""
    ended = parse_iso(state.last_pass) or parse_iso(state.updated)
    return ended is None or (now - ended).total_seconds() > window


def exit_code(state: State, stale: bool) -> int:
    if state.error or any(app.state in FAILED_STATES for app in state.apps.values()):
        return EXIT_FAILED
    return EXIT_STALE if stale else EXIT_OK


def status(config: AgentConfig, as_json: bool,
           now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    state = load_state(Layout(config.state_dir).state_file)
    window = 2 * config.interval
    stale = is_stale(state, window, now())
    document = report.build(config.host, state.updated or "", state.config_commit,
                            {name: asdict(record) for name, record in state.apps.items()},
                            state.error, config.labels, state.last_pass, state.wave)
    code = exit_code(state, stale)
    if as_json:
        click.echo(json.dumps({**document, "stale": stale}, indent=2))
        return code
    if not state.apps and not state.last_pass:
        click.echo(f"{config.host}: no results yet (run `gitops-agent run`)")
        return code
    commit = (state.config_commit or "")[:12]
    click.echo(f"{config.host}: config {commit}, last pass {state.last_pass or state.updated}")
    if stale:
        click.echo(f"  stale: no pass within {window}s (2 x interval): is the timer or "
                   "`gitops-agent watch` running?")
    if state.error:
        click.echo(f"  the last pass failed: {state.error}")
    if state.push_error:
        click.echo(f"  the report is not pushed yet (retried each pass): {state.push_error}")
    for name, app in document["apps"].items():
        source = (app.get("source_commit") or "")[:12] or "-"
        click.echo(f"  {name:<24} {app['state']:<11} source {source:<12} {app['message']}")
    return code
