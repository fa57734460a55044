"""Logging set-up: plain lines for a terminal, no duplicate timestamps under journald."""

from __future__ import annotations

import logging
import os
import sys


def setup(debug: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    if os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"):
        fmt = "%(levelname)s %(message)s"  # journald adds the time and the unit
    else:
        fmt = "%(asctime)s %(levelname)s %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt, datefmt="%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("git", "ansible_runner", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
