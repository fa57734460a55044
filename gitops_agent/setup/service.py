"""systemctl: the agent enabled and started once it can reach its config repo — or, when
systemd is not PID 1 here or a --root was given, the commands to run for it."""

from __future__ import annotations

import click

from gitops_agent.errors import FatalError
from gitops_agent.execute import proc
from gitops_agent.setup.changes import Changes
from gitops_agent.setup.paths import Host

START = {"daemon": "gitops-agent.service", "timer": "gitops-agent-run.timer"}


def systemctl(*args: str, check: bool = True) -> proc.Completed:
    done = proc.run(["systemctl", *args], timeout=300)
    if check and done.rc != 0:
        raise FatalError(f"systemctl {' '.join(args)} failed (exit {done.rc}): "
                         f"{done.last_line()}")
    return done


def reload(changes: Changes, host: Host) -> None:
    """Tell systemd the unit files changed."""
    if host.systemd_running and changes.change("reloaded", "systemd (systemctl daemon-reload)"):
        systemctl("daemon-reload")


def start(changes: Changes, host: Host, mode: str, restart: bool) -> None:
    """The mode's unit enabled and running; the daemon restarted when `restart` (its unit
    or the agent changed under it)."""
    unit = START[mode]
    if not host.systemd_running:
        _print_commands(host, unit)
        return
    enabled = systemctl("is-enabled", "--quiet", unit, check=False).rc == 0
    active = systemctl("is-active", "--quiet", unit, check=False).rc == 0
    if not (enabled and active):
        if changes.change("started", f"{unit} (systemctl enable --now)"):
            systemctl("enable", "--now", unit)
    elif restart and mode == "daemon":
        if changes.change("restarted", unit):
            systemctl("restart", unit)
    else:
        changes.unchanged(f"{unit}: enabled and active")


def _print_commands(host: Host, unit: str) -> None:
    click.echo("")
    if host.root is not None:
        click.echo(f"Enable the agent in {host.root} (it starts when that system boots):")
        click.echo(f"  systemctl --root={host.root} enable {unit}")
    else:
        click.echo("systemd is not running here (not PID 1); on a systemd host, start the "
                   "agent with:")
        click.echo(f"  systemctl daemon-reload && systemctl enable --now {unit}")
