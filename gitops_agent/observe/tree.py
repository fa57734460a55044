"""The config repo's tree at one commit, read from git objects (no work tree needed)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from gitops_agent import git_objects

BLOB, TREE = "blob", "tree"
# what a recorded input path was, besides a read file's digest (plan/inputs.py, shipped.py)
MISSING, FILE, DIR = "missing", "file", "dir"


@dataclass
class Tree:
    """Every entry of a commit: path -> (type, object sha); directories included."""

    commit: str
    entries: dict[str, tuple[str, str]]
    _children: dict[str, list[str]] | None = field(default=None, repr=False)

    def kind(self, path: str) -> str | None:
        """'blob', 'tree' (a submodule counts as a tree) or None when absent."""
        entry = self.entries.get(path)
        if entry is None:
            return TREE if path == "" else None
        return BLOB if entry[0] == BLOB else TREE

    def blob(self, path: str) -> str | None:
        entry = self.entries.get(path)
        return entry[1] if entry and entry[0] == BLOB else None

    def listing(self, directory: str) -> str | None:
        """A digest of a directory's entry names and kinds (not their content); None if
        it is not a directory here."""
        if self.kind(directory) != TREE:
            return None
        if self._children is None:
            children: dict[str, list[str]] = {}
            for path, (kind, _) in self.entries.items():
                parent, _, name = path.rpartition("/")
                children.setdefault(parent, []).append(f"{name}\0{kind}")
            self._children = children
        names = sorted(self._children.get(directory, ()))
        return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]

    def paths(self) -> list[str]:
        return [path for path, (kind, _) in self.entries.items() if kind == BLOB]


def parse_ls_tree(commit: str, output: str) -> Tree:
    """A Tree from `git ls-tree -r -t -z --full-tree` output."""
    entries: dict[str, tuple[str, str]] = {}
    for record in output.split("\0"):
        meta, _, name = record.partition("\t")
        if name:
            _, kind, sha = meta.split()
            entries[name] = (kind, sha)
    return Tree(commit, entries)


def read_tree(repo: Path, commit: str) -> Tree:
    """One `git ls-tree` of the whole commit (called only when the commit moved)."""
    return parse_ls_tree(commit, git_objects.ls_tree(repo, commit))
