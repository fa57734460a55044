"""The agent's shipped content (the `deploy:` playbook and roles) as an app's runs read it.

The read tracer reports reads under the shipped content as `@shipped/<path>`
(execute/tracing.py). After a traced run that read any, the app's inputs keep, under the
host fact SHIPPED_FACT, what each such path was: the sha256 of a file it read, the kind
of a path it only probed (`file`, `dir`, `missing`), a digest of the names in a
directory it listed. Paths are relative to the shipped content ("." is its root).

Before each plan, `current()` gives the same for the recorded paths only, as they are
now; the plan (plan/shipped.py) names each one that differs. So an agent upgrade whose
shipped files are byte-identical re-applies nothing, and a changed shipped file
re-applies just the apps whose runs read it.

File digests are kept per process, keyed by the file's stat: a pass with nothing new
stats the recorded files and hashes none of them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops_agent.execute import ansible_env
from gitops_agent.observe import watch
from gitops_agent.observe.tree import DIR, FILE, MISSING

SHIPPED_FACT = "shipped content"
FILES, LISTINGS = "files", "listings"
KINDS = (MISSING, FILE, DIR)  # what a probe records; anything else is a read file's digest
_digests: dict[str, tuple[tuple[int, ...], str]] = {}  # path -> (its stat, its sha256)


@dataclass(frozen=True)
class Entries:
    """Shipped paths -> what they were (FILES), shipped directories -> names digest."""

    files: Mapping[str, str] = field(default_factory=dict)
    listings: Mapping[str, str] = field(default_factory=dict)


def _inside(path: Any) -> bool:
    return isinstance(path, str) and bool(path) and not path.startswith("/") \
        and ".." not in path.split("/")


def _entries(value: Any) -> bool:
    return isinstance(value, dict) and all(
        _inside(path) and isinstance(entry, str) for path, entry in value.items())


def parse(value: Any) -> Entries | None:
    """Recorded entries; None for any other shape (an older agent recorded its version)."""
    if not isinstance(value, dict) or not (_entries(value.get(FILES))
                                           and _entries(value.get(LISTINGS))):
        return None
    return Entries(value[FILES], value[LISTINGS])


def _entry(relative: str, read: bool) -> str:
    path = os.path.join(ansible_env.SHIPPED, relative)
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    if stat.S_ISDIR(status.st_mode):
        return DIR
    if not read:
        return FILE
    key = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns,
           status.st_ctime_ns)
    cached = _digests.get(path)
    if cached is None or cached[0] != key:
        cached = _digests[path] = (key, watch.digest(path))
    return cached[1]


def _listing(relative: str) -> str:
    try:
        names = sorted(os.listdir(os.path.join(ansible_env.SHIPPED, relative)))
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    text = "\n".join(names).encode("utf-8", "surrogateescape")
    return hashlib.sha256(text).hexdigest()[:16]


def record(read: Iterable[str], probed: Iterable[str], listed: Iterable[str]
           ) -> dict[str, dict[str, str]]:
    """The fact for a run that read, probed and listed these shipped paths."""
    files = {path: _entry(path, read=False) for path in probed}
    files.update({path: _entry(path, read=True) for path in read})
    return {FILES: files, LISTINGS: {path: _listing(path) for path in listed}}


def recorded(*inputs: Any) -> list[Any]:
    """The fact's values in recorded inputs (state's `inputs`, `failed_inputs`)."""
    return [data["facts"][SHIPPED_FACT] for data in inputs
            if isinstance(data, dict) and isinstance(data.get("facts"), dict)
            and SHIPPED_FACT in data["facts"]]


def current(values: Iterable[Any]) -> dict[str, dict[str, str]]:
    """The recorded paths of `values` as they are now (other shapes are skipped)."""
    read: set[str] = set()
    probed: set[str] = set()
    listed: set[str] = set()
    for entries in filter(None, map(parse, values)):
        for path, was in entries.files.items():
            (probed if was in KINDS else read).add(path)
        listed.update(entries.listings)
    return record(read, probed - read, listed)
