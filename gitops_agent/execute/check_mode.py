"""Check mode: Ansible's --check runs apply nothing, so their results say what would
change, never "applied" (`run-playbook --check`, `plan --check`, drift checks)."""

from __future__ import annotations

from gitops_agent.execute import events

WOULD_CHANGE, NO_CHANGE = "would_change", "no_change"  # the states of a check-mode run
LABELS = {WOULD_CHANGE: "would change", NO_CHANGE: "no change"}  # as the text output says


def changed_tasks(outcome: events.Outcome) -> list[str]:
    """Names of the tasks that changed (in check mode: that would change)."""
    return [task.task for task in outcome.tasks if task.status == "changed"]


def would_change(tasks: list[str]) -> str:
    """`2 task(s) would change: a, b` (five names at most), or `nothing would change`."""
    if not tasks:
        return "nothing would change"
    names = ", ".join(tasks[:5]) + (" …" if len(tasks) > 5 else "")
    return f"{len(tasks)} task(s) would change: {names}"


def check_verdict(outcome: events.Outcome) -> tuple[str, str]:
    """(state, message) of a check-mode run: it applied nothing, so it says what would
    change (WOULD_CHANGE, NO_CHANGE) or that the check itself failed."""
    if not outcome.ok:
        return "failed", f"check failed: {outcome.message}"
    tasks = changed_tasks(outcome)
    return (WOULD_CHANGE if tasks else NO_CHANGE), would_change(tasks)
