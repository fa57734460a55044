"""The agent's own checkouts: the config repo and each app's source at a resolved commit."""

from __future__ import annotations

import io
import logging
import tarfile
from pathlib import Path

from gitops_agent import git
from gitops_agent.errors import GitError

log = logging.getLogger(__name__)


def fetch_commit(path: Path, url: str, sha: str, auth: git.Auth, what: str | None = None) -> None:
    """Make sure checkout `path` has commit `sha`, fetching only when it does not.

    `what` is a ref name to fetch if the server refuses a fetch by sha.
    """
    git.ensure_repo(path)
    if git.has_commit(path, sha):
        return
    try:
        git.fetch(path, url, auth, sha)
    except GitError:
        if what is None:
            raise
        git.fetch(path, url, auth, what)
    if not git.has_commit(path, sha):
        raise GitError(f"{url} did not provide commit {sha}")


def is_current(path: Path, sha: str) -> bool:
    """Whether checkout `path` sits at `sha` with nothing changed or added (ignored files,
    such as a build's output, do not count)."""
    return git.head(path) == sha and not git.local_changes(path, ignored=False)


def place(path: Path, sha: str) -> list[str]:
    """Put the work tree at exactly `sha`; return the locally edited paths it discarded.

    Local edits or another commit checked out there are discarded, and the log says so.
    """
    current = git.head(path)
    changes: list[str] = []
    if current == sha:
        changes = git.local_changes(path)
        if not changes:
            return []
        log.warning("%s: discarding local changes in the agent's checkout: %s",
                    path, ", ".join(changes[:5]) + (" …" if len(changes) > 5 else ""))
    elif current is not None:
        log.info("%s: moving the checkout from %s to %s", path, current[:12], sha[:12])
    git.checkout(path, sha)
    return changes


def sync(path: Path, url: str, sha: str, auth: git.Auth, what: str | None = None) -> None:
    """fetch_commit + place: checkout `path` ends at exactly `sha`."""
    fetch_commit(path, url, sha, auth, what)
    place(path, sha)


def export(path: Path, url: str, sha: str, auth: git.Auth, destination: Path) -> Path:
    """Write the files of commit `sha` (fetched if missing) to `destination`, no .git."""
    fetch_commit(path, url, sha, auth)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(git.archive(path, sha))) as archive:
        archive.extractall(destination, filter="data")
    return destination
