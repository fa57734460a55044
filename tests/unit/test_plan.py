"""plan.apply_reason and plan.to_remove: every branch."""

from __future__ import annotations

import pytest

from gitops_agent.plan import apply_reason, to_remove, unchanged_state
from gitops_agent.state import AppRecord

DIGEST = "d" * 64
OTHER = "e" * 64


def record(state: str = "applied", digest: str | None = DIGEST,
           good_digest: str | None = DIGEST) -> AppRecord:
    return AppRecord(state=state, digest=digest, good_digest=good_digest)


def test_apply_reason_forced_wins_over_everything():
    assert apply_reason(record(), DIGEST, checkout_current=True, forced=True) == "forced"
    assert apply_reason(None, DIGEST, checkout_current=False, forced=True) == "forced"


def test_apply_reason_no_previous_record_is_first_apply():
    assert apply_reason(None, DIGEST, checkout_current=True, forced=False) == "first apply"


def test_apply_reason_record_without_any_digest_is_first_apply():
    previous = record(state="suspended", digest=None, good_digest=None)

    assert apply_reason(previous, DIGEST, True, False) == "first apply"


@pytest.mark.parametrize("state", ["failed", "blocked"])
def test_apply_reason_last_attempt_failed_or_blocked_retries(state):
    previous = record(state=state, digest=DIGEST, good_digest=DIGEST)

    assert apply_reason(previous, DIGEST, True, False) == f"last attempt {state}"


def test_apply_reason_failed_without_good_digest_retries():
    previous = record(state="failed", digest=DIGEST, good_digest=None)

    assert apply_reason(previous, DIGEST, True, False) == "last attempt failed"


def test_apply_reason_inputs_differ_from_last_good_apply_is_inputs_changed():
    assert apply_reason(record(), OTHER, True, False) == "inputs changed"


def test_apply_reason_attempted_but_never_good_is_inputs_changed():
    previous = record(state="applied", digest=DIGEST, good_digest=None)

    assert apply_reason(previous, DIGEST, True, False) == "inputs changed"


def test_apply_reason_rolled_back_same_failing_inputs_are_not_retried():
    previous = record(state="rolled_back", digest=OTHER, good_digest=DIGEST)

    assert apply_reason(previous, OTHER, checkout_current=False, forced=False) is None


def test_apply_reason_rolled_back_with_new_inputs_retries():
    previous = record(state="rolled_back", digest=OTHER, good_digest=DIGEST)
    newer = "f" * 64

    assert apply_reason(previous, newer, True, False) == "inputs changed since the rollback"


def test_apply_reason_rolled_back_forced_retries():
    previous = record(state="rolled_back", digest=OTHER, good_digest=DIGEST)

    assert apply_reason(previous, OTHER, True, forced=True) == "forced"


def test_unchanged_state_keeps_rollback_and_drift_visible():
    assert unchanged_state(record(state="rolled_back")) == "rolled_back"
    assert unchanged_state(record(state="drifted")) == "drifted"
    assert unchanged_state(record(state="applied")) == "unchanged"
    assert unchanged_state(record(state="suspended")) == "unchanged"


def test_apply_reason_checkout_moved_away_reapplies():
    reason = apply_reason(record(), DIGEST, checkout_current=False, forced=False)

    assert reason == "source checkout is not at the desired commit"


def test_apply_reason_inputs_changed_is_named_before_a_stale_checkout():
    assert apply_reason(record(), OTHER, checkout_current=False, forced=False) == "inputs changed"


@pytest.mark.parametrize("state", ["applied", "unchanged", "suspended", "drifted"])
def test_apply_reason_same_inputs_and_current_checkout_is_unchanged(state):
    assert apply_reason(record(state=state), DIGEST, True, False) is None


def test_to_remove_apps_gone_from_the_desired_set_are_removed_sorted():
    assert to_remove(["web", "db", "cache", "api"], ["web"], []) == ["api", "cache", "db"]


def test_to_remove_invalid_apps_are_kept():
    assert to_remove(["web", "db"], [], ["db"]) == ["web"]


def test_to_remove_nothing_known_removes_nothing():
    assert to_remove([], ["web"], ["db"]) == []


def test_to_remove_everything_still_desired_removes_nothing():
    assert to_remove({"web": 1, "db": 2}, {"db": 3, "web": 4}, {}) == []
