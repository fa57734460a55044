"""An app's recorded inputs, and what changed in them (pure: no I/O).

After a successful apply the agent keeps what that apply read from the config repo,
as traced inside ansible-playbook (execute/tracing.py): each file it opened with its
blob id, each path it probed with what it found (`file`, `dir` or `missing`), each
directory it listed with a digest of the names in it. Besides those, the things the
agent itself feeds the run: the app file, its `paths:` globs, the source commit, the
host's name and labels, the agent's shipped files it read (plan/shipped.py), and the
digests of its `watch:` files.

The next pass compares all of that with the new commit's tree; anything that differs
is a reason to apply, named in the plan (`playbooks/web.yml changed`).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gitops_agent.observe.shipped import SHIPPED_FACT
from gitops_agent.observe.tree import BLOB, DIR, FILE, MISSING, Tree
from gitops_agent.plan import shipped

__all__ = ["Inputs", "Tree", "changes", "from_dict", "record", "uses"]

FORMAT = 2  # bumped when the recorded form changes: older records mean "unknown"
SHOWN = 3  # changed paths named in a reason; the rest are counted


@dataclass
class Inputs:
    """What one apply depended on."""

    commit: str  # the config commit it was applied from
    files: dict[str, str] = field(default_factory=dict)  # path -> blob sha | file | dir | missing
    listings: dict[str, str] = field(default_factory=dict)  # directory -> names digest
    globs: dict[str, str] = field(default_factory=dict)  # `paths:` glob -> matches digest
    source_commit: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # host, labels, shipped content
    watch: dict[str, str] = field(default_factory=dict)  # local path -> content digest
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_dict(data: Any) -> Inputs | None:
    """Recorded inputs from state; None for anything of another format or shape."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    try:
        inputs = Inputs(**data)
    except TypeError:
        return None
    if not isinstance(inputs.commit, str) or not all(
        isinstance(value, dict) for value in (inputs.files, inputs.listings, inputs.globs,
                                              inputs.facts, inputs.watch)):
        return None
    return inputs


def entry(tree: Tree, path: str, read: bool) -> str:
    """What `path` is in `tree`, as recorded: the blob id for a file that was read."""
    kind = tree.kind(path)
    if kind is None:
        return MISSING
    if kind == BLOB:
        return (tree.blob(path) or FILE) if read else FILE
    return DIR


def glob_digest(tree: Tree, glob: str) -> str:
    matched = sorted(f"{path}\0{tree.blob(path)}" for path in tree.paths()
                     if fnmatch.fnmatchcase(path, glob))
    return hashlib.sha256("\n".join(matched).encode()).hexdigest()[:16]


def record(tree: Tree, read: Iterable[str], probed: Iterable[str], listed: Iterable[str],
           always: Iterable[str], globs: Iterable[str], source_commit: str | None,
           facts: Mapping[str, Any], watch: Mapping[str, str]) -> Inputs:
    """Inputs of an apply from commit `tree.commit`: the traced paths resolved in its tree.

    `always` are config-repo files the agent itself reads for the app (its app file).
    """
    files: dict[str, str] = {}
    for path in probed:
        files[path] = entry(tree, path, read=False)
    for path in (*read, *always):
        files[path] = entry(tree, path, read=True)
    listings = {directory: tree.listing(directory) or MISSING for directory in listed}
    return Inputs(commit=tree.commit, files=files, listings=listings,
                  globs={glob: glob_digest(tree, glob) for glob in globs},
                  source_commit=source_commit, facts=dict(facts), watch=dict(watch))


def _name_changes(inputs: Inputs, tree: Tree) -> list[str]:
    """Config-repo paths whose recorded state differs in `tree`, each said once."""
    changes: list[str] = []
    for path, was in sorted(inputs.files.items()):
        now = entry(tree, path, read=was not in (MISSING, FILE, DIR))
        if now == was:
            continue
        if was == MISSING:
            changes.append(f"{path} appeared")
        elif now == MISSING:
            changes.append(f"{path} was removed")
        else:
            changes.append(f"{path} changed")
    for directory, was in sorted(inputs.listings.items()):
        if (tree.listing(directory) or MISSING) != was:
            changes.append(f"the entries of {directory or 'the repo root'}/ changed")
    for glob, was in sorted(inputs.globs.items()):
        if glob_digest(tree, glob) != was:
            changes.append(f"files matching paths: {glob} changed")
    return changes


def summarize(changes: list[str]) -> list[str]:
    if len(changes) <= SHOWN:
        return changes
    return [*changes[:SHOWN], f"and {len(changes) - SHOWN} more"]


def changes(inputs: Inputs, tree: Tree | None, globs: Iterable[str],
            source_commit: str | None, facts: Mapping[str, Any],
            watch: Mapping[str, str]) -> list[str]:
    """Why the recorded inputs no longer hold; [] when nothing the app used changed.

    `tree` is the desired commit's tree; None means the commit is the recorded one.
    """
    found: list[str] = []
    if tree is not None and tree.commit != inputs.commit:
        found += _name_changes(inputs, tree)
    if set(globs) != set(inputs.globs):
        found.append("its paths: globs changed")
    if source_commit != inputs.source_commit:
        found.append(f"source moved to {(source_commit or 'none')[:12]}")
    for key in sorted(inputs.facts):  # the facts that apply depended on
        if key == SHIPPED_FACT:
            found += shipped.changes(inputs.facts[key], facts.get(key))
        elif facts.get(key) != inputs.facts[key]:
            found.append(f"host {key} changed")
    for path in sorted(set(watch) | set(inputs.watch)):
        if watch.get(path) != inputs.watch.get(path):
            found.append(f"watched file {path} changed")
    return summarize(found)


def uses(inputs: Inputs, paths: Iterable[str]) -> list[str]:
    """Which of `paths` (config-repo files) the recorded inputs include."""
    listed = set(inputs.listings)
    return [path for path in paths
            if path in inputs.files or path.rpartition("/")[0] in listed
            or any(fnmatch.fnmatchcase(path, glob) for glob in inputs.globs)]
