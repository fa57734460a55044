"""Pure fold of ansible-runner events into per-task results, stats and failed tasks.

Only allow-listed fields leave this module: task name, module, role, status, and
for failed tasks a short message (`msg`, `rc`, the tail of `stderr`, an OS error such
as a missing binary that Ansible named). Output of `no_log` tasks is replaced, never
read. A run that failed without a failed task says why from Ansible's first error line
(diagnose.py); a run killed at its timeout names the task that was running.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from gitops_agent.execute.diagnose import error_line, os_error

HIDDEN = "output hidden by no_log"
MESSAGE_LIMIT = 500
RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


@dataclass(frozen=True)
class TaskResult:
    task: str
    module: str
    role: str | None
    host: str
    status: str  # ok | changed | failed | ignored | rescued | skipped | unreachable
    msg: str | None = None
    duration: float | None = None


@dataclass
class Outcome:
    """The verdict of one playbook run, fit for the report."""

    status: str  # successful | failed | timeout | canceled
    rc: int
    stats: dict[str, int] = field(default_factory=dict)
    tasks: list[TaskResult] = field(default_factory=list)
    failed_tasks: list[dict[str, str]] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


def _clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_message(result: Any, printed: str = "") -> str:
    """A short message from a failed result, taking only msg, rc and the stderr tail, and
    an OS error (a missing binary) from what Ansible `printed` of the failure."""
    if not isinstance(result, dict):
        return "failed"
    if "censored" in result or result.get("_ansible_no_log"):
        return HIDDEN
    parts = []
    message = _text(result["msg"]) if result.get("msg") else ""
    cause = os_error(printed) if isinstance(printed, str) else None
    if cause and cause not in message:
        message = f"{message.rstrip('.')}: {cause}" if message else cause
    if message:
        parts.append(message)
    if isinstance(result.get("rc"), int) and result["rc"] != 0:
        parts.append(f"rc={result['rc']}")
    stderr = result.get("stderr")
    if isinstance(stderr, str) and stderr.strip():
        parts.append("stderr: " + " | ".join(stderr.strip().splitlines()[-3:]))
    return _clip("; ".join(parts) or "failed")


def _task_result(event: dict[str, Any]) -> TaskResult:
    data = event.get("event_data", {})
    status = RESULT_EVENTS[event["event"]]
    result = data.get("res")
    if status == "ok" and isinstance(result, dict) and result.get("changed"):
        status = "changed"
    if status == "failed" and data.get("ignore_errors"):
        status = "ignored"
    return TaskResult(
        task=str(data.get("task") or data.get("task_action") or "?"),
        module=str(data.get("resolved_action") or data.get("task_action") or "?"),
        role=data.get("role") or None,
        host=str(data.get("host", "")),
        status=status,
        msg=failure_message(result, event.get("stdout", "")) if status in (
            "failed", "unreachable", "ignored") else None,
        duration=data.get("duration"),
    )


def _stats(data: dict[str, Any]) -> dict[str, int]:
    def total(key: str) -> int:
        value = data.get(key) or {}
        return sum(int(count) for count in value.values()) if isinstance(value, dict) else 0

    return {
        "ok": total("ok"),
        "changed": total("changed"),
        "failed": total("failures"),
        "skipped": total("skipped"),
        "unreachable": total("dark"),
    }


def _mark_rescued(tasks: list[TaskResult], failures: dict[str, int] | None) -> list[TaskResult]:
    """Failed events the stats do not count were rescued: a host's real failures are its last.

    A failure that is not rescued ends the play for that host, so of a host's failed
    events only the last `failures[host]` are real; the earlier ones were rescued.
    """
    if failures is None:
        return tasks
    real: set[int] = set()
    for host in {task.host for task in tasks}:
        failed = [index for index, task in enumerate(tasks)
                  if task.host == host and task.status == "failed"]
        count = int(failures.get(host, 0))
        real.update(failed[len(failed) - count:] if count else [])
    return [replace(task, status="rescued") if task.status == "failed" and index not in real
            else task for index, task in enumerate(tasks)]


TASK_STARTS = ("playbook_on_task_start", "playbook_on_handler_task_start", "runner_on_start")


def fold(events: Iterable[dict[str, Any]], status: str, rc: int, stdout: str = "",
         timeout: int | None = None, timeout_source: str | None = None,
         hidden: Iterable[str] = ()) -> Outcome:
    """One run's events (in order) plus runner's status/rc -> Outcome. `timeout` and
    `timeout_source` (the setting it came from) describe a timeout; `hidden` are values
    that must not reach a message (the app's vars)."""
    outcome = Outcome(status=status, rc=rc)
    results: dict[tuple[str, str], TaskResult] = {}
    running: dict[str, tuple[str, str]] = {}  # task_uuid -> (task, module), no result yet
    first_item_failure: dict[tuple[str, str], str] = {}
    failures: dict[str, int] = {}
    stats_seen = False
    for event in events:
        kind = event.get("event")
        data = event.get("event_data", {})
        key = (str(data.get("task_uuid")), str(data.get("host")))
        if kind in TASK_STARTS:
            running[key[0]] = (str(data.get("task") or data.get("task_action") or "?"),
                               str(data.get("resolved_action") or data.get("task_action")
                                   or "?"))
        elif kind == "runner_item_on_failed":
            first_item_failure.setdefault(key, failure_message(data.get("res")))
        elif kind in RESULT_EVENTS:
            result = _task_result(event)
            if result.msg and key in first_item_failure and result.msg != HIDDEN:
                loop_message = f"{first_item_failure[key]} (loop: {result.msg})"
                result = replace(result, msg=_clip(loop_message))
            results[key] = result
            running.pop(key[0], None)
        elif kind == "playbook_on_stats":
            outcome.stats = _stats(data)
            failures = data.get("failures") if isinstance(data.get("failures"), dict) else {}
            stats_seen = True
    outcome.tasks = _mark_rescued(list(results.values()), failures if stats_seen else None)
    if not stats_seen:
        outcome.stats = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0}
    if not outcome.ok:
        outcome.failed_tasks = [
            {"task": result.task, "module": result.module, "msg": result.msg or "failed"}
            for result in outcome.tasks if result.status in ("failed", "unreachable")
        ]
    last = list(running.values())[-1] if running else None
    if outcome.status == "timeout":
        outcome.message = _timed_out(last, timeout, timeout_source)
        if last is not None:  # the report's failed tasks name it too
            outcome.failed_tasks.append({"task": last[0], "module": last[1],
                                         "msg": _timed_out(None, timeout, timeout_source)})
    else:
        outcome.message = _message(outcome, stdout, hidden)
    return outcome


def _timed_out(task: tuple[str, str] | None, timeout: int | None, source: str | None) -> str:
    """`timed out in task 'X': killed after the 30s timeout (runner.timeout)`."""
    limit = f"the {timeout}s timeout" if timeout else "its timeout"
    where = f" in task {task[0]!r}" if task else ""
    return _clip(f"timed out{where}: killed after {limit}"
                 + (f" ({source})" if source else ""), 300)


def _message(outcome: Outcome, stdout: str, hidden: Iterable[str]) -> str:
    stats = outcome.stats
    if outcome.status == "canceled":
        return "canceled before it finished"
    if outcome.ok:
        return f"{stats['ok']} ok, {stats['changed']} changed"
    if outcome.failed_tasks:
        first = outcome.failed_tasks[0]
        more = len(outcome.failed_tasks) - 1
        return _clip(f"task {first['task']!r} failed: {first['msg']}"
                     + (f" (and {more} more)" if more > 0 else ""), 300)
    why = error_line(stdout, hidden)
    if why is None:
        why = "ansible-playbook was not found or could not be run" if outcome.rc == 127 \
            else "see its artifacts for Ansible's output"
    return _clip(f"ansible-playbook exited with status {outcome.rc} and no task failed: {why}",
                 300)
