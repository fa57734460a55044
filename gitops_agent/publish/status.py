"""Commit the report to the status branch and push it: one commit per change at most.

Works in a bare cache repo with a private index, so nothing is checked out; the cache's
own `refs/heads/<branch>` is the branch as last pushed or fetched. Only this host's two
files change. What happens depends on the report and on whose branch it is:

    content unchanged, heartbeat not due   nothing at all: no git call reaches the remote
    content unchanged, heartbeat due       the tip is replaced (same parent, new last_pass,
                                           pushed with a lease): history does not grow
    content changed                        one commit on the tip, pushed (never forced)

A push the remote rejects (another host pushed first, on a shared branch) is rebuilt on
the fetched tip and tried again. Only the one branch is ever fetched (protocol v2
ref-prefix), so the traffic does not grow with the number of hosts.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitops_agent import git
from gitops_agent.clock import parse_iso
from gitops_agent.config import StatusConfig
from gitops_agent.errors import GitError
from gitops_agent.publish import history, report

log = logging.getLogger(__name__)
ATTEMPTS = 12
PUSHED, REFRESHED, UNCHANGED = "pushed", "refreshed", "unchanged"


@dataclass
class Branch:
    """One status branch as the cache knows it."""

    repo: Path
    target: StatusConfig
    auth: git.Auth

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.target.branch}"

    def known(self) -> str | None:
        status, out, _ = git.run(["rev-parse", "-q", "--verify", f"{self.ref}^{{commit}}"],
                                 cwd=self.repo, check=False)
        return out.strip() if status == 0 else None

    def fetch(self) -> str | None:
        """The remote tip, fetched into the cache (None: no such branch yet)."""
        try:
            depth = None if self.target.per_host else 1  # a shared branch's history is big
            return git.fetch_ref(self.repo, self.target.url, self.auth, self.ref, depth,
                                 into=self.ref)
        except git.MissingRef:
            git.run(["update-ref", "-d", self.ref], cwd=self.repo, check=False)
            return None

    def read(self, tip: str | None, path: str) -> str | None:
        if tip is None:
            return None
        status, out, _ = git.run(["cat-file", "blob", f"{tip}:{path}"], cwd=self.repo,
                                 check=False)
        return out if status == 0 else None

    def push(self, commit: str, lease: str | None = None) -> None:
        git.push(self.repo, self.target.url, self.auth, self.target.branch, commit,
                 lease=lease)
        git.run(["update-ref", self.ref, commit], cwd=self.repo)


def _age(stamp: Any, now: datetime) -> float:
    """Seconds since an ISO time; infinite when unreadable or in the future (a clock
    that jumped back must not silence the heartbeat for long)."""
    then = parse_iso(stamp)
    seconds = (now - then).total_seconds() if then else -1.0
    return seconds if seconds >= 0 else float("inf")


def publish(repo: Path, target: StatusConfig, auth: git.Auth, host: str,
            document: dict[str, Any], now: Callable[[], datetime] = lambda: datetime.now(UTC),
            prompt: bool = False) -> str:
    """Publish `document` as hosts/<host>.yml and .md: PUSHED, REFRESHED or UNCHANGED.

    The cache repo is only a cache: when it turns out corrupt it is dropped and the push
    tried once more from scratch.
    """
    try:
        return _publish(Branch(repo, target, auth), host, document, now(), prompt)
    except GitError:
        if not repo.exists() or _sound(repo):
            raise
    log.warning("%s is corrupt: dropped and built again", repo)
    shutil.rmtree(repo, ignore_errors=True)
    return _publish(Branch(repo, target, auth), host, document, now(), prompt)


def _sound(repo: Path) -> bool:
    status, _, _ = git.run(["fsck", "--no-dangling", "--no-progress"],
                           cwd=repo, check=False)
    return status == 0


def _publish(branch: Branch, host: str, document: dict[str, Any], now: datetime,
             prompt: bool = False) -> str:
    """`prompt`: a new config commit is news at once (a later rollout wave waits for it),
    not only with the next content change or heartbeat."""
    repo = branch.repo
    if not (repo / "HEAD").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git.run(["init", "-q", "--bare", str(repo)])
    git.unlock(repo)  # the pass's lock keeps every other git of the agent out
    yml_path, md_path = f"hosts/{host}.yml", f"hosts/{host}.md"
    fresh = not branch.target.per_host  # a shared branch moves under us: always fetch
    rewrite = branch.target.per_host
    for attempt in range(ATTEMPTS):
        tip = None if fresh or attempt else branch.known()
        tip = tip or branch.fetch()
        old = report.parse(branch.read(tip, yml_path))
        same = report.same_except_time(old, document) and not (
            prompt and old and old.get("config_commit") != document.get("config_commit"))
        if same and old is not None:
            if _age(old.get("last_pass"), now) < branch.target.heartbeat:
                return UNCHANGED
            document = {**document, "updated": old.get("updated", document["updated"])}
        files = {yml_path: report.to_yaml(document), md_path: report.to_markdown(document)}
        message = f"{host}: {_summary_line(document)}"
        replace = bool(same and rewrite and tip is not None
                       and history.own_tip(repo, tip, (yml_path, md_path)))
        parent = history.parent_of(repo, tip) if replace and tip else tip
        commit = history.commit(repo, parent, files, message, now)
        lease = tip if replace else None
        if not same and tip and rewrite and branch.target.keep_days:
            trimmed = history.trimmed(repo, commit, branch.target.keep_days, now)
            lease, commit = (tip, trimmed) if trimmed != commit else (lease, commit)
        try:
            branch.push(commit, lease=lease)
            return REFRESHED if same else PUSHED
        except git.PushRejected:
            if lease and branch.fetch() == tip:
                log.warning("status branch %s refuses a rewrite (a protected branch?): "
                            "heartbeats add commits and history is not trimmed",
                            branch.target.branch)
                rewrite = False
            else:
                log.info("status branch %s moved on; rebuilding the report commit",
                         branch.target.branch)
            time.sleep(random.uniform(0.05, 0.4) * (attempt + 1))
    raise GitError(f"could not push the report to {branch.target.branch}: it kept moving "
                   f"({ATTEMPTS} attempts)")


def _summary_line(document: dict[str, Any]) -> str:
    summary = document["summary"]
    parts = [f"{value} {key}" for key, value in summary.items() if key != "apps" and value]
    commit = document.get("config_commit") or ""
    return f"{', '.join(parts) or 'no apps'} at {commit[:12]}"


def push_report(repo: Path, target: StatusConfig, auth: git.Auth, host: str,
                document: dict[str, Any], prompt: bool = False
                ) -> tuple[str | None, str | None]:
    """publish() for a pass: (outcome, why not). Never raises: a report never changes
    the pass's result, and what failed is logged and kept for `status`."""
    try:
        return publish(repo, target, auth, host, document, prompt=prompt), None
    except Exception as error:
        log.warning("status report not pushed (kept in state, pushed on a later pass): %s",
                    error, exc_info=log.isEnabledFor(logging.DEBUG))
        return None, str(error)
