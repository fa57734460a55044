"""`fleet --publish`: fleet.md and fleet.yml on branch gitops-fleet of the status repo.

One commit when the overview says something new, none when nothing changed; when
only times moved (hosts' heartbeats), the tip is replaced under a lease instead, so
the branch's history grows only with news. A commit is never forced over someone
else's: when someone pushed first, it is rebuilt on their tip and tried again.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

from gitops_agent import git
from gitops_agent.errors import GitError
from gitops_agent.git_reason import redact
from gitops_agent.publish import fleet, fleet_render, history, report

log = logging.getLogger(__name__)
BRANCH = "gitops-fleet"
LOCAL = "refs/fleet-published/" + BRANCH  # outside the status branches' namespace
ATTEMPTS = 8


def _published(repo: Path, url: str, auth: git.Auth) -> tuple[str | None, str | None]:
    """(tip, its fleet.yml) of the remote branch; (None, None) before the first publish."""
    try:
        # depth 2: the tip's parent too, to replace the tip when only times moved
        tip = git.fetch_ref(repo, url, auth, f"refs/heads/{BRANCH}", depth=2, into=LOCAL)
    except git.MissingRef:
        return None, None
    status, size, _ = git.run(["cat-file", "-s", f"{tip}:fleet.yml"], cwd=repo, check=False)
    if status != 0 or int(size.strip() or 0) > 64 * 1024 * 1024:
        return tip, None
    return tip, git.run(["cat-file", "blob", f"{tip}:fleet.yml"], cwd=repo)[1]


def publish(repo: Path, url: str, auth: git.Auth, document: dict[str, Any]) -> bool:
    """Commit and push the overview; False when gitops-fleet already says the same."""
    try:
        return _publish(repo, url, auth, document)
    except GitError as error:  # a token in an https URL stays out of CI logs
        raise GitError(redact(str(error))) from None


def _publish(repo: Path, url: str, auth: git.Auth, document: dict[str, Any]) -> bool:
    new = report.to_yaml(document)
    files = {"fleet.yml": new, "fleet.md": fleet_render.to_markdown(document)}
    summary = document["summary"]
    message = (f"fleet: {summary['hosts']} hosts, {summary['failed']} failed, "
               f"{summary['stale']} stale")
    rewrite = True
    for attempt in range(ATTEMPTS):
        tip, old = _published(repo, url, auth)
        if old is not None and fleet.content(old) == fleet.content(new):
            return False
        # only heartbeats moved: replace the tip, so history grows only with news
        replace = bool(rewrite and tip and old is not None
                       and history.own_tip(repo, tip, ("fleet.md", "fleet.yml"))
                       and fleet.news(old) is not None and fleet.news(old) == fleet.news(new))
        parent = history.parent_of(repo, tip) if replace and tip else tip
        commit = history.commit(repo, parent, files, message)
        try:
            git.push(repo, url, auth, BRANCH, commit, lease=tip if replace else None)
            return True
        except git.PushRejected:
            if replace and _published(repo, url, auth)[0] == tip:
                rewrite = False  # a protected branch: add commits instead
            log.info("%s moved on; rebuilding the fleet commit", BRANCH)
            time.sleep(random.uniform(0.05, 0.4) * (attempt + 1))
    raise GitError(f"could not push {BRANCH}: it kept moving ({ATTEMPTS} attempts)")
