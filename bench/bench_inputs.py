#!/usr/bin/env python3
"""Change detection: does the agent re-apply exactly the apps whose inputs changed?

    .venv/bin/python bench/bench_inputs.py                     # every family, ~65 s
    .venv/bin/python bench/bench_inputs.py --quick             # 1 family: the CI version
    .venv/bin/python bench/bench_inputs.py --family first_found --family library

It replays the families of tests/corpus/ through the real `gitops-agent run`, as
tests/integration/test_exact_inputs.py does: each family is a small config repo, applied
once, then one commit and one pass per step. A miss: an app read the changed file and
did not re-apply. A false trigger: an app re-applied though nothing it read changed.
One figure per family (its misses; then its false triggers, steps and seconds, and the
(app: step) pairs of each), then the total. Exit 1 when anything was missed; false
triggers cost a run but break nothing. A family whose first apply fails counts all its
re-applies as missed.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import figures
from figures import figure, plural
from fixtures import Sandbox

from tests.corpus_replay import Family, Replay, families, load, replay

QUICK = ("lookup_file",)  # the CI subset: tests/integration replays every family


def pairs(items: list[tuple[str, str]]) -> str:
    """'web: step name; db: other step' for (step, app) pairs."""
    return "; ".join(f"{app}: {step}" for step, app in items)


def show(result: Replay) -> None:
    family = result.family
    details = [f"{plural(len(result.false_triggers), 'false trigger')}, "
               f"{result.needed} re-applies needed, {plural(len(family.steps), 'step')}, "
               f"{result.seconds:.1f} s"]
    if not result.first_ok:
        lines = result.first.stderr.strip().splitlines()
        errors = [line.split(" ERROR ", 1)[1] for line in lines if " ERROR " in line]
        reason = "; ".join(errors) or (lines[-1] if lines else "")
        details.append(f"FIRST APPLY FAILED rc={result.first.rc}: {reason[:300]}")
    else:
        if result.misses:
            details.append(f"missed: {pairs(result.misses)}")
        if result.false_triggers:
            causes = sorted({step.cause for step in result.steps
                             if step.false_triggers and step.cause})
            details.append(f"false triggers: {pairs(result.false_triggers)}"
                           + (f", cause: {'; '.join(causes)}" if causes else ""))
        errors = [f"{step.name}: rc={step.rc}" for step in result.steps if step.rc != 0]
        errors += [f"{step.name}: {failure}" for step in result.steps if not step.misses
                   for failure in step.check_failures]  # a missed step's checks fail anyway
        if errors:
            details.append(f"errors: {'; '.join(errors)}")
    figure(f"family {family.name}", len(result.misses), "misses", "; ".join(details))


def select(names: list[str] | None, quick: bool) -> list[Family]:
    available = {path.stem: path for path in families()}
    wanted = list(QUICK) if quick else names or sorted(available)
    if unknown := [name for name in wanted if name not in available]:
        sys.exit(f"unknown family {', '.join(unknown)}; the corpus has: "
                 f"{', '.join(sorted(available))}")
    return [load(available[name]) for name in wanted]


def main() -> int:
    parser = figures.parser(__doc__)
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
    started, load = figures.begin()
    with Sandbox("bench-inputs", args.keep) as box:
        box.isolate()  # the replay runs the agent's CLI with os.environ
        results = []
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for result in pool.map(lambda family: replay(family, box.root / family.name),
                                   selected):
                show(result)
                results.append(result)
    misses = sum(len(result.misses) for result in results)
    figure(f"all {len(results)} families", misses, "misses",
           f"{sum(len(result.false_triggers) for result in results)} false triggers, "
           f"{sum(result.needed for result in results)} re-applies needed, "
           f"{sum(len(result.family.steps) for result in results)} steps")
    figures.finish(__file__, started, load)
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
