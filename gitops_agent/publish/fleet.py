"""The fleet overview (pure): every host's report -> one document, and its exit code.

Reports are written by other hosts (anyone with push access to the status repo): each
field is taken only when it has the type it should have, text is cut short, and a
report that cannot be read is named, never guessed at. Which report of a host counts,
when it has two (a per-host branch and the shared one): the one with the newest pass.

A host's wave is the one fleet.yml at the config branch's head gives its name and
labels, never the one its report claims (that report may predate the rules in force).
The `rollout` block says how far that head commit has come, wave by wave (`rollout`
below says what each field means, and when there is no block).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from gitops_agent.clock import iso, parse_iso
from gitops_agent.config.fleet import GLOB, Rules
from gitops_agent.config.windows import inside, next_open
from gitops_agent.config.yamlfile import load_bounded, load_mapping
from gitops_agent.errors import EXIT_FAILED, EXIT_OK, EXIT_STALE
from gitops_agent.plan.decide import FAILED_STATES
from gitops_agent.plan.rollout import BROKEN, HEALTHY
from gitops_agent.publish.report import STATES

HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # as host.name in the config
TEXT_LIMIT = 300  # characters of a message or task name kept
MAX_LABELS = 50
NO_WAVE = "(no wave)"  # the progress entry of hosts no wave selects (they wait for all)


@dataclass
class HostView:
    """What the overview keeps of one host's report."""

    host: str
    branch: str
    last_pass: str | None = None
    updated: str | None = None
    config_commit: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    summary: dict[str, int] = field(default_factory=dict)
    failed: list[dict[str, str | None]] = field(default_factory=list)
    error: str | None = None  # the host's last pass failed before any app

    @property
    def seen(self) -> datetime | None:
        """When the host last finished a pass (older reports have `updated` only)."""
        return parse_iso(self.last_pass) or parse_iso(self.updated)


@dataclass(frozen=True)
class Unreadable:
    host: str
    branch: str
    problem: str


def text(value: Any, limit: int = TEXT_LIMIT) -> str | None:
    """A scalar as bounded text; None for anything else (a mapping where text belongs)."""
    if value is None or not isinstance(value, (str, int, float, bool)):
        return None
    value = str(value)
    return value if len(value) <= limit else value[:limit - 1] + "…"


def _failure(name: str, app: dict[str, Any]) -> dict[str, str | None]:
    tasks = app.get("failed_tasks")
    first = tasks[0] if isinstance(tasks, list) and tasks and isinstance(tasks[0], dict) \
        else {}
    return {"app": text(name, 64), "task": text(first.get("task")),
            "msg": text(first.get("msg")) or text(app.get("message"))}


def host_view(host: str, branch: str, report: str) -> HostView | Unreadable:
    """One report's text as the overview uses it, or why it cannot be used."""
    if not HOST_NAME.match(host):
        return Unreadable(text(host, 80) or "", branch, "the file name is not a host name")
    try:
        data = load_bounded(report)
    except (yaml.YAMLError, RecursionError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        return Unreadable(host, branch, f"invalid YAML: {text(reason, 120)}")
    if not isinstance(data, dict):
        return Unreadable(host, branch, "not a report (the document is not a mapping)")
    apps = data.get("apps") if data.get("apps") is not None else {}
    if not isinstance(apps, dict):
        return Unreadable(host, branch, "not a report (apps is not a mapping)")
    counts: dict[str, int] = {}
    view = HostView(host, branch, text(data.get("last_pass"), 64), text(data.get("updated"), 64),
                    text(data.get("config_commit"), 64), error=text(data.get("error")))
    for name, app in sorted(apps.items(), key=lambda item: str(item[0])):
        state = app.get("state") if isinstance(app, dict) else None
        state = state if isinstance(state, str) and state in STATES else "unknown"
        counts[state] = counts.get(state, 0) + 1
        if state in FAILED_STATES and isinstance(app, dict):
            view.failed.append(_failure(str(name), app))
    view.summary = {"apps": len(apps), **{state: counts[state]
                                          for state in (*STATES, "unknown") if state in counts}}
    labels = data.get("labels")
    if isinstance(labels, dict):
        pairs = [(text(key, 64), text(value, 64)) for key, value in labels.items()]
        view.labels = dict(sorted((key, value) for key, value in pairs
                                  if key is not None and value is not None)[:MAX_LABELS])
    return view


def is_stale(seen: datetime | None, now: datetime, stale_after: float) -> bool:
    """No pass within `stale_after` seconds. A time that cannot be read is stale, and so
    is one further ahead than that (a clock, or a report, cannot hide a host for ever)."""
    return seen is None or abs((now - seen).total_seconds()) > stale_after


def newest(views: Iterable[HostView]) -> dict[str, HostView]:
    """One view per host: the newest pass wins (a report without a time loses)."""
    kept: dict[str, HostView] = {}
    for view in views:
        other = kept.get(view.host)
        if other is None or (view.seen is not None
                             and (other.seen is None or view.seen > other.seen)):
            kept[view.host] = view
    return kept


@dataclass(frozen=True)
class Head:
    """The config branch's newest commit and its fleet.yml (None: it has none)."""

    commit: str
    rules: Rules | None


def overview(views: Iterable[HostView], unreadable: Iterable[Unreadable], now: datetime,
             stale_after: float, head: Head | None = None) -> dict[str, Any]:
    """The fleet document (`fleet --json`, fleet.yml): hosts in name order. `head` None:
    the config branch could not be read, so no host has a wave and there is no rollout."""
    kept = newest(views)
    rules = head.rules if head else None
    hosts: dict[str, dict[str, Any]] = {}
    for name in sorted(kept):
        view = kept[name]
        hosts[name] = {"branch": view.branch, "last_pass": view.last_pass,
                       "updated": view.updated, "config_commit": view.config_commit,
                       "labels": view.labels,
                       "wave": rules.wave_name(name, view.labels) if rules else None,
                       "summary": view.summary,
                       "stale": is_stale(view.seen, now, stale_after), "failed": view.failed,
                       **({"error": view.error} if view.error else {})}
    problems = sorted(unreadable, key=lambda item: (item.branch, item.host))
    unseen = sorted({item.host for item in problems
                     if HOST_NAME.match(item.host) and item.host not in hosts})
    failed = [name for name, host in hosts.items() if host["failed"] or host.get("error")]
    stale = [name for name, host in hosts.items() if host["stale"]]
    document: dict[str, Any] = {
        "generated": iso(now),
        "stale_after": int(stale_after),
        "summary": {"hosts": len(hosts), "failed": len(failed), "stale": len(stale),
                    "unreadable": len(problems)},
        "failed": failed,
        "stale": stale,
        "unseen": unseen,  # hosts whose only report cannot be read: as good as stale
        "unreadable": [{"host": item.host, "branch": item.branch, "problem": item.problem}
                       for item in problems],
    }
    if head and rules and (rules.waves or rules.pause or rules.windows):
        document["rollout"] = rollout(head.commit, rules, kept, set(stale), now)
    document["hosts"] = hosts
    return document


def standing(view: HostView, commit: str) -> str:
    """A host's part in rolling out `commit`, as a later wave's gate sees it: 'failed'
    (an app failed, rolled back or blocked, at any commit), 'done' (it reports `commit`
    with every app healthy) or 'waiting' (behind, or an app not yet applied)."""
    states = [state for state in view.summary if state != "apps"]
    if any(state in BROKEN for state in states):
        return "failed"
    done = view.config_commit == commit and all(state in HEALTHY for state in states)
    return "done" if done else "waiting"


def rollout(commit: str, rules: Rules, views: dict[str, HostView], stale: set[str],
            now: datetime) -> dict[str, Any]:
    """How far `commit` has come (SPEC §4b). The overview has this block only when
    fleet.yml has waves, a pause or windows; without fleet.yml, or with one that sets
    none of these, it has none. `paused`: the active pause's reason (None without one);
    `in_window`: whether a window is open now (true without windows); `next_window`:
    when one opens next, while none is open. `waves` (when fleet.yml has any), in
    fleet.yml's order, then "(no wave)" when some host is in none: its hosts, how many
    are done, waiting or failed (`standing`), how many stale, and `open`: every earlier
    wave has a host and all of them are done — a stale host past fleet.yml's
    skip_stale_after excepted, as the gate skips it. A host a wave names (no glob, no
    labels) that has never reported counts there as waiting and stale, as the gate
    waits for it too."""
    pause = rules.pause if rules.pause and rules.pause.active(now) else None
    opened = not rules.windows or inside(rules.windows, now)
    coming = None if opened else next_open(rules.windows, now)
    block: dict[str, Any] = {
        "commit": commit, "paused": pause.reason if pause else None,
        "paused_until": iso(pause.until) if pause and pause.until else None,
        "in_window": opened, "next_window": iso(coming) if coming else None,
        "windows": [window.text for window in rules.windows]}
    if not rules.waves:
        return block
    members: list[list[tuple[str, bool, bool]]] = [[] for _ in range(len(rules.waves) + 1)]
    skip = rules.skip_stale_after
    for name, view in views.items():
        index, seen = rules.wave_of(name, view.labels), view.seen
        skipped = name in stale and skip is not None and (
            seen is None or (now - seen).total_seconds() > skip)
        members[len(rules.waves) if index is None else index].append(
            (standing(view, commit), name in stale, skipped))
    for index, wave in enumerate(rules.waves):
        members[index] += [("waiting", True, skip is not None) for name in sorted(
            set(wave.hosts)) if not GLOB & set(name) and not wave.labels
            and name not in views and rules.wave_of(name, {}) == index]
    names = [wave.name for wave in rules.waves] + ([NO_WAVE] if members[-1] else [])
    block["waves"], ahead_done = [], True
    for name, hosts in zip(names, members, strict=False):
        counts = {kind: sum(part == kind for part, _, _ in hosts)
                  for kind in ("done", "waiting", "failed")}
        block["waves"].append({"name": name, "hosts": len(hosts), **counts,
                               "stale": sum(old for _, old, _ in hosts), "open": ahead_done})
        ahead_done = ahead_done and bool(hosts) and all(
            part == "done" or (part == "waiting" and skipped) for part, _, skipped in hosts)
    return block


def exit_code(document: dict[str, Any]) -> int:
    """SPEC §6: 1 a host has a failed app (it wins), 4 a host is stale (or unseen), else 0."""
    if document["failed"]:
        return EXIT_FAILED
    return EXIT_STALE if document["stale"] or document["unseen"] else EXIT_OK


def content(document_text: str) -> str:
    """fleet.yml without its `generated` line: what a new publish is compared on."""
    return "\n".join(line for line in document_text.splitlines()
                     if not line.startswith("generated:"))


def news(document_text: str) -> Any:
    """What fleet.yml says beyond the clock: no `generated`, no host's `last_pass` (a
    heartbeat is not news: it replaces the published tip instead of adding a commit).
    None when the text cannot be read."""
    document = load_mapping(document_text)
    if document is None:
        return None
    hosts = document.get("hosts")
    return {**document, "generated": None,
            "hosts": {name: {**host, "last_pass": None} if isinstance(host, dict) else host
                      for name, host in hosts.items()} if isinstance(hosts, dict) else hosts}
