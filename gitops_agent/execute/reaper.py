"""End every process a playbook run started, also those that left its process group.

Each run's environment carries GITOPS_AGENT_RUN=<run id>; every process the run starts
inherits it, through forks, setsid and double forks alike (only a process that clears
its environment sheds it). After a timeout, SIGTERM or SIGINT the agent finds every
process whose environment holds the marker (in /proc) and ends it: SIGTERM, a grace
period, then SIGKILL.
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
GRACE = 3.0  # seconds between SIGTERM and SIGKILL


def marked(run_id: str) -> list[int]:
    """Pids of live processes whose environment carries this run's marker."""
    needle = f"{MARKER}={run_id}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes() and not _zombie(entry):
                found.append(int(entry.name))
        except OSError:  # gone already, or not ours to read
            continue
    return found


def _zombie(entry: Path) -> bool:
    text = (entry / "stat").read_text()
    return text[text.rindex(")") + 2:].startswith("Z")


def end_run(run_id: str) -> int:
    """End every process of run `run_id`; return how many there were."""
    pids = marked(run_id)
    if not pids:
        return 0
    log.warning("ending %d process(es) left by run %s", len(pids), run_id[:12])
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline and marked(run_id):
        time.sleep(0.1)
    for pid in marked(run_id):
        _signal(pid, signal.SIGKILL)
    return len(pids)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)
