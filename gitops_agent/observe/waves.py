"""The earlier rollout waves' reports, read from their status branches (SPEC §4b).

One depth-1 fetch into a bare cache repo (`<state_dir>/repos/waves.git`), asking the
remote only for the branches of hosts an earlier wave's globs could name (every status
branch when a wave selects by labels alone); the reports are then read from git objects.
Reports come from other hosts: only what the gate needs is taken, each field only with
the type it should have.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from gitops_agent import git
from gitops_agent.clock import iso, parse_iso
from gitops_agent.config import StatusConfig
from gitops_agent.config.fleet import Rules
from gitops_agent.config.yamlfile import load_mapping
from gitops_agent.observe import host_reports
from gitops_agent.plan.rollout import Peer
from gitops_agent.record.state import write_atomically

log = logging.getLogger(__name__)
MAX_APPS = 1000
MAX_LABELS = 50
CACHE = "peers.json"  # in the cache repo: report object id -> what the gate takes of it


def _short(value: Any, limit: int = 64) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def peer_of(host: str, text: str) -> Peer | None:
    """What the gate needs of one report; None when it is not a report."""
    data = load_mapping(text)
    if data is None:
        return None
    labels = data["labels"] if isinstance(data.get("labels"), dict) else {}
    apps = data["apps"] if isinstance(data.get("apps"), dict) else {}
    states: dict[str, tuple[str, str | None]] = {}
    for name, app in list(apps.items())[:MAX_APPS]:
        if isinstance(name, str) and isinstance(app, dict):
            states[name] = (_short(app.get("state")) or "unknown",
                            _short(app.get("source_commit")))
    return Peer(host, {str(key): str(value) for key, value in list(labels.items())[:MAX_LABELS]
                       if isinstance(value, (str, int, float, bool))},
                parse_iso(data.get("last_pass")) or parse_iso(data.get("updated")),
                _short(data.get("config_commit")), states)


def globs(rules: Rules, limit: int) -> tuple[str, ...] | None:
    """The host globs of waves 0..limit-1; None when one of them takes any host name."""
    found: list[str] = []
    for wave in rules.waves[:limit]:
        if not wave.hosts:
            return None
        found += wave.hosts
    return tuple(found)


def peers(repo: Path, status: StatusConfig, auth: git.Auth, rules: Rules,
          limit: int) -> list[Peer]:
    """The reports of every host that could be in waves 0..limit-1 (GitError when the
    status repo cannot be read). What a report says is kept by its object id in the
    cache, so only the reports that changed since the last pass are parsed."""
    branches = host_reports.Branches.of(status)
    host_reports.fetch(repo, status.url, auth, branches, globs(rules, limit))
    cache = _load(repo / CACHE)
    found, kept = [], {}
    for report in host_reports.read(repo, branches, known=cache.keys()):
        peer = None
        if report.blob in cache and report.text is None and report.problem is None:
            peer = _restored(report.host, cache[report.blob])
        elif report.text is not None:
            peer = peer_of(report.host, report.text)
        if peer is None:  # it holds the waves its host could be in: never taken as done
            problem = report.problem or "invalid YAML, over a bound, or not a report"
            log.info("the report of %s on %s cannot be read: %s", report.host, report.branch,
                     problem)
            if report.host:
                found.append(Peer(report.host, problem=problem))
            continue
        found.append(peer)
        if report.blob:
            kept[report.blob] = _saved(peer)
    if kept != cache:
        write_atomically(repo / CACHE, json.dumps(kept))
    return found


def _saved(peer: Peer) -> list[Any]:
    return [dict(peer.labels), iso(peer.seen) if peer.seen else None, peer.config_commit,
            {name: list(value) for name, value in peer.apps.items()}]


def _restored(host: str, entry: Any) -> Peer | None:
    try:
        labels, seen, commit, apps = entry
        return Peer(host, {str(k): str(v) for k, v in labels.items()}, parse_iso(seen),
                    commit if isinstance(commit, str) else None,
                    {str(name): (str(state), source if isinstance(source, str) else None)
                     for name, (state, source) in apps.items()})
    except (TypeError, ValueError, AttributeError):
        return None


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
