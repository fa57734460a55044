"""Reading commits the agent already has: trees, files, ancestry, signatures."""

from __future__ import annotations

from pathlib import Path

from gitops_agent import git
from gitops_agent.git_reason import reason


def ls_tree(path: Path, sha: str) -> str:
    """Every entry of commit `sha`, directories included (`git ls-tree -r -t -z`)."""
    return git.run(["ls-tree", "-r", "-t", "-z", "--full-tree", sha], cwd=path)[1]


def scratch_repo(path: Path, borrow_from: Path | None) -> None:
    """A bare repo at `path` that reads `borrow_from`'s objects without writing to them
    (objects/info/alternates): fetches land in `path` only."""
    git.run(["init", "-q", "--bare", str(path)])
    objects = (borrow_from / ".git" / "objects") if borrow_from else None
    if objects is not None and objects.is_dir():
        (path / "objects" / "info" / "alternates").write_text(f"{objects.resolve()}\n")


def export(path: Path, sha: str, destination: Path) -> Path:
    """The files of commit `sha` of repo `path` (a checkout or a bare repo) written to
    `destination`, no .git, as a checkout has them: symlinks stay symlinks wherever they
    point, and `export-ignore` attributes leave nothing out (git archive did both, and held
    the whole tree in memory). Read through a scratch index beside it: `path` is not written."""
    destination.mkdir(parents=True, exist_ok=True)
    git_dir = path / ".git" if (path / ".git").is_dir() else path
    index = {"GIT_INDEX_FILE": str(destination.parent / f".{destination.name}.index")}
    tree = ["--git-dir", str(git_dir), "--work-tree", str(destination)]
    try:
        git.run([*tree, "read-tree", sha], env=index)
        git.run([*tree, "checkout-index", "--all"], env=index)
    finally:
        Path(index["GIT_INDEX_FILE"]).unlink(missing_ok=True)
    return destination


def is_ancestor(path: Path, older: str, newer: str) -> bool:
    """Whether commit `older` is `newer` or one of its ancestors (in `path`'s history)."""
    status, _, _ = git.run(["merge-base", "--is-ancestor", older, newer], cwd=path, check=False)
    return status == 0


def verify_commit(path: Path, sha: str, allowed_signers: str) -> str | None:
    """None when `sha` carries a good ssh signature by an allowed signer, else the reason."""
    status, _, err = git.run(
        ["-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}",
         "verify-commit", sha], cwd=path, check=False)
    return None if status == 0 else reason(err, status)
