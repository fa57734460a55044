"""`gitops-agent setup --uninstall [--purge]`: the units stopped and removed; with
--purge the config (and deploy key) and the state too. install/install.sh --uninstall
calls it, then removes the venv."""

from __future__ import annotations

import click

from gitops_agent.setup import service, units
from gitops_agent.setup.changes import Changes
from gitops_agent.setup.paths import STATE_DIR, Host


def uninstall(changes: Changes, host: Host, purge: bool) -> None:
    removed = units.remove(changes, host, list(units.ALL_UNITS))
    if removed:
        service.reload(changes, host)
    for directory in (host.config_dir, host.path(STATE_DIR)):
        if purge:
            removed = changes.remove(directory) or removed
        elif directory.exists():
            changes.say("kept", f"{directory} (--purge removes it)")
    if not removed and not changes.made:
        click.echo("gitops-agent is not set up here: nothing to remove.")
    elif purge and not changes.dry_run:
        click.echo("Also delete this host's deploy key on your git host(s).")
