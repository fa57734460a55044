"""A run's artifacts, bounded: events kept small in memory, each run's files capped on
disk, old runs rotated by count — never the current one, whatever the clock says."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

MAX_RUN_BYTES = 20 * 1024 * 1024  # one run's artifacts on disk
KEEP_STDOUT = 1024 * 1024  # of a capped run's stdout, the tail kept
MAX_EVENT_FILE = 256 * 1024  # a job event file larger than this is clipped
MAX_TEXT = 8 * 1024  # a string field of an event kept in memory
MAX_LINES = 100  # items of a *_lines list kept
CLIPPED = "[… clipped by gitops-agent …]"


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return f"{CLIPPED}{value[-MAX_TEXT:]}"
    if isinstance(value, list) and len(value) > MAX_LINES:
        return [CLIPPED, *value[-MAX_LINES:]]
    return value


def clip_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event with its bulky text (stdout, a result's stdout/stderr/msg) clipped."""
    event = {**event, "stdout": _clip(event.get("stdout", ""))}
    data = event.get("event_data")
    if isinstance(data, dict):
        data = {**data}
        result = data.get("res")
        if isinstance(result, dict):
            data["res"] = {key: _clip(value) for key, value in result.items()}
        event["event_data"] = data
    return event


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def cap(run: Path) -> None:
    """Keep one run's artifacts under MAX_RUN_BYTES: the stdout's tail, clipped events."""
    if not run.is_dir() or _size(run) <= MAX_RUN_BYTES:
        return
    stdout = run / "stdout"
    if stdout.is_file() and stdout.stat().st_size > KEEP_STDOUT:
        kept = tail(stdout, KEEP_STDOUT)
        stdout.write_text(f"{CLIPPED} (the run printed {stdout.stat().st_size} bytes)\n{kept}")
    for path in sorted((run / "job_events").glob("*.json")):
        if path.stat().st_size > MAX_EVENT_FILE:
            try:
                event = json.loads(path.read_text(encoding="utf-8", errors="replace"))
                path.write_text(json.dumps(clip_event(event)))
            except (ValueError, OSError):
                path.write_text(json.dumps({"stdout": CLIPPED}))


def rotate(artifacts: Path, keep: int, current: str) -> None:
    """Keep `current` and the newest other runs, `keep` runs in all. A clock step may
    reorder the others (they are ordered by modification time); the current run stays."""
    others = sorted((path for path in artifacts.iterdir()
                     if path.is_dir() and path.name != current),
                    key=lambda path: path.stat().st_mtime, reverse=True)
    for run in others[max(0, keep - 1):]:
        shutil.rmtree(run, ignore_errors=True)


def tail(path: Path, size: int) -> str:
    """The last `size` bytes of a file as text ("" when it does not exist)."""
    try:
        with path.open("rb") as stream:
            stream.seek(max(0, os.fstat(stream.fileno()).st_size - size))
            return stream.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
