#!/usr/bin/env python3
"""Benchmark: does the agent re-apply exactly the apps whose inputs changed?

Run it from the repo root with the project's venv:

    .venv/bin/python bench/bench_inputs.py [--family NAME ...] [--quick] [--jobs N] [--keep]

It replays the families of tests/corpus/ (the same replay as
tests/integration/test_exact_inputs.py) through the real `gitops-agent run`: every family
is a small config repo in a bare git repo, applied once, then one commit and one pass per
step. For each family it prints the steps, the re-applies the steps call for, the misses
(an app that read the changed file and did not re-apply) and the false triggers (an app
that re-applied though it read nothing that changed), with the step names, and the
seconds the replay took. Then one total line. Exit code 1 when anything was missed.

Everything lives in one temp dir (HOME included), removed at the end unless --keep.
Nothing goes over the network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from tests.corpus_replay import Family, Replay, families, load, replay  # noqa: E402

QUICK = ("first_found", "lookup_file", "templated_include")  # the CI subset


def isolate(root: Path) -> None:
    """HOME in the temp dir, and no GIT_*, ANSIBLE_* or PYTHON* setting of the caller."""
    home = root / "home"
    home.mkdir()
    os.environ["HOME"] = str(home)
    os.environ["XDG_STATE_HOME"] = str(home / ".local" / "state")
    os.environ.pop("GITOPS_AGENT_CONFIG", None)
    for name in [name for name in os.environ
                 if name.startswith(("GIT_", "ANSIBLE_", "PYTHON"))]:
        del os.environ[name]


def pairs(items: list[tuple[str, str]]) -> str:
    """'[web: step name; db: other step]' for (step, app) pairs."""
    return "[" + "; ".join(f"{app}: {step}" for step, app in items) + "]"


def line(result: Replay, width: int) -> str:
    family = result.family
    text = (f"{family.name:<{width}} steps={len(family.steps)} needed={result.needed} "
            f"misses={len(result.misses)} false_triggers={len(result.false_triggers)} "
            f"{result.seconds:6.1f}s")
    if not result.first_ok:
        lines = result.first.stderr.strip().splitlines()
        errors = [line.split(" ERROR ", 1)[1] for line in lines if " ERROR " in line]
        reason = "; ".join(errors) or (lines[-1] if lines else "")
        return f"{text}  FIRST APPLY FAILED rc={result.first.rc}: {reason[:300]}"
    if result.misses:
        text += f"  misses={pairs(result.misses)}"
    if result.false_triggers:
        text += f"  false_triggers={pairs(result.false_triggers)}"
        causes = sorted({step.cause for step in result.steps
                         if step.false_triggers and step.cause})
        if causes:
            text += f" cause: {'; '.join(causes)}"
    errors = [f"{step.name}: rc={step.rc}" for step in result.steps if step.rc != 0]
    errors += [f"{step.name}: {failure}" for step in result.steps if not step.misses
               for failure in step.check_failures]  # a missed step's checks fail anyway
    if errors:
        text += "  errors=[" + "; ".join(errors) + "]"
    return text


def select(names: list[str] | None, quick: bool) -> list[Family]:
    available = {path.stem: path for path in families()}
    wanted = list(QUICK) if quick else names or sorted(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        sys.exit(f"unknown family {', '.join(unknown)}; the corpus has: "
                 f"{', '.join(sorted(available))}")
    return [load(available[name]) for name in wanted]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--family", action="append", metavar="NAME",
                       help="replay just this family (repeatable)")
    which.add_argument("--quick", action="store_true",
                       help=f"the CI subset: {', '.join(QUICK)}")
    parser.add_argument("--jobs", type=int, default=2, metavar="N",
                        help="families replayed at once (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    selected = select(args.family, args.quick)
    root = Path(tempfile.mkdtemp(prefix="bench-inputs-"))
    isolate(root)
    width = max(len(family.name) for family in selected)
    clock = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = []
            for result in pool.map(lambda family: replay(family, root / family.name),
                                   selected):
                print(line(result, width), flush=True)
                results.append(result)
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    misses = sum(len(result.misses) for result in results)
    print(f"families={len(results)} steps={sum(len(r.family.steps) for r in results)} "
          f"needed={sum(r.needed for r in results)} misses={misses} "
          f"false_triggers={sum(len(r.false_triggers) for r in results)} "
          f"seconds={time.monotonic() - clock:.0f}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
