"""Status branch commits: write one from files, find a parent, trim old history.

All of it in a bare repo with a private index: no work tree, nothing checked out.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from gitops_agent import git

DAY = 86400


def _identity(date: str | None = None) -> dict[str, str]:
    name, email = git.IDENTITY
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
           "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return env


def commit(repo: Path, parent: str | None, files: dict[str, str], message: str,
           when: datetime | None = None) -> str:
    """A commit of `parent`'s tree with `files` written over it, dated `when` (the same
    clock that later decides what to trim; default now)."""
    with tempfile.TemporaryDirectory() as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        if parent:
            git.run(["read-tree", parent], cwd=repo, env=index)
        for path, text in files.items():
            blob_file = Path(scratch) / "blob"
            blob_file.write_text(text, encoding="utf-8")
            _, blob, _ = git.run(["hash-object", "-w", "--", str(blob_file)], cwd=repo)
            git.run(["update-index", "--add", "--cacheinfo", f"100644,{blob.strip()},{path}"],
                    cwd=repo, env=index)
        _, tree, _ = git.run(["write-tree"], cwd=repo, env=index)
    parents = ["-p", parent] if parent else []
    _, sha, _ = git.run(["commit-tree", tree.strip(), *parents, "-m", message],
                        cwd=repo, env=_identity(_git_date(when) if when else None))
    return sha.strip()


def _git_date(when: datetime) -> str:
    return f"@{int(when.timestamp())} +0000"


def parent_of(repo: Path, sha: str) -> str | None:
    """The first parent of `sha` (None for a root commit), read from the commit itself;
    GitError when this repo lacks it (a shallow fetch): replacing a tip must never turn
    it into a root and drop the branch's history."""
    _, raw, _ = git.run(["cat-file", "commit", sha], cwd=repo)
    header = raw.split("\n\n", 1)[0]
    parents = [line[7:47] for line in header.splitlines() if line.startswith("parent ")]
    if not parents:
        return None
    if not git.has_commit(repo, parents[0]):
        raise git.GitError(f"the parent of {sha[:12]} is not fetched")
    return parents[0]


def own_tip(repo: Path, tip: str, paths: tuple[str, ...]) -> bool:
    """Whether `tip` is the agent's own commit touching only `paths` (one parent at
    most): only such a tip may be replaced; anyone else's commit is built upon."""
    _, out, _ = git.run(["log", "-1", "--format=%an%x00%P", tip], cwd=repo)
    author, _, parents = out.strip("\n").partition("\0")
    if author != git.IDENTITY[0] or len(parents.split()) > 1:
        return False
    _, names, _ = git.run(["diff-tree", "--root", "--no-commit-id", "--name-only", "-r", "-z",
                           tip], cwd=repo)
    return set(filter(None, names.split("\0"))) <= set(paths)


def trimmed(repo: Path, tip: str, keep_days: int, now: datetime) -> str:
    """`tip` with its history older than `keep_days` squashed into one root commit that
    holds the files as they were then; `tip` itself when there is nothing to trim. It
    trims only once the oldest commit is a day past the limit, so it rewrites at most
    about once a day. Each kept commit keeps its tree, message and date."""
    _, out, _ = git.run(["rev-list", "--first-parent", "--format=%ct %T", tip], cwd=repo)
    lines = out.splitlines()
    chain = [(lines[i].split()[1], *lines[i + 1].split()) for i in range(0, len(lines), 2)]
    chain.reverse()  # oldest first: (sha, time, tree)
    cutoff = (now - timedelta(days=keep_days)).timestamp()
    if len(chain) < 2 or int(chain[0][1]) >= cutoff - DAY:
        return tip
    # cut after the newest commit older than the cutoff (times need not be in order)
    last_old = max(index for index, entry in enumerate(chain) if int(entry[1]) < cutoff)
    old, kept = chain[:last_old + 1], chain[last_old + 1:]
    if len(kept) < 2:  # only the new commit left: a long gap or a clock far ahead
        return tip
    boundary = old[-1]
    stamp = datetime.fromtimestamp(int(boundary[1])).strftime("%Y-%m-%d")
    _, new, _ = git.run(["commit-tree", boundary[2], "-m",
                         f"history before {stamp} trimmed (status.keep_days: {keep_days})"],
                        cwd=repo, env=_identity(f"@{boundary[1]} +0000"))
    for sha, when, tree in kept:
        _, message, _ = git.run(["log", "-1", "--format=%B", sha], cwd=repo)
        _, new, _ = git.run(["commit-tree", tree, "-p", new.strip(), "-m", message.strip()],
                            cwd=repo, env=_identity(f"@{when} +0000"))
    return new.strip()
