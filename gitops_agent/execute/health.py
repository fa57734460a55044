"""An app's health command after an apply: argv (no shell), retries with a delay."""

from __future__ import annotations

import logging
import threading

from gitops_agent.config import Health
from gitops_agent.execute import proc

log = logging.getLogger(__name__)
COMMAND_TIMEOUT = 60.0


def check(app: str, health: Health, cancel: threading.Event) -> str | None:
    """None when the command succeeds within its tries, else why it did not (last try)."""
    reason = "not run"
    for attempt in range(health.retries + 1):
        done = proc.run(health.command, timeout=COMMAND_TIMEOUT)
        if done.rc == 0:
            return None
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-2:])[:200]
        reason = f"{health.command[0]} exited {done.rc}" + (f": {tail}" if tail else "")
        log.info("%s: health check %d/%d failed: %s", app, attempt + 1, health.retries + 1,
                 reason)
        if attempt < health.retries and cancel.wait(health.delay):
            return "canceled while checking health"
    return f"health check failed after {health.retries + 1} tries: {reason}"
