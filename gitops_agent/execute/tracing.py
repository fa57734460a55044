"""The agent's side of the read tracer: the environment that loads it, and its record.

The tracer itself (trace/sitecustomize.py) runs inside ansible-playbook, its forked
workers and the Python modules they start; it appends what they opened, probed and
listed under the config checkout to one file. Here that file becomes a `Reads`, or
None when the trace cannot be trusted (the tracer did not load, failed, or the file
is over its bound): unknown inputs make the next pass apply the app.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import py_compile
from dataclasses import dataclass, field
from pathlib import Path

from gitops_agent.execute import ansible_env

log = logging.getLogger(__name__)
TRACER_DIR = Path(__file__).resolve().parent / "trace"
SHIPPED_PREFIX = "@shipped"  # reads of the agent's own roles and playbooks
MAX_BYTES = 32 * 1024 * 1024  # a trace larger than this is not trusted


@dataclass
class Reads:
    """Config-repo paths (relative) one run read, probed and listed."""

    read: set[str] = field(default_factory=set)
    probed: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)

    def shipped(self) -> bool:
        """Whether the run used the agent's shipped roles or playbooks."""
        prefix = SHIPPED_PREFIX + "/"
        return any(path == SHIPPED_PREFIX or path.startswith(prefix)
                   for path in self.read | self.probed | self.listed)

    def in_repo(self, paths: set[str]) -> set[str]:
        prefix = SHIPPED_PREFIX + "/"
        return {path for path in paths if path != SHIPPED_PREFIX and not path.startswith(prefix)}

    def in_shipped(self, paths: set[str]) -> set[str]:
        """The shipped paths among `paths`, relative to the shipped content ("." for it)."""
        prefix = SHIPPED_PREFIX + "/"
        return {path.removeprefix(prefix) if path != SHIPPED_PREFIX else "."
                for path in paths if path == SHIPPED_PREFIX or path.startswith(prefix)}


def _shipped_roots() -> dict[str, str]:
    """The shipped content, and the real place of each of its entries: in a source
    checkout its playbooks/ and roles/ are links, which Ansible opens resolved."""
    shipped = ansible_env.SHIPPED
    roots = {str(shipped): SHIPPED_PREFIX, os.path.realpath(shipped): SHIPPED_PREFIX}
    with contextlib.suppress(OSError), os.scandir(shipped) as entries:
        for entry in entries:
            roots.setdefault(os.path.realpath(entry.path), f"{SHIPPED_PREFIX}/{entry.name}")
    return roots


def compile_once(source: Path) -> None:
    """Every Python of a run imports the tracer, and runs write no bytecode
    (PYTHONDONTWRITEBYTECODE): without a .pyc each would compile it again (~10 ms, some
    hundred times a busy pass). pip writes it at install; an editable install has none
    until this writes it, and one that cannot be written just goes without."""
    compiled = Path(importlib.util.cache_from_source(str(source)))
    with contextlib.suppress(OSError):
        if compiled.stat().st_mtime >= source.stat().st_mtime:
            return
    py_compile.compile(str(source), doraise=False, quiet=2)


def environment(trace_file: Path | None, config_dir: Path,
                links: dict[Path, str]) -> dict[str, str]:
    """Variables that load trace/sitecustomize.py into ansible-playbook and the Pythons it
    starts: its collector threshold always, its read tracer with a `trace_file`.

    The checkout is traced under the path given and its real path (Ansible resolves
    symlinks in some places and not in others); `links` maps the agent's own links into
    it to the repo path they stand for (the tracer resolves further links itself, to
    their real repo path). The shipped content is traced as SHIPPED_PREFIX.
    """
    compile_once(TRACER_DIR / "sitecustomize.py")
    inherited = os.environ.get("PYTHONPATH")
    variables = {"PYTHONPATH": os.pathsep.join(filter(None, (str(TRACER_DIR), inherited)))}
    if trace_file is None:  # blank: no tracing, even with these in the agent's environment
        return {**variables, "GITOPS_TRACE_FILE": "", "GITOPS_TRACE_ROOTS": ""}
    roots = {str(config_dir): "", os.path.realpath(config_dir): "", **_shipped_roots()}
    roots.update({str(path): relative for path, relative in links.items()})
    return {
        **variables,
        "GITOPS_TRACE_FILE": str(trace_file),
        "GITOPS_TRACE_ROOTS": "\n".join(f"{path}\t{relative}"
                                        for path, relative in roots.items()),
    }


def parse(text: str) -> tuple[Reads | None, str | None]:
    """(reads, None), or (None, why the trace cannot be trusted)."""
    reads = Reads()
    loaded = False
    kinds = {"r": reads.read, "p": reads.probed, "l": reads.listed}
    for line in text.split("\n"):  # only \n ends a line: names may hold \r, U+2028…
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
