"""The pure plan: one decision per app from state, observation and the new tree."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gitops_agent.config import App
from gitops_agent.observe.tree import Tree
from gitops_agent.plan import make_plan, needs_tree
from gitops_agent.plan.backoff import Backoff, from_iso, to_iso
from gitops_agent.plan.decide import (
    APPLY,
    BLOCK,
    FAIL,
    HOLD,
    RETRY,
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
NOW = datetime(2026, 12, 3, 19, 0, 0, tzinfo=UTC)
LATER = to_iso(NOW + timedelta(minutes=20))  # within the default cap of an hour
EARLIER = to_iso(NOW - timedelta(seconds=1))


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
    now: datetime | None = None
    retry: bool | None = None  # checked when given: a failure adds to the backoff count


def failing(state: str = "failed", **more: Any) -> AppRecord:
    """Failed 3 times on the inputs it read at NEW, held until LATER."""
    values: dict[str, Any] = {"last_attempt": "failed", "failed_inputs": inputs(commit=NEW),
                              "config_commit": NEW, "failures": 3, "retry_at": LATER}
    values.update(more)
    return record(state, **values)


HELD = (f"failed 3 times on the same inputs; next attempt after {LATER} (backoff)",)


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
    "failing on the same inputs, backoff running: held": Case(
        failing(), now=NOW, action=HOLD, reasons=HELD),
    "held while blocked by a dependency since": Case(
        failing(state="blocked"), now=NOW, action=HOLD, reasons=HELD),
    "failing on the same inputs, backoff over: retried": Case(
        failing(retry_at=EARLIER), now=NOW, action=APPLY, reasons=(RETRY,), retry=True),
    "failed once: retried at the next pass": Case(
        failing(failures=1, retry_at=None), now=NOW, action=APPLY, reasons=(RETRY,),
        retry=True),
    "held, a file the failed run read changed: applied at once": Case(
        failing(failed_inputs=inputs()), now=NOW,
        tree=tree(NEW, {"apps/web.yml": BLOB1, "playbooks/web.yml": BLOB2}), action=APPLY,
        reasons=("since the last failure: playbooks/web.yml changed",), retry=False),
    "held, a new commit changing nothing it read: still held": Case(
        failing(failed_inputs=inputs()), now=NOW,
        tree=tree(NEW, {"apps/web.yml": BLOB1, "playbooks/web.yml": BLOB1}), action=HOLD,
        reasons=HELD),
    "held, source moved: applied at once": Case(
        failing(), now=NOW, facts=facts(source_commit=SOURCE2), action=APPLY,
        reasons=(f"since the last failure: source moved to {SOURCE2[:12]}",), retry=False),
    "held, watched file changed: applied at once": Case(
        failing(failed_inputs=inputs(commit=NEW, watch={"/etc/web.conf": "x" * 64})),
        now=NOW, facts=facts(watch={"/etc/web.conf": "y" * 64}), action=APPLY,
        reasons=("since the last failure: watched file /etc/web.conf changed",)),
    "held, forced by run-playbook: applied": Case(
        failing(), now=NOW, forced="asked by run-playbook", action=APPLY,
        reasons=("asked by run-playbook",), retry=False),
    "held, clock set back past the cap: due": Case(
        failing(retry_at=to_iso(NOW + timedelta(hours=2))), now=NOW, action=APPLY,
        reasons=(RETRY,), retry=True),
    "held, unreadable retry_at: due": Case(
        failing(retry_at="soon"), now=NOW, action=APPLY, reasons=(RETRY,)),
    "held, no time given: nothing is held": Case(
        failing(), action=APPLY, reasons=(RETRY,)),
    "held, failed reads unknown, same commit: held": Case(
        failing(failed_inputs=None), now=NOW, action=HOLD, reasons=HELD),
    "held, failed reads unknown, new commit: applied at once": Case(
        failing(failed_inputs=None, config_commit=OLD), now=NOW, action=APPLY,
        reasons=("since the last failure: a new commit",), retry=False),
    "suspended wins over changes": Case(
        record(), facts=facts(suspension="suspended by ops: freeze", source_commit=SOURCE2),
        action=SUSPEND, reasons=("suspended by ops: freeze",)),
    "source unreachable": Case(record(), facts=facts(source_error="cannot reach x"),
                               action=FAIL, reasons=("cannot reach x",)),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_decide(case: Case) -> None:
    decision = decide(case.previous, case.facts, NEW, case.tree, case.edited, case.forced,
                      case.now)

    assert decision == Decision(case.action, case.reasons)
    if case.retry is not None:
        assert decision.retry is case.retry


@pytest.mark.parametrize(("failures", "seconds"), [
    (0, 0), (1, 0), (2, 60), (3, 120), (4, 240), (7, 1920), (8, 3600), (50, 3600),
    (10**6, 3600)])
def test_backoff_doubles_from_the_second_failure_up_to_the_cap(failures: int,
                                                               seconds: int) -> None:
    backoff = Backoff(60, 3600)

    assert backoff.delay(failures) == seconds
    due = backoff.retry_at(failures, NOW)
    assert due == (to_iso(NOW + timedelta(seconds=seconds)) if seconds else None)


def test_backoff_due_at_retry_at_and_never_past_the_cap() -> None:
    backoff = Backoff(60, 600)

    assert not backoff.due(to_iso(NOW + timedelta(seconds=1)), NOW)
    assert not backoff.due(to_iso(NOW + timedelta(seconds=600)), NOW)
    assert backoff.due(to_iso(NOW), NOW)
    assert backoff.due(to_iso(NOW + timedelta(seconds=601)), NOW)  # the clock went back
    assert backoff.due(None, NOW) and backoff.due("2026-13-40", NOW)
    assert from_iso(to_iso(NOW)) == NOW


def test_make_plan_holds_with_the_configured_backoff() -> None:
    app = App(name="web", file="apps/web.yml", playbook="p.yml", deploy=None)
    records = {"web": failing(retry_at=to_iso(NOW + timedelta(minutes=30)))}

    default = make_plan(NEW, {"web": app}, {"web": View()}, records, None, [], {}, {},
                        ["web"], now=NOW)
    short_cap = make_plan(NEW, {"web": app}, {"web": View()}, records, None, [], {}, {},
                          ["web"], now=NOW, backoff=Backoff(60, 600))

    assert default.decisions["web"].action == HOLD
    assert not default.pending  # a held app is nothing to do
    assert short_cap.decisions["web"] == Decision(APPLY, (RETRY,))


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
