"""Apps suspended on this host by `gitops-agent suspend`: <state_dir>/suspended.json."""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from gitops_agent.clock import now_iso
from gitops_agent.errors import FatalError
from gitops_agent.record.state import write_atomically

log = logging.getLogger(__name__)


class Unreadable(FatalError):
    """suspended.json cannot be read: nothing may be taken as resumed."""


class EveryApp(dict):  # type: ignore[type-arg]
    """Fail closed: with the suspensions unknown, every app counts as suspended."""

    def __init__(self, entry: dict[str, Any]) -> None:
        super().__init__()
        self.entry = entry

    def get(self, key: object, default: object = None) -> Any:
        return self.entry

    def __contains__(self, key: object) -> bool:
        return True


def load(path: Path) -> dict[str, dict[str, Any]]:
    """{app: {reason, by, at}}; Unreadable when the file exists but cannot be trusted."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise Unreadable(f"{path} is unreadable ({error}): fix or remove it") from None
    if not isinstance(data, dict) or not all(
            isinstance(entry, dict) and all(isinstance(entry.get(key), str)
                                            for key in ("reason", "by", "at"))
            for entry in data.values()):
        raise Unreadable(f"{path} does not hold app -> {{reason, by, at}}: fix or remove it")
    return data


def load_failing_closed(path: Path) -> dict[str, dict[str, Any]]:
    """For a pass: an unreadable file suspends every app (a suspension is never lifted
    silently) and a copy is kept aside for the operator; the log says so each pass."""
    try:
        return load(path)
    except Unreadable as error:
        aside = path.with_name(path.name + ".unreadable")
        if not aside.exists():
            shutil.copy2(path, aside)
        log.error("%s; until then every app is left alone as suspended (a copy is in %s)",
                  error, aside)
        return EveryApp({"reason": f"{path.name} is unreadable: fix or remove it",
                         "by": "gitops-agent", "at": now_iso()})


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
