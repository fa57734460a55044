"""The config repo at the desired commit: its files, its tree, its signature.

For `run`, the agent's own checkout is brought to that commit (local edits there are
discarded and named, so that the apps that used them are applied again). For `plan`,
nothing the agent owns is touched: a commit the checkout lacks is fetched into a scratch
repo that borrows the checkout's objects, and its files are exported to a scratch dir.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from gitops_agent import git, git_objects
from gitops_agent.config import RepoConfig
from gitops_agent.errors import FatalError, GitError
from gitops_agent.execute import checkouts
from gitops_agent.git_reason import redact
from gitops_agent.observe import signature
from gitops_agent.observe.tree import Tree, read_tree

log = logging.getLogger(__name__)


@dataclass
class ConfigView:
    commit: str
    directory: Path  # where the commit's files are
    repo: Path  # a git repo that has the commit's objects
    edited: list[str] = field(default_factory=list)  # hand edits found in the checkout
    refused: str | None = None  # why the commit may not be applied (signature)
    _tree: Tree | None = None

    def tree(self) -> Tree:
        if self._tree is None:
            self._tree = read_tree(self.repo, self.commit)
        return self._tree

    def tree_at(self, commit: str) -> Tree:
        """The tree of `commit`: this view's own (read once), or another commit's."""
        return self.tree() if commit == self.commit else read_tree(self.repo, commit)


def remote_head(path: Path, settings: RepoConfig, auth: git.Auth,
                scratch: Path | None = None) -> str:
    """The commit the config branch points at. Only that ref is asked for (a fetch with
    a ref-prefix, not ls-remote), so the status branches of a thousand hosts in the same
    repo cost nothing; when the commit is already here no objects move. It goes
    to the checkout (the commit is wanted there next), with `scratch` to a scratch repo
    that borrows the checkout's objects."""
    ref = f"refs/heads/{settings.branch}"
    if scratch is not None:
        repo = scratch / "head.git"
        if not repo.is_dir():
            git_objects.scratch_repo(repo, path if (path / ".git").is_dir() else None)
    else:
        repo = path
        if checkouts.ensure_repo(path):
            log.warning("%s was broken (half-written or corrupt): moved aside to %s.broken "
                        "and cloned again", path, path.name)
    try:
        return git.fetch_ref(repo, settings.url, auth, ref, into=git.FETCHED,
                             depth=_depth(repo, scratch is not None))
    except git.MissingRef:
        raise FatalError(f"the config repo {redact(settings.url)} has no branch "
                         f"{settings.branch!r}") from None
    except GitError as error:
        try:  # the remote, or this repo? ls-remote needs no repo
            sha = git.ls_remote(settings.url, auth).get(ref)
        except GitError:
            raise FatalError(f"cannot reach the config repo {redact(settings.url)}: "
                             f"{error}") from None
        if sha is None:
            raise FatalError(f"the config repo {redact(settings.url)} has no branch "
                             f"{settings.branch!r}") from None
        log.warning("%s: %s (the remote answers: the checkout is at fault)", repo, error)
        return sha


def _depth(repo: Path, scratch: bool) -> int | None:
    """1 for a shallow or empty checkout; none for one with its whole history (`verify`
    needs it to check ancestry, and --depth would cut it to one commit again). Its head
    is kept in git.FETCHED, so the fetch has something to offer the server."""
    if scratch or (repo / ".git" / "shallow").exists():
        return 1
    head = git.head(repo)
    if head is None:
        return 1
    if not (repo / ".git" / git.FETCHED).exists():  # a checkout fetched before FETCHED was kept
        git.run(["update-ref", git.FETCHED, head], cwd=repo)
    return None


def _verify(repo: Path, sha: str, settings: RepoConfig) -> str | None:
    if not settings.allowed_signers:
        return None
    reason = git_objects.verify_commit(repo, sha, settings.allowed_signers)
    if reason is None:
        reason = signature.valid_now(repo, sha, settings.allowed_signers)
    if reason is None:
        return None
    log.error("config commit %s failed signature verification: %s", sha[:12], reason)
    return f"it is not signed by an allowed key: {reason}"


def _rewound(path: Path, sha: str, applied: str | None, allow_rewind: bool) -> str | None:
    """Why `sha` may not follow the last applied commit (it does not descend from it)."""
    if applied is None or applied == sha or git_objects.is_ancestor(path, applied, sha):
        return None
    if allow_rewind:
        log.warning("config commit %s does not descend from the last applied %s: applied "
                    "because --allow-rewind says so", sha[:12], applied[:12])
        return None
    reason = (f"it does not descend from the last applied commit {applied[:12]} (a rollback "
              "or a force-push); `gitops-agent run --allow-rewind` applies it once")
    log.error("config commit %s refused: %s", sha[:12], reason)
    return reason


def checkout(path: Path, settings: RepoConfig, sha: str, auth: git.Auth,
             applied: str | None = None, allow_rewind: bool = False) -> ConfigView:
    """The agent's config checkout, moved to `sha` unless it is refused: with `verify`, a
    commit must be signed by an allowed key and descend from `applied`."""
    branch = f"refs/heads/{settings.branch}"
    history = settings.allowed_signers is not None
    try:
        checkouts.fetch_commit(path, settings.url, sha, auth, branch, history)
    except GitError as error:  # a corrupt object: clone again once
        log.warning("%s: %s: cloning it again", path, error)
        checkouts.replace_repo(path)
        checkouts.fetch_commit(path, settings.url, sha, auth, branch, history)
    refused = _verify(path, sha, settings)
    if refused is None and history:
        refused = _rewound(path, sha, applied, allow_rewind)
    if refused:
        return ConfigView(sha, path, path, refused=refused)
    try:
        edited = checkouts.place(path, sha)
    except GitError as error:  # a broken index or work tree: clone again once
        log.warning("%s: %s: cloning it again", path, error)
        checkouts.replace_repo(path)
        checkouts.fetch_commit(path, settings.url, sha, auth, branch)
        edited = checkouts.place(path, sha)
    return ConfigView(sha, path, path, edited=edited)


def objects(path: Path, url: str, sha: str, auth: git.Auth, scratch: Path,
            ref: str | None = None) -> Path:
    """A repo that has commit `sha`: checkout `path` if it has it, else a scratch repo
    under `scratch` that borrows its objects and fetches the rest (`path` is not written)."""
    if (path / ".git").is_dir() and git.has_commit(path, sha):
        return path
    repo = scratch / f"objects-{sha[:12]}.git"
    if not repo.is_dir():
        git_objects.scratch_repo(repo, path if (path / ".git").is_dir() else None)
        try:
            git.fetch(repo, url, auth, sha)
        except GitError:
            if ref is None:
                raise
            git.fetch(repo, url, auth, ref)
        if not git.has_commit(repo, sha):
            raise GitError(f"{redact(url)} did not provide commit {sha}")
    return repo


def readonly(path: Path, settings: RepoConfig, sha: str, auth: git.Auth,
             scratch: Path) -> ConfigView:
    """The commit's files without touching the checkout: the checkout itself when it
    already sits there untouched, else an export under `scratch`."""
    edited: list[str] = []
    if (path / ".git").is_dir() and git.head(path) == sha:
        edited = git.local_changes(path)
        if not edited:
            return ConfigView(sha, path, path, refused=_verify(path, sha, settings))
    repo = objects(path, settings.url, sha, auth, scratch, f"refs/heads/{settings.branch}")
    directory = git_objects.export(repo, sha, scratch / "config")
    return ConfigView(sha, directory, repo, edited=edited,
                      refused=_verify(repo, sha, settings))
