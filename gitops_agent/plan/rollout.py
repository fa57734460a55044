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
from datetime import datetime

from gitops_agent.clock import iso
from gitops_agent.config.fleet import GLOB, Rules, describe_pause
from gitops_agent.config.windows import inside, next_open
from gitops_agent.errors import FatalError
from gitops_agent.plan import APPLY, Decision, Plan

WAIT = "wait"
HEALTHY = ("applied", "unchanged", "suspended", "drifted", "removed")
BROKEN = ("failed", "rolled_back", "blocked")


@dataclass(frozen=True)
class Peer:
    """Another host, as its report says (read from its status branch)."""

    host: str
    labels: Mapping[str, str] = field(default_factory=dict)
    seen: datetime | None = None  # its last pass
    config_commit: str | None = None
    apps: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)  # state, source


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
    leads = index is not None and index < len(rules.waves) - 1
    if by_hand:
        return Gate(None, wave, overridden=hold, leads=leads)
    return Gate(hold, wave, hold is None and bool(rules.waves) and index != 0, leads=leads)


def _age(seen: datetime, now: datetime) -> str:
    minutes = int((now - seen).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min ago" if minutes >= 60 else \
        f"{max(minutes, 0)} min ago"


def _verdict(peer: Peer, commit: str, pending: Mapping[str, str | None]) -> str | None:
    """None: done (the commit applied and healthy); 'failed: …'; or what it lacks."""
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
        if state not in HEALTHY:
            return f"{peer.host} has not applied {name} yet ({state})"
        if name in pending and pending[name] is not None and source != pending[name]:
            return (f"{peer.host} has not reported {name} at source "
                    f"{str(pending[name])[:12]}")
    return None


def waves(rules: Rules, host: str, labels: Mapping[str, str], commit: str,
          pending: Mapping[str, str | None], peers: Iterable[Peer], now: datetime,
          stale_after: float) -> str | None:
    """Why the earlier waves hold this host, or None when they are all done. `pending`
    maps each app to apply here to its source commit; `stale_after` (seconds) is when a
    silent host is called stale."""
    mine = rules.wave_of(host, dict(labels))
    limit = len(rules.waves) if mine is None else mine
    reported: dict[str, Peer] = {}
    for peer in peers:
        other = reported.get(peer.host)
        if peer.host != host and (other is None or (peer.seen or now) > (other.seen or now)):
            reported[peer.host] = peer
    members: list[tuple[int, Peer]] = []
    for peer in reported.values():
        index = rules.wave_of(peer.host, dict(peer.labels))
        if index is not None and index < limit:
            members.append((index, peer))
    for index, wave in enumerate(rules.waves[:limit]):  # named hosts that never reported
        members += [(index, Peer(name)) for name in wave.hosts if not GLOB & set(name)
                    and name != host and name not in reported and not wave.labels
                    and rules.wave_of(name, {}) == index]
    behind = [(index, f"no host of wave {wave.name} has reported yet (an empty wave holds "
                      "the later ones: check its hosts and labels)")
              for index, wave in enumerate(rules.waves[:limit])
              if not any(member == index for member, _ in members)]
    for index, peer in sorted(members, key=lambda item: (item[0], item[1].host)):
        verdict = _verdict(peer, commit, pending)
        if verdict is None:
            continue
        name = rules.waves[index].name
        if verdict.startswith("failed: "):
            return f"wave {name} failed: {verdict.removeprefix('failed: ')}; every later " \
                   "wave is held"
        skip = rules.skip_stale_after
        if skip is not None and (peer.seen is None or (now - peer.seen).total_seconds() > skip):
            continue  # fleet.yml: hosts silent that long are not waited for
        if peer.seen is not None and (now - peer.seen).total_seconds() > stale_after:
            verdict += (f"; it is stale (last pass {_age(peer.seen, now)}) and holds the "
                        "later waves until it reports (fleet.yml skip_stale_after)")
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
