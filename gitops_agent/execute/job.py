"""Carry out one app's decision: apply it, leave it, suspend it, check it for drift.

Each job turns (decision, previous record) into the app's new record; it never raises
for the app's own failure (that is a `failed` record).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from gitops_agent import clock
from gitops_agent.config import APP_NAME
from gitops_agent.execute.apply import Context, Target, apply, check_drift, spec_of
from gitops_agent.execute.check_mode import would_change
from gitops_agent.plan import Plan
from gitops_agent.plan.backoff import Backoff, note
from gitops_agent.plan.decide import (
    APPLY,
    FAIL,
    FAILED_STATES,
    HOLD,
    SUSPEND,
    UNCHANGED,
    Decision,
    rolled_back,
    unchanged_state,
)
from gitops_agent.plan.rollout import WAIT
from gitops_agent.record.state import AppRecord

log = logging.getLogger(__name__)


def _rebased(data: dict[str, Any] | None, commit: str) -> dict[str, Any] | None:
    """Inputs the plan found unchanged at `commit` now count as read there: the next pass
    at the same commit compares nothing at all."""
    return None if data is None else {**data, "commit": commit}


def unchanged(previous: AppRecord, target: Target) -> AppRecord:
    commit = target.config_commit
    if rolled_back(previous):  # the plan compared what the failed attempt read
        record = replace(previous, state=unchanged_state(previous),
                         failed_inputs=_rebased(previous.failed_inputs, commit))
    else:
        record = replace(previous, state=unchanged_state(previous),
                         inputs=_rebased(previous.inputs, commit))
    if previous.state in ("applied", "suspended"):
        record.message = f"no change since the last apply ({previous.message})"
        record.suspended = None
    elif previous.state == "blocked":
        record.message = "no change since the last apply"
    return record


def suspended(previous: AppRecord | None, target: Target, message: str,
              entry: dict[str, Any] | None) -> AppRecord:
    """Left alone; `entry` is the host's suspension (reason, by, at), else the app file's."""
    app = target.app
    entry = dict(entry) if entry else {"reason": f"suspend: true in {app.file}",
                                       "by": "config repo", "at": target.config_commit}
    return replace(previous or AppRecord(state="suspended"), state="suspended",
                   message=message, suspended=entry, spec=spec_of(app))


def drift(context: Context, target: Target, previous: AppRecord,
          self_heal: bool) -> AppRecord:
    tasks, problem = check_drift(context, target)
    if problem:
        return replace(unchanged(previous, target), message=problem, drifted_tasks=[])
    if not tasks:
        return replace(unchanged(previous, target), drifted_tasks=[],
                       message="no drift: a check-mode run found nothing to change")
    names = ", ".join(tasks[:5]) + (" …" if len(tasks) > 5 else "")
    if self_heal:
        log.warning("%s: drift in %s: self-healing", target.app.name, names)
        return apply(context, replace(target, reason=f"self-heal: drift in {names}"), previous)
    log.warning("%s: drifted: %s", target.app.name, names)
    return replace(previous, state="drifted", drifted_tasks=tasks,
                   message=f"drift: {would_change(tasks)}")


def held(previous: AppRecord, target: Target, why: str) -> AppRecord:
    """Left failed while its backoff runs: its last failure (message, tasks, run) stays."""
    message = previous.message if why in previous.message else why
    return replace(previous, state="failed", message=message,
                   failed_inputs=_rebased(previous.failed_inputs, target.config_commit))


def waiting(previous: AppRecord | None, target: Target, decision: Decision) -> AppRecord:
    """Held by a rollout gate: nothing is run, and what it last read stays recorded, so the
    change is still pending at the next pass."""
    why, *changes = decision.reasons
    message = f"{why} — pending: {'; '.join(changes)}" if changes else why
    log.info("%s: waiting: %s", target.app.name, message)
    if previous is None:
        return AppRecord(state="waiting", message=message, spec=spec_of(target.app))
    if previous.state in FAILED_STATES:  # a failure stays visible while its retry waits
        failure = previous.message.partition(" — retry held: ")[0]
        return replace(previous, message=f"{failure} — retry held: {message}")
    return replace(previous, state="waiting", message=message)


def crashed(previous: AppRecord | None, target: Target, error: Exception) -> AppRecord:
    """An error of the agent's own while carrying out the app's decision: a failure."""
    return replace(previous or AppRecord(state="failed"), state="failed",
                   last_attempt="failed", config_commit=target.config_commit,
                   spec=spec_of(target.app), failed_tasks=[],
                   message=f"internal error: {type(error).__name__}: {error}")


def counted(name: str, record: AppRecord, previous: AppRecord | None, retry: bool,
            backoff: Backoff) -> AppRecord:
    """The record with its failure count and backoff: a failed retry on the same inputs
    adds to the count, any other failure starts it again, anything else clears it."""
    if record.last_attempt != "failed" or record.state != "failed":
        return replace(record, failures=0, retry_at=None)
    failures = (previous.failures if retry and previous else 0) + 1
    retry_at = backoff.retry_at(failures, clock.now())
    if retry_at is None:
        return replace(record, failures=failures, retry_at=None)
    log.warning("%s: %s", name, note(failures, retry_at))
    return replace(record, failures=failures, retry_at=retry_at,
                   message=f"{record.message} — {note(failures, retry_at)}")


def _act(context: Context, target: Target, decision: Decision, previous: AppRecord | None,
         drift_check: bool, self_heal: bool) -> AppRecord:
    if decision.action == UNCHANGED and previous is not None:
        if drift_check and previous.state != "rolled_back":
            return drift(context, target, previous, self_heal)
        return unchanged(previous, target)
    if decision.action in (APPLY, FAIL) or previous is None:
        return apply(context, replace(target, reason=decision.text() or "asked"), previous)
    raise ValueError(f"no job for decision {decision.action!r}")


def carry_out(context: Context, target: Target, decision: Decision,
              previous: AppRecord | None, drift_check: bool, self_heal: bool,
              suspension: dict[str, Any] | None) -> AppRecord:
    """The app's record after acting on `decision`."""
    if decision.action == SUSPEND:
        return suspended(previous, target, decision.text(), suspension)
    if decision.action == WAIT:
        return waiting(previous, target, decision)
    if decision.action == HOLD and previous is not None:
        log.info("%s: not applied: %s", target.app.name, decision.text())
        return held(previous, target, decision.text())
    record = _act(context, target, decision, previous, drift_check, self_heal)
    if context.check:
        return record
    runner = context.config.runner
    return counted(target.app.name, record, previous, decision.retry,
                   Backoff(runner.backoff, runner.backoff_max))


def unrun(plan: Plan, records: dict[str, AppRecord], check: bool
          ) -> Iterator[tuple[str, AppRecord]]:
    """The records of apps no job runs for: invalid app files (failed), and removals a
    rollout gate holds (waiting: removed once it opens)."""
    for name, problem in plan.invalid.items():
        log.error("%s", problem)
        if APP_NAME.fullmatch(name):  # else reported in the log only: no state, no paths
            yield name, replace(records.get(name) or AppRecord(state="failed"),
                                state="failed", config_commit=plan.commit, failed_tasks=[],
                                message=f"invalid app file: {problem}")
    for name in plan.waiting if not check else ():
        yield name, replace(records[name], state="waiting",
                            message=f"to be removed; {plan.held}")
