"""The agent's side of the read tracer: the environment that loads it, and its record.

The tracer itself (trace/sitecustomize.py) runs inside ansible-playbook, its forked
workers and the Python modules they start; it appends what they opened, probed and
listed under the config checkout to one file. Here that file becomes a `Reads`, or
None when the trace cannot be trusted (the tracer did not load, failed, or the file
is over its bound): unknown inputs make the next pass apply the app.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
TRACER_DIR = Path(__file__).resolve().parent / "trace"
MAX_BYTES = 32 * 1024 * 1024  # a trace larger than this is not trusted


@dataclass
class Reads:
    """Config-repo paths (relative) one run read, probed and listed."""

    read: set[str] = field(default_factory=set)
    probed: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)


def environment(trace_file: Path, links: dict[Path, str]) -> dict[str, str]:
    """Variables that load the tracer into ansible-playbook and the Pythons it starts.

    `links` maps absolute paths to the config-repo path they stand for: the checkout
    itself ("") and the agent's links into it. Both the path given and its real path
    are traced, since Ansible resolves symlinks in some places and not in others.
    """
    roots: dict[str, str] = {}
    for path, relative in links.items():
        roots[str(path)] = relative
        roots.setdefault(os.path.realpath(path), relative)
    inherited = os.environ.get("PYTHONPATH")
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, (str(TRACER_DIR), inherited))),
        "GITOPS_TRACE_FILE": str(trace_file),
        "GITOPS_TRACE_ROOTS": "\n".join(f"{path}\t{relative}"
                                        for path, relative in roots.items()),
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ written into the checkout
    }


def parse(text: str) -> tuple[Reads | None, str | None]:
    """(reads, None), or (None, why the trace cannot be trusted)."""
    reads = Reads()
    loaded = False
    kinds = {"r": reads.read, "p": reads.probed, "l": reads.listed}
    for line in text.splitlines():
        kind, _, value = line.partition("\t")
        if kind == "v":
            loaded = loaded or value.endswith(" controller")
        elif kind == "e":
            return None, f"the read tracer failed: {value}"
        elif kind in kinds and value:
            kinds[kind].add(value)
    if not loaded:
        return None, "the read tracer did not load in ansible-playbook (or its trace was lost)"
    return reads, None


def collect(trace_file: Path) -> Reads | None:
    """The run's reads from its trace file (removed afterwards); None when unknown."""
    problem: str | None
    try:
        size = trace_file.stat().st_size
        if size > MAX_BYTES:
            reads, problem = None, f"the read trace is over {MAX_BYTES // 2**20} MiB"
        else:
            reads, problem = parse(trace_file.read_text(encoding="utf-8",
                                                        errors="surrogateescape"))
    except FileNotFoundError:
        reads, problem = None, "the read tracer did not load in ansible-playbook"
    except OSError as error:
        reads, problem = None, f"the read trace is unreadable: {error}"
    finally:
        trace_file.unlink(missing_ok=True)
    if problem:
        log.warning("%s: the next pass applies this app again", problem)
    return reads
