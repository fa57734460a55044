"""`gitops-agent suspend APP --reason TEXT` / `resume APP`: pause one app on this host."""

from __future__ import annotations

import click

from gitops_agent.config import APP_NAME, AgentConfig, load_apps
from gitops_agent.errors import ConfigError
from gitops_agent.layout import Layout
from gitops_agent.record import suspensions
from gitops_agent.record.state import load_state


def host_apps(config: AgentConfig, layout: Layout) -> set[str]:
    """The apps this host has: those state.json knows, and those the app files of the
    config checkout (as the last pass left it) select. Read only; no network."""
    names = set(load_state(layout.state_file).apps)
    if layout.config_checkout.is_dir():
        found = load_apps(layout.config_checkout, config.host, config.labels)
        names |= set(found.apps) | set(found.invalid)
    return {name for name in names if APP_NAME.match(name)}


def _layout(config: AgentConfig, app: str, also: set[str] | None = None) -> Layout:
    """The state dir's layout, once `app` is known to be one of this host's apps (or of
    `also`); else one line naming the apps it has (exit 2: nothing is written)."""
    if not APP_NAME.match(app):
        raise ConfigError(f"{app!r} is not an app name (it must match {APP_NAME.pattern})")
    layout = Layout(config.state_dir)
    known = host_apps(config, layout) | (also or set())
    if app not in known:
        has = f"it has: {', '.join(sorted(known))}" if known else \
            "it has none yet (no pass has run here)"
        raise ConfigError(f"host {config.host} has no app {app!r}; {has}")
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
    """An app suspended here can always be resumed, even once its app file is gone."""
    suspended = set(suspensions.load(Layout(config.state_dir).suspensions_file)) \
        if APP_NAME.match(app) else set()
    if suspensions.resume(_layout(config, app, suspended).suspensions_file, app):
        click.echo(f"{app}: resumed; the next pass reconciles it again")
    else:
        click.echo(f"{app}: was not suspended on this host")
    return 0
