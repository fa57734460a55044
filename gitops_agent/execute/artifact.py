"""A run's artifacts, bounded: events kept small in memory, each run's files capped on
disk, old runs rotated by count — never the current one, whatever the clock says, nor
the newest failed one (the cause of a failure outlives the retries that follow)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

SUMMARY = "gitops-run.json"  # the agent's fold of a run, beside runner's artifacts
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


def _failed(run: Path) -> bool:
    """Whether a kept run is a real run (not check mode) that failed."""
    try:
        summary = json.loads((run / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and not summary.get("check") and (
        summary.get("status") != "successful" or summary.get("rc") != 0)


def rotate(artifacts: Path, keep: int, current: str) -> None:
    """Keep `current` and the newest other runs, `keep` runs in all, and besides them the
    newest failed run when `current` is not a failure. A clock step may reorder the others
    (they are ordered by modification time); the current run stays."""
    others = sorted((path for path in artifacts.iterdir()
                     if path.is_dir() and path.name != current),
                    key=lambda path: path.stat().st_mtime, reverse=True)
    kept = set(others[:max(0, keep - 1)])
    if not _failed(artifacts / current):
        kept.update([run for run in others if _failed(run)][:1])
    for run in others:
        if run not in kept:
            shutil.rmtree(run, ignore_errors=True)


def command_line(run: Path) -> str:
    """The ansible-playbook command line ansible-runner ran (its `command` artifact, which
    also holds the environment: only the command is taken)."""
    try:
        command = json.loads((run / "command").read_text(encoding="utf-8")).get("command")
    except (OSError, ValueError, AttributeError):
        command = None
    if not isinstance(command, list):
        return "ansible-playbook (its command line was not recorded)"
    return shlex.join(str(part) for part in command)


def tail(path: Path, size: int) -> str:
    """The last `size` bytes of a file as text ("" when it does not exist)."""
    try:
        with path.open("rb") as stream:
            stream.seek(max(0, os.fstat(stream.fileno()).st_size - size))
            return stream.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
