"""Apps suspended on this host by `gitops-agent suspend`: <state_dir>/suspended.json."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any

from gitops_agent.clock import now_iso
from gitops_agent.record.state import write_atomically


def load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def _who() -> str:
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return f"{user}@{os.uname().nodename}"


def suspend(path: Path, app: str, reason: str) -> dict[str, Any]:
    entries = load(path)
    entries[app] = {"reason": reason, "by": _who(), "at": now_iso()}
    write_atomically(path, json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return entries[app]


def resume(path: Path, app: str) -> bool:
    entries = load(path)
    if app not in entries:
        return False
    del entries[app]
    write_atomically(path, json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return True
