"""The systemd unit files of the mode chosen — daemon (`gitops-agent.service`) or timer
(`gitops-agent-run.service` + `.timer`) — copied from the ones the package ships
(install/systemd/), the other mode's removed, checked with `systemd-analyze verify`."""

from __future__ import annotations

import shutil
from importlib import resources

import click

from gitops_agent.errors import FatalError
from gitops_agent.execute import proc
from gitops_agent.record.state import write_atomically
from gitops_agent.setup import service
from gitops_agent.setup.changes import Changes
from gitops_agent.setup.paths import AGENT, Host

UNITS = {"daemon": ("gitops-agent.service",),
         "timer": ("gitops-agent-run.service", "gitops-agent-run.timer")}
ALL_UNITS = tuple(unit for units in UNITS.values() for unit in units)


def installed_mode(host: Host) -> str | None:
    """The mode whose units are there (a re-run without --mode stays in it)."""
    if (host.unit_dir / "gitops-agent.service").exists():
        return "daemon"
    if (host.unit_dir / "gitops-agent-run.timer").exists():
        return "timer"
    return None


def text(unit: str) -> str:
    return resources.files(__package__).joinpath("systemd", unit).read_text(encoding="utf-8")


def install(changes: Changes, host: Host, mode: str) -> bool:
    """The units of `mode` as shipped and checked with `systemd-analyze verify`, then the
    other mode's gone; True when any changed. Units verify rejects are taken back out (the
    ones before them put back), so a re-run checks them again and nothing is started."""
    changes.directory(host.unit_dir, 0o755)
    paths = [host.unit_dir / unit for unit in UNITS[mode]]
    before = {path: path.read_text(encoding="utf-8") if path.is_file() else None
              for path in paths}
    changed = False
    for path in paths:
        changed = changes.file(path, text(path.name), 0o644) or changed
    if changed:
        try:
            verify(changes, host, mode)
        except FatalError:
            for path, old in before.items():
                if old is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomically(path, old, mode=0o644)
            raise
    others = [unit for unit in ALL_UNITS if unit not in UNITS[mode]]
    return remove(changes, host, others) or changed


def remove(changes: Changes, host: Host, units: list[str]) -> bool:
    """Stop, disable and delete `units` where present; True when any was."""
    removed = False
    for unit in units:
        path = host.unit_dir / unit
        if not path.exists():
            continue
        if host.systemd_running and not changes.dry_run:
            service.systemctl("disable", "--now", unit, check=False)
        changes.remove(path)
        for link in host.unit_dir.glob(f"*.wants/{unit}"):
            changes.remove(link)
        removed = True
    return removed


def verify(changes: Changes, host: Host, mode: str) -> None:
    """`systemd-analyze verify` of the installed units: against this system, or the root
    when it is a whole system (it looks for ExecStart's program and the targets there)."""
    tool = shutil.which("systemd-analyze")
    paths = [str(host.unit_dir / unit) for unit in UNITS[mode]]
    if tool is None:
        changes.say("skipped", "systemd-analyze verify: systemd-analyze is not installed")
        return
    if changes.dry_run:
        changes.say("would check", "the units with systemd-analyze verify")
        return
    options = ["--man=no"]
    if host.root is not None:
        if not (host.path("/usr/lib/systemd/system") / "multi-user.target").exists():
            changes.say("skipped", f"systemd-analyze verify: {host.root} is not a whole system "
                                   "(verify the units where they run)")
            return
        options.append(f"--root={host.root}")
    if not host.path(AGENT).exists():
        click.echo(f"gitops-agent: warning: the units run {AGENT}, which is not there: "
                   "install the agent with install/install.sh", err=True)
    done = proc.run([tool, "verify", *options, *paths], timeout=120)
    said = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    if done.rc != 0:
        raise FatalError(f"systemd-analyze verify failed for {', '.join(UNITS[mode])} (not "
                         f"installed): {(said or [f'exit {done.rc}'])[-1]}")
    changes.say("checked", f"{', '.join(UNITS[mode])} with systemd-analyze verify")
    for line in said:
        click.echo(f"gitops-agent: warning: systemd-analyze verify: {line}", err=True)
