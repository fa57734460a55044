#!/usr/bin/env python3
"""Where a no-op pass's time goes: interpreter start, imports, the git processes it
spawns, `-X importtime`, cProfile (main thread) and per-phase timers (every thread).

    .venv/bin/python bench/profile_noop.py            # 1 app and 20 apps, ~1 min
    .venv/bin/python bench/profile_noop.py --quick    # 1 app, once each
    .venv/bin/python bench/bench_noop.py --profile    # the same after bench_noop's figures

The hosts are bench_noop.py's. Each figure's label starts with `profile, N apps`.
"""

from __future__ import annotations

import collections
import os
import pstats
import re
import shutil
import statistics
import sys
from pathlib import Path

import figures
import fixtures
from figures import figure, plural
from fixtures import BenchError, Host, Sandbox

BENCH = Path(__file__).resolve().parent
DEEP = ("jsonschema", "git", "yaml", "click", "gitops_agent.pass_", "gitops_agent.config",
        "gitops_agent.config.schema", "ansible_runner", "ansible")  # imported anywhere


def profile(box: Sandbox, host: Host, repeat: int) -> None:
    """Figures for one no-op pass of `host`, whose apps were applied already."""
    label = f"profile, {plural(len(host.apps), 'app')}"
    box.agent("run", config=host.agent_config)  # a report left "applied" becomes steady
    run = ["-m", "gitops_agent", "run", "--config", str(host.agent_config)]
    python = sys.executable
    if len(host.apps) == 1:
        for what, argv in (
                ("interpreter start (python -c pass)", [python, "-c", "pass"]),
                ("+ import gitops_agent.cli", [python, "-c", "import gitops_agent.cli"]),
                ("+ import all that run needs",
                 [python, "-c", "import gitops_agent.cli, gitops_agent.commands.run"]),
                ("gitops-agent --help", [str(fixtures.VENV_BIN / "gitops-agent"), "--help"])):
            samples = [fixtures.timed(argv, env=box.env) for _ in range(repeat)]
            figure(f"{label}, {what}", f"{statistics.median(samples):.3f}", "s median",
                   f"n={repeat}")

    # the git processes: a logging shim first on PATH
    shim, log = box.root / "git-shim", box.root / f"git-calls-{len(host.apps)}.log"
    shim.mkdir(exist_ok=True)
    (shim / "git").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n'
                              f'exec "{shutil.which("git", path=box.env["PATH"])}" "$@"\n')
    (shim / "git").chmod(0o755)
    env = box.env | {"PATH": f"{shim}{os.pathsep}{box.env['PATH']}"}
    fixtures.run(box.agent_argv("run", config=host.agent_config), env=env)
    calls = log.read_text().splitlines() if log.exists() else []
    verbs = collections.Counter(next((word for word in line.split() if not word.startswith("-")
                                      and "=" not in word), "?") for line in calls)
    figure(f"{label}, git processes of one no-op pass", len(calls), "",
           ", ".join(f"{verb} {count}" for verb, count in verbs.most_common()))

    # -X importtime: cumulative microseconds per module, at its nesting depth
    done = box.run([python, "-X", "importtime", *run])
    rows = [(int(match[2]), len(match[3]), match[4]) for match in re.finditer(
        r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", done.stderr)]
    top = sorted((row for row in rows if row[1] == 1), reverse=True)
    figure(f"{label}, imports (-X importtime)", f"{sum(row[0] for row in top) / 1e6:.3f}", "s")
    deep = {module: cumulative for cumulative, _, module in rows}
    for module, cumulative in [(module, cumulative) for cumulative, _, module in top[:8]] + [
            (module, deep[module]) for module in DEEP if module in deep]:
        figure(f"{label}, import {module}", f"{cumulative / 1e6:.3f}", "s cumulative")

    # cProfile: the main thread only (worker threads show there as waiting on a lock)
    output = box.root / f"noop-{len(host.apps)}.prof"
    box.run([python, "-m", "cProfile", "-o", str(output), *run])
    stats = pstats.Stats(str(output))
    figure(f"{label}, cProfile main thread", f"{stats.total_tt:.3f}", "s")  # type: ignore[attr-defined]
    entries = sorted(((cumulative, count, f"{Path(file).name}:{line}({function})")
                      for (file, line, function), (_, count, _, cumulative, _)
                      in stats.stats.items()  # type: ignore[attr-defined]
                      if "gitops_agent" in file and function != "<module>"), reverse=True)
    for cumulative, count, where in entries[:14]:
        figure(f"{label}, cProfile {where}", f"{cumulative:.3f}", "s cumulative",
               f"{count} calls")

    # phases, every thread: summed over calls, so parallel work can exceed the wall time
    done = box.run([python, str(BENCH / "noop_phases.py"), str(host.agent_config)])
    for line in done.stderr.splitlines():
        figures.note(line)
    for line in done.stdout.splitlines():
        phase, count, seconds = line.split("\t")
        figure(f"{label}, phase {phase}", seconds, "s", f"{count} calls, all threads")


def main() -> int:
    import bench_noop

    parser = figures.parser(__doc__)
    parser.add_argument("--repeat", type=int, default=10, metavar="N",
                        help="timed runs of each start-up figure (default 10)")
    parser.add_argument("--quick", action="store_true", help="1 app, each measured once")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    started, load = figures.begin()
    try:
        with Sandbox("profile-noop") as box:
            for apps in (1,) if args.quick else (1, 20):
                host = bench_noop.build(box, apps)
                box.agent("run", config=host.agent_config)  # applies everything
                profile(box, host, repeat)
    except BenchError as error:
        figures.note(f"profile_noop: {error}")
        return 1
    figures.finish(__file__, started, load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
