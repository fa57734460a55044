"""state.json: the last result of every app on this host, written atomically."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from gitops_agent.config.apps import APP_NAME

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
    failures: int = 0  # consecutive failed runs; the later ones on the same inputs
    retry_at: str | None = None  # held by its backoff until then (plan/backoff.py)
    last_success: str | None = None  # when an apply last ended `applied` (UTC, ISO 8601)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AppRecord:
        """A record from state.json; ValueError names the first field of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("not a mapping")
        values = {key: value for key, value in data.items() if key in _TYPES}
        for key, value in values.items():
            if not isinstance(value, _TYPES[key]):
                raise ValueError(f"field {key} is a {type(value).__name__}")
        if "state" not in values:
            raise ValueError("no state")
        return cls(**values)


def _python_types(hint: Any) -> tuple[type, ...]:
    """The isinstance() types of a field annotation such as `dict[str, Any] | None`."""
    found: list[type] = []
    for part in get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,):
        origin = get_origin(part) or part
        if origin is type(None):
            found.append(type(None))
        elif origin is float:
            found += [float, int]
        elif isinstance(origin, type):
            found.append(origin)
    return tuple(found)


_TYPES = {name: _python_types(hint) for name, hint in get_type_hints(AppRecord).items()}


@dataclass
class State:
    apps: dict[str, AppRecord] = field(default_factory=dict)
    config_commit: str | None = None
    updated: str | None = None  # when the last pass that got through finished
    error: str | None = None  # why the last pass failed before any app (the config repo)
    push_error: str | None = None  # why the last report was not pushed (retried each pass)
    last_pass: str | None = None  # when the last pass ended, also one that failed early
    wave: str | None = None  # this host's rollout wave (fleet.yml), for the report
    # the config commit (and pending source commits) the earlier waves released this
    # host for: the gate is not asked again for them (plan/rollout.py)
    released: dict[str, Any] | None = None


def load_state(path: Path, quarantine: bool = False) -> State:
    """The saved state. A file that cannot be read starts an empty state (with
    `quarantine`, as a pass does, it is moved aside to state.json.unreadable); a record
    that cannot be read is dropped. The log says so, and the apps concerned are applied
    again: nothing is trusted half-read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("apps"), dict):
            raise ValueError("no apps mapping")
    except FileNotFoundError:
        return State()
    except (ValueError, OSError, UnicodeDecodeError) as error:
        aside = path.with_name(path.name + ".unreadable")
        if quarantine:
            with contextlib.suppress(OSError):
                os.replace(path, aside)
        log.warning("%s is unreadable (%s)%s: every app is applied again", path, error,
                    f"; kept aside as {aside.name}" if quarantine else "")
        return State()
    if data.get("version") != VERSION:
        log.warning("%s is from another version of the agent (format %s): what each app "
                    "read is not known, so every app is applied once", path,
                    data.get("version"))
    apps: dict[str, AppRecord] = {}
    for name, record in data["apps"].items():
        if not isinstance(name, str) or not APP_NAME.match(name):
            log.warning("%s: %r is not an app name: its record is ignored", path, name)
            continue
        try:
            apps[str(name)] = AppRecord.from_dict(record)
        except (ValueError, TypeError) as error:
            log.warning("%s: the state of app %s is unreadable (%s): it is applied again",
                        path, name, error)
    commit, updated = data.get("config_commit"), data.get("updated")
    failure, unpushed = data.get("error"), data.get("push_error")
    last_pass, wave, released = data.get("last_pass"), data.get("wave"), data.get("released")
    return State(apps=apps, config_commit=commit if isinstance(commit, str) else None,
                 updated=updated if isinstance(updated, str) else None,
                 error=failure if isinstance(failure, str) else None,
                 push_error=unpushed if isinstance(unpushed, str) else None,
                 last_pass=last_pass if isinstance(last_pass, str) else None,
                 wave=wave if isinstance(wave, str) else None,
                 released=released if isinstance(released, dict) else None)


def save_state(path: Path, state: State) -> None:
    """Write state.json through a temp file and os.replace: never half-written."""
    data = {
        "version": VERSION,
        "updated": state.updated,
        "last_pass": state.last_pass,
        "config_commit": state.config_commit,
        "error": state.error,
        "push_error": state.push_error,
        "wave": state.wave,
        "released": state.released,
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
