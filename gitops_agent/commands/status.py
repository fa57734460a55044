"""`gitops-agent status`: the last result of every app, from local state."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from gitops_agent.config import AgentConfig
from gitops_agent.layout import Layout
from gitops_agent.publish import report
from gitops_agent.record.state import load_state


def status(config: AgentConfig, as_json: bool) -> int:
    state = load_state(Layout(config.state_dir).state_file)
    document = report.build(config.host, state.updated or "", state.config_commit,
                            {name: asdict(record) for name, record in state.apps.items()},
                            state.error)
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return 0
    if not state.apps:
        click.echo(f"{config.host}: no results yet (run `gitops-agent run`)")
        return 0
    commit = (state.config_commit or "")[:12]
    click.echo(f"{config.host}: config {commit}, last pass {state.updated}")
    if state.error:
        click.echo(f"  the last pass failed: {state.error}")
    if state.push_error:
        click.echo(f"  the report is not pushed yet (retried each pass): {state.push_error}")
    for name, app in document["apps"].items():
        source = (app.get("source_commit") or "")[:12] or "-"
        click.echo(f"  {name:<24} {app['state']:<11} source {source:<12} {app['message']}")
    return 0
