"""The fleet overview (pure): every host's report -> one document, and its exit code.

Reports are written by other hosts (anyone with push access to the status repo): each
field is taken only when it has the type it should have, text is cut short, and a
report that cannot be read is named, never guessed at. Which report of a host counts,
when it has two (a per-host branch and the shared one): the one with the newest pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from gitops_agent.clock import iso, parse_iso
from gitops_agent.config.yamlfile import load_bounded
from gitops_agent.errors import EXIT_FAILED, EXIT_OK, EXIT_STALE
from gitops_agent.plan.decide import FAILED_STATES
from gitops_agent.publish.report import STATES

HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # as host.name in the config
TEXT_LIMIT = 300  # characters of a message or task name kept
MAX_LABELS = 50


@dataclass
class HostView:
    """What the overview keeps of one host's report."""

    host: str
    branch: str
    last_pass: str | None = None
    updated: str | None = None
    config_commit: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    wave: str | None = None
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
                    text(data.get("config_commit"), 64), wave=text(data.get("wave"), 64),
                    error=text(data.get("error")))
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


def overview(views: Iterable[HostView], unreadable: Iterable[Unreadable], now: datetime,
             stale_after: float) -> dict[str, Any]:
    """The fleet document (`fleet --json`, fleet.yml): hosts in name order."""
    kept = newest(views)
    hosts: dict[str, dict[str, Any]] = {}
    for name in sorted(kept):
        view = kept[name]
        hosts[name] = {"branch": view.branch, "last_pass": view.last_pass,
                       "updated": view.updated, "config_commit": view.config_commit,
                       "labels": view.labels, "wave": view.wave, "summary": view.summary,
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
    waves = _waves(hosts)
    if waves:
        document["waves"] = waves
    document["hosts"] = hosts
    return document


def _waves(hosts: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each rollout wave's progress: its hosts, how many failed or are stale, and how
    many stand at each config commit."""
    waves: dict[str, dict[str, Any]] = {}
    for host in hosts.values():
        if host["wave"] is None:
            continue
        wave = waves.setdefault(host["wave"], {"hosts": 0, "failed": 0, "stale": 0,
                                               "config_commits": {}})
        wave["hosts"] += 1
        wave["failed"] += bool(host["failed"] or host.get("error"))
        wave["stale"] += host["stale"]
        commit = host["config_commit"] or "none"
        wave["config_commits"][commit] = wave["config_commits"].get(commit, 0) + 1
    return dict(sorted(waves.items()))


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
    try:
        document = load_bounded(document_text)
    except (yaml.YAMLError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    hosts = document.get("hosts")
    return {**document, "generated": None,
            "hosts": {name: {**host, "last_pass": None} if isinstance(host, dict) else host
                      for name, host in hosts.items()} if isinstance(hosts, dict) else hosts}
