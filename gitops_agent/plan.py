"""Pure planning: desired apps vs. last state -> what to apply, leave, remove, and why."""

from __future__ import annotations

from collections.abc import Iterable

from gitops_agent.state import AppRecord

FAILED_STATES = {"failed", "blocked"}


def apply_reason(previous: AppRecord | None, digest: str, checkout_current: bool,
                 forced: bool) -> str | None:
    """Why an app must be applied this pass, or None when it is unchanged."""
    if forced:
        return "forced"
    if previous is None or (previous.good_digest is None and previous.digest is None):
        return "first apply"
    if previous.state in FAILED_STATES:
        return f"last attempt {previous.state}"
    if previous.state == "rolled_back":
        # The failing revisions are not tried again until something changes.
        return None if previous.digest == digest else "inputs changed since the rollback"
    if previous.good_digest != digest:
        return "inputs changed"
    if not checkout_current:
        return "source checkout is not at the desired commit"
    return None


def to_remove(known: Iterable[str], desired: Iterable[str], invalid: Iterable[str]) -> list[str]:
    """Apps the state knows that no longer select this host (invalid files are kept)."""
    keep = set(desired) | set(invalid)
    return sorted(name for name in known if name not in keep)


KEPT_WHEN_UNCHANGED = {"rolled_back", "drifted"}


def unchanged_state(previous: AppRecord) -> str:
    """What an app not applied this pass is reported as: a rollback or drift stays visible."""
    return previous.state if previous.state in KEPT_WHEN_UNCHANGED else "unchanged"
