"""Commit the report to the status branch and push it: one commit per pass at most.

Works in a bare repo with a private index, so nothing is checked out. Only this
host's two files change; a push the remote rejects (another host pushed first) is
rebuilt on the new tip and tried again. Never force-pushes.
"""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops_agent import git
from gitops_agent.config import StatusConfig
from gitops_agent.errors import GitError
from gitops_agent.publish import report

log = logging.getLogger(__name__)
ATTEMPTS = 12


def _remote_tip(url: str, branch: str, auth: git.Auth) -> str | None:
    return git.ls_remote(url, auth).get(f"refs/heads/{branch}")


def _read(repo: Path, tip: str | None, path: str) -> str | None:
    if tip is None:
        return None
    status, out, _ = git.run(["cat-file", "blob", f"{tip}:{path}"], cwd=repo, check=False)
    return out if status == 0 else None


def _commit(repo: Path, tip: str | None, files: dict[str, str], message: str) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        if tip:
            git.run(["read-tree", tip], cwd=repo, env=index)
        for path, text in files.items():
            blob_file = Path(scratch) / "blob"
            blob_file.write_text(text, encoding="utf-8")
            _, blob, _ = git.run(["hash-object", "-w", "--", str(blob_file)], cwd=repo)
            git.run(["update-index", "--add", "--cacheinfo", f"100644,{blob.strip()},{path}"],
                    cwd=repo, env=index)
        _, tree, _ = git.run(["write-tree"], cwd=repo, env=index)
    name, email = git.IDENTITY
    identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    parents = ["-p", tip] if tip else []
    _, commit, _ = git.run(["commit-tree", tree.strip(), *parents, "-m", message],
                           cwd=repo, env=identity)
    return commit.strip()


def publish(repo: Path, url: str, branch: str, auth: git.Auth, host: str,
            document: dict[str, Any], tip: str | bool | None = False) -> bool:
    """Push `document` as hosts/<host>.yml and .md; False when the branch already says it.

    `tip` is the branch's commit if already known from ls-remote (None: no branch yet).
    The local repo is only a cache: when it turns out corrupt it is dropped and the
    push tried once more from scratch.
    """
    try:
        return _publish(repo, url, branch, auth, host, document, tip)
    except GitError:
        if not repo.exists() or _sound(repo):
            raise
    log.warning("%s is corrupt: dropped and built again", repo)
    shutil.rmtree(repo, ignore_errors=True)
    return _publish(repo, url, branch, auth, host, document, False)


def _sound(repo: Path) -> bool:
    status, _, _ = git.run(["fsck", "--no-dangling", "--no-progress"],
                           cwd=repo, check=False)
    return status == 0


def _publish(repo: Path, url: str, branch: str, auth: git.Auth, host: str,
             document: dict[str, Any], tip: str | bool | None) -> bool:
    if not (repo / "HEAD").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git.run(["init", "-q", "--bare", str(repo)])
    yml_path, md_path = f"hosts/{host}.yml", f"hosts/{host}.md"
    for attempt in range(ATTEMPTS):
        if tip is False or attempt:
            tip = _remote_tip(url, branch, auth)
        current = tip if isinstance(tip, str) else None
        if current and not git.has_commit(repo, current):
            # The branch may have moved since ls-remote: build on what was fetched.
            git.fetch(repo, url, auth, f"refs/heads/{branch}")
            current = git.run(["rev-parse", "FETCH_HEAD^{commit}"], cwd=repo)[1].strip()
        if report.same_except_time(_read(repo, current, yml_path), document):
            return False
        commit = _commit(repo, current, {yml_path: report.to_yaml(document),
                                         md_path: report.to_markdown(document)},
                         f"{host}: {_summary_line(document)}")
        try:
            git.push(repo, url, auth, branch, commit)
            return True
        except GitError as error:
            if not isinstance(error, git.PushRejected) and \
                    _remote_tip(url, branch, auth) == current:
                raise  # the branch did not move: a real failure (auth, disk, hook)
            log.info("status branch %s moved on; rebuilding the report commit", branch)
            time.sleep(random.uniform(0.05, 0.4) * (attempt + 1))
    raise GitError(f"could not push the report to {branch}: it kept moving "
                   f"({ATTEMPTS} attempts)")


def _summary_line(document: dict[str, Any]) -> str:
    summary = document["summary"]
    parts = [f"{value} {key}" for key, value in summary.items() if key != "apps" and value]
    commit = document.get("config_commit") or ""
    return f"{', '.join(parts) or 'no apps'} at {commit[:12]}"


def push_report(repo: Path, target: StatusConfig, auth: git.Auth, host: str,
                document: dict[str, Any], remotes: Mapping[str, Any]
                ) -> tuple[bool | None, str | None]:
    """publish() for a pass: (pushed, why not). Never raises: a report never changes
    the pass's result, and what failed is logged and kept for `status`."""
    refs = remotes.get(target.url)
    tip: str | bool | None = refs.get(f"refs/heads/{target.branch}") \
        if isinstance(refs, dict) else False
    try:
        return publish(repo, target.url, target.branch, auth, host, document, tip), None
    except Exception as error:
        log.warning("status report not pushed (kept in state, pushed on a later pass): %s",
                    error, exc_info=log.isEnabledFor(logging.DEBUG))
        return None, str(error)
