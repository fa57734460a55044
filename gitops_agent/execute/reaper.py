"""End every process a playbook run started, also those that left its process group.

Each run's environment carries GITOPS_AGENT_RUN=<run id> and GITOPS_AGENT_STATE=<state
dir>; every process the run starts inherits them, through forks, setsid and double
forks alike (only a process that clears its environment sheds them). After a timeout,
SIGTERM or SIGINT the agent finds every process whose environment holds the run's
marker (in /proc) and ends it: SIGTERM, a grace period, then SIGKILL. A pass that takes
the lock also ends whatever an agent killed outright (SIGKILL, OOM) left running under
the same state dir: with the lock free, nothing of ours can still be at work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

log = logging.getLogger(__name__)
MARKER = "GITOPS_AGENT_RUN"
STATE_MARKER = "GITOPS_AGENT_STATE"
GRACE = 3.0  # seconds between SIGTERM and SIGKILL


def marked(value: str, name: str = MARKER) -> list[int]:
    """Pids of live processes whose environment carries `name`=`value`."""
    needle = b"\0" + f"{name}={value}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in b"\0" + (entry / "environ").read_bytes() and not _zombie(entry):
                found.append(int(entry.name))
        except OSError:  # gone already, or not ours to read
            continue
    return found


def _zombie(entry: Path) -> bool:
    text = (entry / "stat").read_text()
    return text[text.rindex(")") + 2:].startswith("Z")


def end_run(run_id: str) -> int:
    """End every process of run `run_id`; return how many there were."""
    return _end(run_id, MARKER, f"run {run_id[:12]}")


def end_stale(state_dir: str) -> int:
    """End every process an earlier, killed agent of `state_dir` left running."""
    return _end(state_dir, STATE_MARKER, "an agent that did not finish (killed?)")


def _end(value: str, name: str, whose: str) -> int:
    pids = marked(value, name)
    if not pids:
        return 0
    log.warning("ending %d process(es) left by %s", len(pids), whose)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline and marked(value, name):
        time.sleep(0.1)
    for pid in marked(value, name):
        _signal(pid, signal.SIGKILL)
    return len(pids)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)
