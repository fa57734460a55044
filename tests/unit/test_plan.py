"""The pure plan: one decision per app from state, observation and the new tree."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from gitops_agent.config import App
from gitops_agent.observe.tree import Tree
from gitops_agent.plan import make_plan, needs_tree
from gitops_agent.plan.decide import (
    APPLY,
    BLOCK,
    FAIL,
    SUSPEND,
    UNCHANGED,
    Decision,
    Facts,
    decide,
    satisfies_dependents,
    to_remove,
    unchanged_state,
)
from gitops_agent.plan.inputs import Inputs
from gitops_agent.record.state import AppRecord

OLD, NEW = "a" * 40, "b" * 40
BLOB1, BLOB2 = "1" * 40, "2" * 40
SOURCE1, SOURCE2 = "c" * 40, "d" * 40
HOST = {"name": "web-01", "labels": {"role": "web"}}


def tree(commit: str = NEW, files: dict[str, str] | None = None) -> Tree:
    """A tree with the given blobs and their directories."""
    entries: dict[str, tuple[str, str]] = {}
    for path, sha in (files or {}).items():
        entries[path] = ("blob", sha)
        parts = path.split("/")
        for depth in range(1, len(parts)):
            entries.setdefault("/".join(parts[:depth]), ("tree", "f" * 40))
    return Tree(commit, entries)


def inputs(commit: str = OLD, **more: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "files": {"apps/web.yml": BLOB1, "playbooks/web.yml": BLOB1,
                  "playbooks/files/web-01.conf": "missing", "playbooks": "dir"},
        "listings": {}, "globs": {}, "source_commit": SOURCE1, "facts": HOST, "watch": {},
    }
    values.update(more)
    return Inputs(commit=commit, **values).to_dict()


def record(state: str = "applied", **more: Any) -> AppRecord:
    values: dict[str, Any] = {"last_attempt": "ok", "inputs": inputs(),
                              "config_commit": OLD, "source_commit": SOURCE1}
    values.update(more)
    return AppRecord(state=state, **values)


def facts(**more: Any) -> Facts:
    values: dict[str, Any] = {"source_commit": SOURCE1, "host": HOST}
    values.update(more)
    return Facts(**values)


@dataclass
class Case:
    previous: AppRecord | None
    tree: Tree | None = None
    facts: Facts = field(default_factory=facts)
    edited: tuple[str, ...] = ()
    forced: str | None = None
    action: str = UNCHANGED
    reasons: tuple[str, ...] = ()


CASES = {
    "never applied": Case(None, action=APPLY, reasons=("first apply",)),
    "forced wins": Case(record(), forced="asked by run-playbook", action=APPLY,
                        reasons=("asked by run-playbook",)),
    "same commit, nothing compared": Case(record(inputs=inputs(commit=NEW)), tree=None),
    "new commit, read file unchanged": Case(
        record(), tree=tree(NEW, {"apps/web.yml": BLOB1, "playbooks/web.yml": BLOB1,
                                  "playbooks/other.yml": BLOB2, "README.md": BLOB2})),
    "read file changed": Case(
        record(), tree=tree(NEW, {"apps/web.yml": BLOB1, "playbooks/web.yml": BLOB2}),
        action=APPLY, reasons=("playbooks/web.yml changed",)),
    "probed file appeared (first_found)": Case(
        record(), tree=tree(NEW, {"apps/web.yml": BLOB1, "playbooks/web.yml": BLOB1,
                                  "playbooks/files/web-01.conf": BLOB2}),
        action=APPLY, reasons=("playbooks/files/web-01.conf appeared",)),
    "read file removed": Case(
        record(), tree=tree(NEW, {"apps/web.yml": BLOB1}), action=APPLY,
        reasons=("playbooks was removed", "playbooks/web.yml was removed")),
    "app file changed": Case(
        record(), tree=tree(NEW, {"apps/web.yml": BLOB2, "playbooks/web.yml": BLOB1}),
        action=APPLY, reasons=("apps/web.yml changed",)),
    "source moved": Case(record(), facts=facts(source_commit=SOURCE2), action=APPLY,
                         reasons=(f"source moved to {SOURCE2[:12]}",)),
    "labels changed": Case(record(), facts=facts(host={**HOST, "labels": {"role": "db"}}),
                           action=APPLY, reasons=("host labels changed",)),
    "watched file edited while no agent ran": Case(
        record(inputs=inputs(watch={"/etc/web.conf": "x" * 64})),
        facts=facts(watch={"/etc/web.conf": "y" * 64}), action=APPLY,
        reasons=("watched file /etc/web.conf changed",)),
    "edited in the agent's checkout": Case(
        record(inputs=inputs(commit=NEW)), edited=("playbooks/web.yml",), action=APPLY,
        reasons=("playbooks/web.yml edited in the agent's config checkout",)),
    "edit of a file it never read": Case(record(inputs=inputs(commit=NEW)),
                                         edited=("playbooks/other.yml",)),
    "source checkout moved by hand": Case(
        record(), facts=facts(checkout_current=False), action=APPLY,
        reasons=("its source checkout is not at the desired commit",)),
    # a build writing ignored files into its checkout is observed as current (see
    # observe): the plan then leaves the app alone
    "build output in the source checkout": Case(record(), facts=facts(checkout_current=True)),
    "last run failed: retried": Case(record("failed", last_attempt="failed"), action=APPLY,
                                     reasons=("retry: the last run failed",)),
    "blocked by a dependency after its own failure: retried": Case(
        record("blocked", last_attempt="failed"), action=APPLY,
        reasons=("retry: the last run failed",)),
    "blocked by a dependency, own run fine, nothing changed": Case(record("blocked")),
    "blocked by an unsigned commit, then a good commit changing nothing it read": Case(
        record("blocked"),
        tree=tree(NEW, {"apps/web.yml": BLOB1, "playbooks/web.yml": BLOB1})),
    "state from an older version": Case(record(inputs={"digest": "d" * 64}), action=APPLY,
                                        reasons=("what its last apply read is not known",)),
    "tracer failed at the last apply": Case(record(inputs=None), action=APPLY,
                                            reasons=("what its last apply read is not known",)),
    "rolled back, same failing revision": Case(
        record("rolled_back", last_attempt="failed", failed_inputs=inputs()),
        reasons=("rolled back; the failed revision is not retried",)),
    "rolled back, the failed read changed": Case(
        record("rolled_back", last_attempt="failed", failed_inputs=inputs()),
        tree=tree(NEW, {"apps/web.yml": BLOB1, "playbooks/web.yml": BLOB2}), action=APPLY,
        reasons=("since the rollback: playbooks/web.yml changed",)),
    "rolled back, unknown failed reads, new commit": Case(
        record("rolled_back", last_attempt="failed", failed_inputs=None),
        tree=tree(NEW, {"apps/web.yml": BLOB1}), action=APPLY,
        reasons=("since the rollback: a new commit since the rollback",)),
    "rolled back, unknown failed reads, same commit": Case(
        record("rolled_back", last_attempt="failed", failed_inputs=None, config_commit=NEW),
        reasons=("rolled back; the failed revision is not retried",)),
    "rolled back, then blocked by a dependency: still not retried": Case(
        record("blocked", last_attempt="rolled_back", failed_inputs=inputs()),
        reasons=("rolled back; the failed revision is not retried",)),
    "suspended wins over changes": Case(
        record(), facts=facts(suspension="suspended by ops: freeze", source_commit=SOURCE2),
        action=SUSPEND, reasons=("suspended by ops: freeze",)),
    "source unreachable": Case(record(), facts=facts(source_error="cannot reach x"),
                               action=FAIL, reasons=("cannot reach x",)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decide(case: Case) -> None:
    decision = decide(case.previous, case.facts, NEW, case.tree, case.edited, case.forced)

    assert decision == Decision(case.action, case.reasons)


def test_decide_many_changes_are_summarized() -> None:
    previous = record(inputs=inputs(files={f"f{index}": BLOB1 for index in range(6)}))

    decision = decide(previous, facts(), NEW, tree(NEW))

    assert decision.action == APPLY
    assert decision.reasons == ("f0 was removed", "f1 was removed", "f2 was removed",
                                "and 3 more")


@pytest.mark.parametrize(("action", "state", "ready"), [
    (UNCHANGED, "rolled_back", True),  # a rollback still in place runs the good revision
    (UNCHANGED, "unchanged", True),
    (UNCHANGED, "drifted", True),
    (UNCHANGED, "blocked", True),  # blocked last pass by a dependency that is fine now
    (UNCHANGED, "failed", False),
    (APPLY, "rolled_back", False),  # rolled back in this very pass
    (APPLY, "failed", False),
    (APPLY, "applied", True),
    (SUSPEND, "suspended", True),
    (FAIL, "failed", False),
])
def test_satisfies_dependents(action: str, state: str, ready: bool) -> None:
    assert satisfies_dependents(Decision(action), state) is ready


def test_make_plan_refused_commit_blocks_every_known_app_and_keeps_no_changes() -> None:
    records = {"web": record(), "db": record()}

    plan = make_plan(NEW, {}, {}, records, None, [], {}, {}, [],
                     refusal="it is not signed by an allowed key: no signature")

    assert plan.refused == "it is not signed by an allowed key: no signature"
    assert {decision.action for decision in plan.decisions.values()} == {BLOCK}
    assert "not signed by an allowed key: no signature" in plan.decisions["web"].text()
    assert plan.errors and not plan.pending


@dataclass
class View:
    source_commit: str | None = SOURCE1
    source_error: str | None = None
    checkout_current: bool = True
    watch: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=lambda: dict(HOST))


def test_make_plan_decides_removes_and_reports_invalid() -> None:
    app = App(name="web", file="apps/web.yml", playbook="playbooks/web.yml", deploy=None)
    records = {"web": record(inputs=inputs(commit=NEW)), "gone": record()}

    plan = make_plan(NEW, {"web": app}, {"web": View()}, records, None, [], {},
                     {"bad": "apps/bad.yml:1: oops"}, ["web", "bad"])

    assert plan.decisions == {"web": Decision(UNCHANGED)}
    assert plan.remove == ["gone"]
    assert plan.invalid == {"bad": "apps/bad.yml:1: oops"}
    assert plan.pending and plan.errors


def test_make_plan_host_suspension_names_who() -> None:
    app = App(name="web", file="apps/web.yml", playbook="p.yml", deploy=None)
    suspended = {"web": {"reason": "freeze", "by": "ops@web-01", "at": "now"}}

    plan = make_plan(NEW, {"web": app}, {"web": View()}, {}, None, [], suspended, {}, ["web"])

    assert plan.decisions["web"] == Decision(SUSPEND, ("suspended by ops@web-01: freeze",))


def test_make_plan_with_only_never_removes() -> None:
    plan = make_plan(NEW, {}, {}, {"gone": record()}, None, [], {}, {}, [], only=("web",))

    assert plan.remove == []


def test_to_remove_keeps_desired_and_invalid() -> None:
    assert to_remove(["a", "b", "c"], ["a"], ["b"]) == ["c"]


@pytest.mark.parametrize(("state", "last_attempt", "shown"), [
    ("applied", "ok", "unchanged"), ("rolled_back", "rolled_back", "rolled_back"),
    ("drifted", "ok", "drifted"), ("suspended", "ok", "unchanged"),
    ("blocked", "rolled_back", "rolled_back")])
def test_unchanged_state_keeps_rollback_and_drift_visible(state: str, last_attempt: str,
                                                          shown: str) -> None:
    previous = replace(record(), state=state, last_attempt=last_attempt)

    assert unchanged_state(previous) == shown


def test_needs_tree_only_for_inputs_compared_at_another_commit() -> None:
    web = App(name="web", file="apps/web.yml", playbook="p.yml", deploy=None)
    paused = App(name="paused", file="apps/paused.yml", playbook="p.yml", deploy=None,
                 suspend=True)
    at_new = {"web": record(inputs=inputs(commit=NEW))}

    assert not needs_tree(NEW, {"web": web}, at_new, {})
    assert needs_tree(NEW, {"web": web}, {"web": record()}, {})
    assert not needs_tree(NEW, {"paused": paused}, {"paused": record()}, {})
    assert not needs_tree(NEW, {"web": web}, {"web": record()},
                          {"web": {"reason": "x", "by": "ops", "at": "now"}})
    assert not needs_tree(NEW, {"web": web}, {"web": record(inputs=None)}, {})
