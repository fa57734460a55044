"""The agent's own checkouts: the config repo and each app's source at a resolved commit."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from gitops_agent import git, git_objects
from gitops_agent.errors import GitError
from gitops_agent.git_reason import redact

log = logging.getLogger(__name__)
LOCKS = ("index.lock", "shallow.lock", "HEAD.lock", "config.lock", "packed-refs.lock")


def ensure_repo(path: Path) -> bool:
    """Make `path` a sound repo of the agent's own; True when a broken one was replaced.

    The agent holds its pass lock, so lock files left in the repo are a killed git's:
    they go. A repo git cannot open (a half-written clone, a corrupt HEAD or index) is
    moved aside to `<path>.broken` and started afresh (its objects are fetched again).
    """
    dot_git = path / ".git"
    for name in LOCKS:
        (dot_git / name).unlink(missing_ok=True)
    if dot_git.is_dir() and _sound(path):
        return False
    return replace_repo(path)


def replace_repo(path: Path) -> bool:
    """Move `path` aside to `<path>.broken` (the last one kept) and init a fresh repo;
    True when there was something to move."""
    replaced = path.exists() or path.is_symlink()
    if replaced:
        aside = path.with_name(path.name + ".broken")
        shutil.rmtree(aside, ignore_errors=True)
        path.rename(aside)
    path.mkdir(parents=True, exist_ok=True)
    git.run(["init", "-q", str(path)])
    return replaced


def _sound(path: Path) -> bool:
    status, out, _ = git.run(["rev-parse", "--git-dir"], cwd=path, check=False)
    if status != 0 or Path(path, out.strip()).resolve() != (path / ".git").resolve():
        return False
    head_file = path / ".git" / "HEAD"
    if not head_file.is_file():
        return False
    index = path / ".git" / "index"
    if index.exists():
        status, _, _ = git.run(["ls-files", "--stage", "--", ":(exclude)*"], cwd=path,
                               check=False)
        return status == 0
    return True


def fetch_commit(path: Path, url: str, sha: str, auth: git.Auth,
                 what: str | None = None, history: bool = False) -> bool:
    """Make sure checkout `path` has commit `sha`, fetching only when it does not.

    `what` is a ref name to fetch if the server refuses a fetch by sha; `history` asks
    for the whole history (to check ancestry). A checkout git cannot open is replaced
    first (ensure_repo), and the log says so.
    """
    replaced = ensure_repo(path)
    if replaced:
        log.warning("%s was broken (half-written or corrupt): moved aside to %s.broken and "
                    "cloned again", path, path.name)
    shallow = (path / ".git" / "shallow").exists()
    if git.has_commit(path, sha) and not (history and shallow):
        return replaced
    depth = None if history else 1
    try:
        git.fetch(path, url, auth, sha, depth=depth, unshallow=history and shallow)
    except GitError:
        if what is None:
            raise
        git.fetch(path, url, auth, what, depth=depth, unshallow=history and shallow)
    if not git.has_commit(path, sha):
        raise GitError(f"{redact(url)} did not provide commit {sha}")
    return replaced


def is_current(path: Path, sha: str) -> bool:
    """Whether checkout `path` sits at `sha` with nothing changed or added (ignored files,
    such as a build's output, do not count)."""
    try:
        return git.head(path) == sha and not git.local_changes(path, ignored=False)
    except GitError:  # a broken checkout is not current: the apply heals it
        return False


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


def sync(path: Path, url: str, sha: str, auth: git.Auth, what: str | None = None) -> str | None:
    """fetch_commit + place: checkout `path` ends at exactly `sha`. A checkout that fails
    on the way (a corrupt object, a broken index) is cloned again once; the returned
    note says so (None when nothing had to be healed)."""
    try:
        replaced = fetch_commit(path, url, sha, auth, what)
        place(path, sha)
        return "checkout was broken: cloned again" if replaced else None
    except GitError as error:
        log.warning("%s: %s: cloning it again", path, error)
        why = str(error)
        replace_repo(path)
    fetch_commit(path, url, sha, auth, what)
    place(path, sha)
    return f"checkout re-cloned after: {why}"


def export(path: Path, url: str, sha: str, auth: git.Auth, destination: Path) -> Path:
    """Write the files of commit `sha` (fetched if missing) to `destination`, no .git."""
    fetch_commit(path, url, sha, auth)
    return git_objects.export(path, sha, destination)
