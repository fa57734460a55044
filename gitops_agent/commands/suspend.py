"""`gitops-agent suspend APP --reason TEXT` / `resume APP`: pause one app on this host."""

from __future__ import annotations

import click

from gitops_agent.config import APP_NAME, AgentConfig
from gitops_agent.errors import ConfigError
from gitops_agent.layout import Layout
from gitops_agent.record import suspensions


def _layout(config: AgentConfig, app: str) -> Layout:
    if not APP_NAME.match(app):
        raise ConfigError(f"{app!r} is not an app name (it must match {APP_NAME.pattern})")
    layout = Layout(config.state_dir)
    layout.prepare()
    return layout


def suspend(config: AgentConfig, app: str, reason: str) -> int:
    if not reason.strip():
        raise ConfigError("--reason must say why (it goes into the report)")
    entry = suspensions.suspend(_layout(config, app).suspensions_file, app, reason.strip())
    click.echo(f"{app}: suspended by {entry['by']} at {entry['at']}; passes leave it alone "
               "and report it suspended until `gitops-agent resume`")
    return 0


def resume(config: AgentConfig, app: str) -> int:
    if suspensions.resume(_layout(config, app).suspensions_file, app):
        click.echo(f"{app}: resumed; the next pass reconciles it again")
    else:
        click.echo(f"{app}: was not suspended on this host")
    return 0
