"""The agent's own checkouts: the config repo and each app's source at a resolved commit."""

from __future__ import annotations

import io
import logging
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gitops_agent import git
from gitops_agent.errors import GitError

log = logging.getLogger(__name__)


def list_remotes(urls: set[str], auth: git.Auth) -> dict[str, dict[str, str] | GitError]:
    """`git ls-remote` every URL at once; a failure is kept as that URL's result."""

    def one(url: str) -> dict[str, str] | GitError:
        try:
            return git.ls_remote(url, auth)
        except GitError as error:
            return error

    ordered = sorted(urls)
    if not ordered:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(ordered))) as pool:
        return dict(zip(ordered, pool.map(one, ordered), strict=True))


def resolve_ref(refs: dict[str, str], ref: str) -> str | None:
    """A ref name's commit from ls-remote output: branch, then tag (peeled), then full ref."""
    if git.FULL_SHA.match(ref):
        return ref
    for name in (f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", ref):
        if name in refs:
            return refs[name]
    return None


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
    """Whether checkout `path` sits at `sha` with nothing changed, added or ignored."""
    return git.head(path) == sha and not git.local_changes(path)


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


def resolve_short_sha(path: Path, url: str, prefix: str, auth: git.Auth) -> str:
    """Resolve an abbreviated sha against the full history of `url`."""
    git.ensure_repo(path)
    current = git.head(path)
    if current and current.startswith(prefix):
        return current
    git.fetch_all(path, url, auth)
    sha = git.resolve_short(path, prefix)
    if sha is None:
        raise GitError(f"ref {prefix!r} is neither a branch, a tag nor a commit of {url}")
    return sha


def export(path: Path, url: str, sha: str, auth: git.Auth, destination: Path) -> Path:
    """Write the files of commit `sha` (fetched if missing) to `destination`, no .git."""
    fetch_commit(path, url, sha, auth)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(git.archive(path, sha))) as archive:
        archive.extractall(destination, filter="data")
    return destination
