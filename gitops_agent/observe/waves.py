"""The earlier rollout waves' reports, read from their status branches (SPEC §4b).

One depth-1 fetch into a bare cache repo (`<state_dir>/repos/waves.git`), asking the
remote only for the branches of hosts an earlier wave's globs could name (every status
branch when a wave selects by labels alone); the reports are then read from git objects.
Reports come from other hosts: only what the gate needs is taken, each field only with
the type it should have.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from gitops_agent import git
from gitops_agent.clock import parse_iso
from gitops_agent.config import StatusConfig
from gitops_agent.config.fleet import Rules
from gitops_agent.config.yamlfile import load_bounded
from gitops_agent.observe import host_reports
from gitops_agent.plan.rollout import Peer

log = logging.getLogger(__name__)
MAX_APPS = 1000
MAX_LABELS = 50


def _short(value: Any, limit: int = 64) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def peer_of(host: str, text: str) -> Peer | None:
    """What the gate needs of one report; None when it is not a report."""
    try:
        data = load_bounded(text)
    except (yaml.YAMLError, RecursionError):
        return None
    if not isinstance(data, dict):
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
    status repo cannot be read)."""
    branches = host_reports.Branches.of(status)
    host_reports.fetch(repo, status.url, auth, branches, globs(rules, limit))
    found = []
    for report in host_reports.read(repo, branches):
        peer = peer_of(report.host, report.text) if report.text is not None else None
        if peer is None:
            log.info("the report of %s on %s cannot be read: %s", report.host, report.branch,
                     report.problem or "not a report")
            continue
        found.append(peer)
    return found
