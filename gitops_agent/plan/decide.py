"""Plan: observation + state -> one decision per app, with its reasons (pure: no I/O).

The rules, in order, for an app that selects this host:
1. suspended (by `gitops-agent suspend` or `suspend: true`): leave it alone;
2. its source cannot be resolved: it fails this pass (nothing else of it is tried);
3. asked for (`--force`, `run-playbook`): apply;
4. never applied: apply;
5. rolled back: apply only once something the failed attempt read changed;
6. its last own run failed (even if a dependency blocked it since): apply at once when
   something the failed run read changed; else retry, unless it failed on these same
   inputs more than once and its backoff (plan/backoff.py) holds it until `retry_at`;
7. what its last apply read is not known (tracer failure, older state): apply;
8. anything its last apply read (or its source commit, host facts, watched files)
   changed, or was edited in the agent's checkout: apply, naming what;
9. its source checkout is not at the desired commit (moved or edited by hand): apply;
10. otherwise: unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gitops_agent.plan import inputs as recorded
from gitops_agent.plan.backoff import DEFAULT, Backoff, note
from gitops_agent.record.state import AppRecord

APPLY, UNCHANGED, SUSPEND, FAIL, BLOCK = "apply", "unchanged", "suspend", "fail", "block"
HOLD = "hold"  # failed again on the same inputs: left alone until its backoff ends
RETRY = "retry: the last run failed"
FAILED_STATES = ("failed", "blocked", "rolled_back")  # fail the pass
KEPT_WHEN_UNCHANGED = {"rolled_back", "drifted"}


@dataclass(frozen=True)
class Decision:
    action: str
    reasons: tuple[str, ...] = ()
    # a retry on the inputs that failed: a new failure adds to the count (plan/backoff.py)
    retry: bool = field(default=False, compare=False)

    def text(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class Facts:
    """What the observation says of one app (see observe.AppView), as the plan needs it."""

    source_commit: str | None = None
    source_error: str | None = None
    checkout_current: bool = True
    watch: Mapping[str, str] = field(default_factory=dict)
    host: Mapping[str, Any] = field(default_factory=dict)
    paths: tuple[str, ...] = ()  # the app's `paths:` globs
    suspension: str | None = None  # why it is suspended


def _changes(data: Any, facts: Facts, tree: recorded.Tree | None,
             edited: Iterable[str]) -> list[str] | None:
    """What changed since inputs `data` were recorded; None when they are not known."""
    inputs = recorded.from_dict(data)
    if inputs is None:
        return None
    found = recorded.changes(inputs, tree, facts.paths, facts.source_commit, facts.host,
                             facts.watch)
    touched = recorded.uses(inputs, edited)
    if touched:
        found.append(f"{', '.join(touched[:3])} edited in the agent's config checkout")
    return found


def rolled_back(previous: AppRecord) -> bool:
    """Its last own run failed and was rolled back (it may have been blocked since)."""
    return previous.state == "rolled_back" or previous.last_attempt == "rolled_back"


def _moved(previous: AppRecord, facts: Facts, commit: str) -> bool:
    return commit != previous.config_commit or facts.source_commit != previous.source_commit


def _after_failure(previous: AppRecord, facts: Facts, commit: str, tree: recorded.Tree | None,
                   edited: Iterable[str], now: datetime | None, backoff: Backoff) -> Decision:
    """Its last own run failed: what that run read changed -> apply at once; else a
    retry, or a hold while its backoff runs."""
    found = _changes(previous.failed_inputs, facts, tree, edited)
    if found:
        return Decision(APPLY, tuple(f"since the last failure: {change}" for change in found))
    if backoff.due(previous.retry_at, now):
        return Decision(APPLY, (RETRY,), retry=True)
    if found is None and _moved(previous, facts, commit):  # its reads are unknown
        return Decision(APPLY, ("since the last failure: a new commit",))
    return Decision(HOLD, (note(previous.failures, str(previous.retry_at)),))


def decide(previous: AppRecord | None, facts: Facts, commit: str,
           tree: recorded.Tree | None, edited: Iterable[str] = (),
           forced: str | None = None, now: datetime | None = None,
           backoff: Backoff = DEFAULT) -> Decision:
    """The decision for one app at config `commit`. `tree` is that commit's tree, or None
    when every recorded input was read at that very commit. `forced` says who asked;
    `now` is the time of the pass (without it, no backoff holds an app)."""
    if facts.suspension:
        return Decision(SUSPEND, (facts.suspension,))
    if facts.source_error:
        return Decision(FAIL, (facts.source_error,))
    if forced:
        return Decision(APPLY, (forced,))
    if previous is None or (previous.run_id is None and previous.state == "waiting"):
        return Decision(APPLY, ("first apply",))  # (a rollout gate held the first one)
    if rolled_back(previous):
        found = _changes(previous.failed_inputs, facts, tree, edited)
        if found is None:  # what the failed attempt read is unknown: its commits decide
            found = ["a new commit since the rollback"] if _moved(previous, facts, commit) \
                else []
        if found:
            return Decision(APPLY, tuple(f"since the rollback: {change}" for change in found))
        return Decision(UNCHANGED, ("rolled back; the failed revision is not retried",))
    if previous.last_attempt == "failed":
        return _after_failure(previous, facts, commit, tree, edited, now, backoff)
    found = _changes(previous.inputs, facts, tree, edited)
    if found is None:
        return Decision(APPLY, ("what its last apply read is not known",))
    if found:
        return Decision(APPLY, tuple(found))
    if not facts.checkout_current:
        return Decision(APPLY, ("its source checkout is not at the desired commit",))
    return Decision(UNCHANGED)


def refused(names: Iterable[str], commit: str, reason: str) -> dict[str, Decision]:
    """Every known app, when the config commit itself may not be applied."""
    why = f"config commit {commit[:12]} refused: {reason}"
    return {name: Decision(BLOCK, (why,)) for name in names}


def to_remove(known: Iterable[str], desired: Iterable[str], invalid: Iterable[str]) -> list[str]:
    """Apps the state knows that no longer select this host (invalid files are kept)."""
    keep = set(desired) | set(invalid)
    return sorted(name for name in known if name not in keep)


def unchanged_state(previous: AppRecord) -> str:
    """What an app not applied this pass is reported as: a rollback or drift stays visible."""
    if rolled_back(previous):
        return "rolled_back"
    return previous.state if previous.state in KEPT_WHEN_UNCHANGED else "unchanged"


def satisfies_dependents(decision: Decision, state: str) -> bool:
    """Whether an app's dependents may go ahead after it. A rollback that is merely still
    in place (not this pass's) runs the last good revision: its dependents go on."""
    if decision.action == UNCHANGED:
        return state != "failed"
    return state not in FAILED_STATES
