"""Plan: what this pass does with each app, and why (pure: no I/O).

`make_plan` takes what `observe` found and what state remembers, and returns one
`Decision` per app (plan/decide.py holds the rules), the apps to remove and the invalid
app files. `gitops-agent plan` prints exactly this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gitops_agent.config import App
from gitops_agent.observe.tree import Tree
from gitops_agent.plan.backoff import DEFAULT, Backoff
from gitops_agent.plan.decide import (
    APPLY,
    FAIL,
    HOLD,
    UNCHANGED,
    Decision,
    Facts,
    decide,
    refused,
)
from gitops_agent.plan.decide import to_remove as removable
from gitops_agent.plan.inputs import from_dict
from gitops_agent.record.state import AppRecord

__all__ = ["APPLY", "FAIL", "HOLD", "UNCHANGED", "Backoff", "Decision", "Plan", "make_plan",
           "needs_tree"]


@dataclass
class Plan:
    commit: str
    decisions: dict[str, Decision] = field(default_factory=dict)  # the apps in scope
    invalid: dict[str, str] = field(default_factory=dict)  # app -> why its file is invalid
    remove: list[str] = field(default_factory=list)
    refused: str | None = None  # the config commit may not be applied: why
    waiting: list[str] = field(default_factory=list)  # removals held by a rollout gate
    held: str | None = None  # why a rollout gate holds what is pending (plan/rollout.py)

    @property
    def pending(self) -> bool:
        return bool(self.remove) or any(decision.action == APPLY
                                        for decision in self.decisions.values())

    @property
    def errors(self) -> bool:
        return bool(self.invalid) or self.refused is not None or any(
            decision.action == FAIL for decision in self.decisions.values())


def suspension_of(app: App, suspended: Mapping[str, Mapping[str, Any]]) -> str | None:
    entry = suspended.get(app.name)
    if entry:
        return f"suspended by {entry.get('by')}: {entry.get('reason')}"
    if app.suspend:
        return f"suspended by the config repo: suspend: true in {app.file}"
    return None


def needs_tree(commit: str, selected: Mapping[str, App], records: Mapping[str, AppRecord],
               suspended: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether some app's recorded inputs, to be compared this pass, were read at another
    commit (suspended apps compare nothing): only then is the new tree read."""
    for name, app in selected.items():
        record = records.get(name)
        if record is None or suspension_of(app, suspended):
            continue
        for data in (record.inputs, record.failed_inputs):
            inputs = from_dict(data)
            if inputs is not None and inputs.commit != commit:
                return True
    return False


def make_plan(commit: str, selected: Mapping[str, App], views: Mapping[str, Any],
              records: Mapping[str, AppRecord], tree: Tree | None, edited: list[str],
              suspended: Mapping[str, Mapping[str, Any]], invalid: Mapping[str, str],
              desired: list[str], only: tuple[str, ...] = (), forced: str | None = None,
              refusal: str | None = None, now: datetime | None = None,
              backoff: Backoff = DEFAULT) -> Plan:
    """Decide for every app in scope. `views` are observe.AppView's; `desired` names every
    app that selects this host (valid or not), for removal. `now` is the pass's time, for
    backoff (the plan reads no clock)."""
    if refusal is not None:
        return Plan(commit, refused(records, commit, refusal), refused=refusal)
    plan = Plan(commit, invalid={name: problem for name, problem in invalid.items()
                                 if not only or name in only})
    for name, app in selected.items():
        view = views[name]
        facts = Facts(view.source_commit, view.source_error, view.checkout_current,
                      view.watch, view.facts, app.paths, suspension_of(app, suspended))
        plan.decisions[name] = decide(records.get(name), facts, commit, tree, edited, forced,
                                      now, backoff)
    if not only:
        plan.remove = removable(records, desired, invalid)
    return plan
