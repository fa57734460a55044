"""Rollout gates (SPEC §4b), pure: may this host apply what its plan has pending, now?

    pause      active (no `until`, or `until` ahead): hold everything
    windows    now outside all of them: hold everything, saying when the next one opens
    waves      every host of the earlier waves must report this config commit (and the
               source commits pending here) applied and healthy; a failure there holds
               every later wave; a host not reporting it holds too, unless it is stale
               and fleet.yml says to skip stale hosts

Only `run-playbook` by hand goes past a gate, and says so. A held plan applies nothing:
its pending apps become `waiting` with the reason, removals wait too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from gitops_agent.clock import iso
from gitops_agent.config.fleet import Rules, describe_pause
from gitops_agent.config.windows import inside, next_open
from gitops_agent.errors import FatalError
from gitops_agent.plan import APPLY, Decision, Plan

WAIT = "wait"
APPLIED = ("applied", "unchanged")  # an app this host is about to apply, on an earlier host
HEALTHY = ("applied", "unchanged", "suspended", "drifted", "removed")  # its other apps
BROKEN = ("failed", "rolled_back", "blocked")


@dataclass(frozen=True)
class Peer:
    """Another host, as its report says (read from its status branch)."""

    host: str
    labels: Mapping[str, str] = field(default_factory=dict)
    seen: datetime | None = None  # its last pass
    config_commit: str | None = None
    apps: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)  # state, source
    problem: str | None = None  # its report cannot be read: why


@dataclass(frozen=True)
class Gate:
    hold: str | None = None  # why nothing is applied now; None: open
    wave: str | None = None  # this host's wave
    needs_peers: bool = False  # the waves decide: the earlier waves' reports are needed
    overridden: str | None = None  # what `run-playbook` by hand went past
    leads: bool = False  # a later wave waits for this host: it reports a new commit at once


def local(rules: Rules, host: str, labels: Mapping[str, str], now: datetime,
          by_hand: bool = False) -> Gate:
    """The pause and the windows (no I/O); whether the waves must be asked."""
    wave = rules.wave_name(host, dict(labels))
    hold = None
    if rules.pause and rules.pause.active(now):
        hold = describe_pause(rules.pause)
    elif rules.windows and not inside(rules.windows, now):
        opening = next_open(rules.windows, now)
        hold = (f"outside the rollout windows ({', '.join(w.text for w in rules.windows)})"
                + (f"; the next opens at {iso(opening)}" if opening else ""))
    index = rules.wave_of(host, dict(labels))
    # hosts in no wave wait for the last one too, unless it takes every host
    leads = index is not None and (index < len(rules.waves) - 1 or not rules.takes_all)
    asks = hold is None and bool(rules.waves) and index != 0
    if by_hand:
        past = hold or (f"wave {wave or '(none)'}: the earlier waves were not asked"
                        if asks else None)
        return Gate(None, wave, overridden=past, leads=leads)
    return Gate(hold, wave, asks, leads=leads)


def _verdict(peer: Peer, commit: str, pending: Mapping[str, str | None]) -> str | None:
    """None: done (the commit applied and healthy); 'failed: …'; or what it lacks."""
    if peer.problem:
        return f"the report of {peer.host} cannot be read ({peer.problem})"
    if peer.seen is None and peer.config_commit is None:
        return f"{peer.host} has never reported"
    if peer.config_commit != commit:
        at = (peer.config_commit or "none")[:12]
        return f"{peer.host} has not reported {commit[:12]} (it reports {at})"
    broken = [name for name, (state, _) in peer.apps.items() if state in BROKEN]
    if broken:
        state = peer.apps[broken[0]][0]
        return f"failed: {peer.host} reports {broken[0]} {state} at {commit[:12]}"
    for name, (state, source) in sorted(peer.apps.items()):
        if name in pending and state not in APPLIED:  # SPEC §4b: applied or unchanged
            return f"{peer.host} has not applied {name} yet ({state})"
        if state not in HEALTHY:
            return f"{peer.host} has not applied {name} yet ({state})"
        if name in pending and pending[name] is not None and source != pending[name]:
            return (f"{peer.host} has not reported {name} at source "
                    f"{str(pending[name])[:12]}")
    return None


def _members(rules: Rules, host: str, limit: int, peers: Iterable[Peer]
             ) -> list[tuple[int, Peer]]:
    """(wave, peer) of every host of waves 0..limit-1: its newest readable report; one
    that cannot be read counts in the first wave its name could be in (its labels are
    unknown), and a host a wave names that never reported counts as such."""
    newest: dict[str, Peer] = {}
    for peer in peers:
        other = newest.get(peer.host)
        if peer.host != host and (other is None or _rank(peer) > _rank(other)):
            newest[peer.host] = peer
    members = []
    for peer in newest.values():
        index = rules.wave_of(peer.host, dict(peer.labels)) if peer.problem is None \
            else next((number for number, wave in enumerate(rules.waves)
                       if wave.selects_name(peer.host)), None)
        if index is not None and index < limit:
            members.append((index, peer))
    for index, wave in enumerate(rules.waves[:limit]):
        members += [(index, Peer(name)) for name in wave.names
                    if name != host and name not in newest and not wave.labels
                    and rules.wave_of(name, {}) == index]
    return sorted(members, key=lambda item: (item[0], item[1].host))


def _rank(peer: Peer) -> tuple[bool, datetime]:
    return peer.problem is None, peer.seen or datetime.min.replace(tzinfo=UTC)


def waves(rules: Rules, host: str, labels: Mapping[str, str], commit: str,
          pending: Mapping[str, str | None], peers: Iterable[Peer], now: datetime,
          stale_after: float) -> str | None:
    """Why the earlier waves hold this host, or None when they are all done. `pending`
    maps each app to apply here to its source commit; `stale_after` (seconds) is when a
    silent host is called stale, and fleet.yml's skip_stale_after can only lengthen it."""
    mine = rules.wave_of(host, dict(labels))
    limit = len(rules.waves) if mine is None else mine
    members = _members(rules, host, limit, peers)
    behind = [(index, f"no host of wave {wave.name} has reported yet (an empty wave holds "
                      "the later ones: check its hosts and labels)")
              for index, wave in enumerate(rules.waves[:limit])
              if not any(member == index for member, _ in members)]
    skip = None if rules.skip_stale_after is None else max(rules.skip_stale_after,
                                                           stale_after)
    for index, peer in members:
        verdict = _verdict(peer, commit, pending)
        if verdict is None:
            continue
        name = rules.waves[index].name
        if verdict.startswith("failed: "):
            return f"wave {name} failed: {verdict.removeprefix('failed: ')}; every later " \
                   "wave is held"
        silent = None if peer.seen is None else (now - peer.seen).total_seconds()
        if skip is not None and (silent is None or silent > skip):
            continue  # fleet.yml: hosts stale that long are not waited for
        if peer.seen is not None and silent is not None and silent > stale_after:
            verdict += (f"; it is stale (last pass {iso(peer.seen)}) and holds the later "
                        "waves until it reports (fleet.yml skip_stale_after)")
        behind.append((index, verdict))
    if not behind:
        return None
    index, first = min(behind)
    more = f" (and {len(behind) - 1} more)" if len(behind) > 1 else ""
    return f"waiting for wave {rules.waves[index].name}: {first}{more}"


def hold(plan: Plan, reason: str) -> Plan:
    """The plan with everything pending held: applies wait, removals wait."""
    decisions = {name: Decision(WAIT, (reason, *decision.reasons))
                 if decision.action == APPLY else decision
                 for name, decision in plan.decisions.items()}
    return replace(plan, decisions=decisions, remove=[], waiting=list(plan.remove),
                   held=reason)


def pending(plan: Plan, sources: Mapping[str, str | None]) -> dict[str, str | None]:
    """The apps the plan would apply, with the source commit each would get."""
    return {name: sources.get(name) for name, decision in plan.decisions.items()
            if decision.action == APPLY}


def released(record: Mapping[str, object] | None, commit: str,
             pending: Mapping[str, str | None]) -> bool:
    """Whether the waves already let this host apply `commit` with these sources."""
    if not record or record.get("commit") != commit:
        return False
    sources = record.get("sources")
    return isinstance(sources, dict) and all(
        name in sources and sources[name] == source for name, source in pending.items())


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    gate: Gate
    released: dict[str, object] | None  # what the waves have let this host apply


def gate(plan: Plan, rules: Rules | None, host: str, labels: Mapping[str, str],
         now: datetime, sources: Mapping[str, str | None],
         record: dict[str, object] | None, peers: Callable[[int], list[Peer]],
         stale_after: float, by_hand: bool = False) -> Outcome:
    """The plan as the rollout rules let it run now. `peers(limit)` reads the reports of
    waves 0..limit-1 (the one I/O, called only when the waves decide); `record` is what
    the waves released before (no reports are read again for it)."""
    if rules is None:
        return Outcome(plan, Gate(), None)
    opened = local(rules, host, labels, now, by_hand)
    todo = pending(plan, sources)
    if not todo and not plan.remove:
        return Outcome(plan, opened, record)
    if opened.hold:
        return Outcome(hold(plan, opened.hold), opened, record)
    if not opened.needs_peers or by_hand or released(record, plan.commit, todo):
        return Outcome(plan, opened, record)
    index = rules.wave_of(host, dict(labels))
    limit = len(rules.waves) if index is None else index
    try:
        why = waves(rules, host, labels, plan.commit, todo, peers(limit), now, stale_after)
    except FatalError as error:
        why = f"the earlier waves' reports cannot be read ({error}): nothing is applied"
    if why:
        return Outcome(hold(plan, why), replace(opened, hold=why), record)
    kept = record.get("sources") if record and record.get("commit") == plan.commit else {}
    return Outcome(plan, opened, {"commit": plan.commit,
                                  "sources": {**(kept if isinstance(kept, dict) else {}),
                                              **todo}})
