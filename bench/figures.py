"""How the benchmark scripts report: one line per figure, `label: value unit (details)`,
then a `machine:` line, and last `reproduce: <the command>`. Progress goes to stderr, so
stdout holds only those lines and can be pasted into docs/benchmarks.md as it is.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def figure(label: str, value: object, unit: str = "", details: str = "") -> None:
    """Print one figure: `label: value unit (details)`."""
    text = f"{label}: {value}" + (f" {unit}" if unit else "")
    print(text + (f" ({details})" if details else ""), flush=True)


def note(text: str) -> None:
    """Progress and diagnostics: stderr, never mixed with the figures."""
    print(text, file=sys.stderr, flush=True)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def mib(size: float) -> str:
    """A size in bytes, as MiB (or KiB below one MiB)."""
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 1024:.1f} KiB"


def parser(doc: str) -> argparse.ArgumentParser:
    """A script's flags: its docstring's first paragraph says what it measures, the rest
    (how to run it) follows the flags."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog=doc.split("\n\n", 1)[1])


def begin() -> tuple[float, float]:
    """(when the run started, the load then), for finish()."""
    return time.monotonic(), os.getloadavg()[0]


def finish(script: str, started: float, load_at_start: float) -> None:
    """The last two lines: `machine:` and `reproduce:`."""
    machine(load_at_start, started)
    reproduce(script)


def reproduce(script: str) -> None:
    """The last line: the command that runs this benchmark again, as it was called."""
    argv = [".venv/bin/python", f"bench/{Path(script).name}", *sys.argv[1:]]
    print(f"reproduce: {shlex.join(argv)}", flush=True)


def machine(load_at_start: float, started: float) -> None:
    """One `machine:` line: CPU, cores, versions, the commit measured, load and run time."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.machine())
    head = _output("git", "-C", str(PROJECT), "rev-parse", "--short=12", "HEAD") or "?"
    dirty = _output("git", "-C", str(PROJECT), "status", "--porcelain", "--", "gitops_agent")
    load = os.getloadavg()[0]
    busy = "; busy: trust min and CPU over medians" if max(load, load_at_start) > 0.5 else ""
    print(f"machine: {cpu}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
          f"kernel {platform.release()}, Python {platform.python_version()}, "
          f"{_output('git', '--version')}, ansible-core {_version('ansible-core')}, "
          f"ansible-runner {_version('ansible-runner')}, gitops-agent at {head}"
          f"{' + uncommitted changes' if dirty else ''}, load {load_at_start:.2f} -> "
          f"{load:.2f}{busy}, {time.monotonic() - started:.0f} s in all", flush=True)


def _output(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


# --------------------------------------------------------------------------- timing


@dataclass
class Samples:
    """Wall seconds of repeated measurements, and the CPU (user+sys) of the child
    processes each one reaped."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @contextmanager
    def measure(self) -> Iterator[None]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        yield
        self.wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def show(self, label: str) -> None:
        cpu = f", CPU {statistics.median(self.cpu):.3f} s" if self.cpu else ""
        figure(label, f"{self.median:.3f}", "s median",
               f"min {min(self.wall):.3f} s, max {max(self.wall):.3f} s{cpu}, "
               f"n={len(self.wall)}")


