"""`gitops-agent watch` (the daemon) and `gitops-agent sync` (ask it for a pass now)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import click

from gitops_agent.config import AgentConfig
from gitops_agent.daemon.loop import Daemon
from gitops_agent.errors import FatalError
from gitops_agent.layout import Layout


def watch(config: AgentConfig) -> int:
    return Daemon(config.path, config).run()


def _is_our_daemon(pid: int, config: AgentConfig) -> bool:
    """Whether `pid` is a `gitops-agent watch` (its command line says so)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [os.fsdecode(word) for word in argv]
    return "watch" in words and any("gitops" in word for word in words)


def sync(config: AgentConfig) -> int:
    pid_file = Layout(config.state_dir).root / "watch.pid"
    try:
        pid = int(pid_file.read_text().strip())
        if not _is_our_daemon(pid, config):  # a stale pid file: that pid is someone else
            raise ProcessLookupError
        os.kill(pid, signal.SIGUSR1)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        raise FatalError(f"no gitops-agent watch is running for {config.state_dir} "
                         "(start it, or use `gitops-agent run`)") from None
    except PermissionError:
        raise FatalError(f"not allowed to signal the daemon (pid in {pid_file}): "
                         "run as its user") from None
    click.echo(f"asked the daemon (pid {pid}) for a pass now")
    return 0
