"""state.json: the last result of every app on this host, written atomically."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
VERSION = 2  # 2: apps keep the inputs their last apply read (version 1 had a digest)


@dataclass
class AppRecord:
    """What the agent knows of one app after its last pass."""

    state: str
    message: str = ""
    source_commit: str | None = None
    config_commit: str | None = None
    started: str | None = None
    duration: float | None = None
    stats: dict[str, int] = field(default_factory=dict)
    failed_tasks: list[dict[str, str]] = field(default_factory=list)
    run_id: str | None = None
    last_attempt: str | None = None  # "ok" | "failed": how the app's last own run ended
    inputs: dict[str, Any] | None = None  # what the last successful apply read (plan.inputs)
    failed_inputs: dict[str, Any] | None = None  # rolled_back: what the failed attempt read
    good_source_commit: str | None = None
    good_config_commit: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)  # playbook, remove_playbook, vars
    restored: dict[str, Any] | None = None  # rolled_back: the good revisions re-applied
    suspended: dict[str, Any] | None = None  # suspended: reason, by, at
    drifted_tasks: list[str] = field(default_factory=list)  # drifted: tasks that would change

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppRecord:
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class State:
    apps: dict[str, AppRecord] = field(default_factory=dict)
    config_commit: str | None = None
    updated: str | None = None


def load_state(path: Path) -> State:
    """The saved state; a missing or corrupt file is an empty state (everything re-applies)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            log.warning("%s is from another version of the agent (format %s): what each app "
                        "read is not known, so every app is applied once", path,
                        data.get("version"))
        return State(
            apps={name: AppRecord.from_dict(record) for name, record in data["apps"].items()},
            config_commit=data.get("config_commit"),
            updated=data.get("updated"),
        )
    except FileNotFoundError:
        return State()
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as error:
        log.warning("%s is unreadable (%s): treating every app as unknown", path, error)
        return State()


def save_state(path: Path, state: State) -> None:
    """Write state.json through a temp file and os.replace: never half-written."""
    data = {
        "version": VERSION,
        "updated": state.updated,
        "config_commit": state.config_commit,
        "apps": {name: asdict(record) for name, record in sorted(state.apps.items())},
    }
    write_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
