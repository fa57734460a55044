"""Remote heads (`git ls-remote`) and what an app's source ref resolves to."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gitops_agent import git
from gitops_agent.config import App
from gitops_agent.errors import GitError
from gitops_agent.execute import checkouts
from gitops_agent.git_reason import redact

Remotes = dict[str, dict[str, str] | GitError]


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
    """A ref's commit from ls-remote output, as SPEC section 4 says: 7-40 hex digits are a
    commit (None here for an abbreviated one: resolve_short_sha finds it), never a
    branch or tag of that name; a full name (refs/heads/x) is taken as it is; otherwise
    a tag (peeled) wins over a branch, as in git."""
    if git.FULL_SHA.match(ref):
        return ref
    if git.SHORT_SHA.match(ref):
        return None
    if ref.startswith("refs/"):
        return refs.get(f"{ref}^{{}}") or refs.get(ref)
    for name in (f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", f"refs/heads/{ref}"):
        if name in refs:
            return refs[name]
    return None


def resolve_short_sha(path: Path, url: str, prefix: str, auth: git.Auth,
                      readonly: bool = False) -> str:
    """Resolve an abbreviated sha against the full history of `url` (fetched into the
    app's checkout; with `readonly`, only from what the checkout already has)."""
    if readonly:
        sha = git.resolve_short(path, prefix) if (path / ".git").is_dir() else None
        if sha is None:
            raise GitError(f"ref {prefix!r} is an abbreviated sha: only a run can resolve it")
        return sha
    checkouts.ensure_repo(path)
    current = git.head(path)
    if current and current.startswith(prefix):
        return current
    git.fetch_all(path, url, auth)
    sha = git.resolve_short(path, prefix)
    if sha is None:
        raise GitError(f"ref {prefix!r} is neither a branch, a tag nor a commit of {redact(url)}")
    return sha




def source_commit(app: App, remotes: Remotes, checkout: Path, auth: git.Auth,
                  readonly: bool = False) -> tuple[str | None, str | None]:
    """(the commit `app`'s source ref names, None) or (None, why it cannot be known)."""
    if app.source is None:
        return None, None
    url, ref = app.source.url, app.source.ref
    if git.FULL_SHA.match(ref):
        return ref, None
    refs = remotes.get(url)
    if isinstance(refs, GitError):
        return None, f"cannot reach the source repo {redact(url)}: {refs}"
    sha = resolve_ref(refs or {}, ref)
    if sha is None and git.SHORT_SHA.match(ref):
        try:
            sha = resolve_short_sha(checkout, url, ref, auth, readonly)
        except GitError as error:
            return None, str(error)
    if sha is None:
        return None, f"ref {ref!r} is neither a branch, a tag nor a commit of {redact(url)}"
    return sha, None
