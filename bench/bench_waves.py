#!/usr/bin/env python3
#!/usr/bin/env python3
"""Rollouts: what a host waiting for an earlier wave pays at every pass (SPEC §4b).

    .venv/bin/python bench/bench_waves.py            # 10 and 1000 status branches
    .venv/bin/python bench/bench_waves.py --quick    # 10 and 50: the CI version

A waiting host re-reads the earlier waves' reports at every pass: observe.waves.peers(),
one depth-1 fetch of a few status branches (or, for many, a listing of the branches and
a depth-1 fetch of just those whose tip moved), then the changed reports parsed. For
a host of the second wave, the canary wave chosen by name (`hosts: [host-0001]`: only
that branch is asked for) or by labels only (every status branch is fetched): bytes
received cold, after 5 % of the hosts published, and when nothing changed (traffic.py);
wall and CPU time of one call (median); its git network calls, counted by wrapping
gitops_agent.git.run and checked against the upload-pack sessions in the trace (exit 1
unless 1 when nothing changed, at most 2). The fleet is fleet_sim.py's.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path
from typing import Any

import figures
import fleet_sim as sim
import traffic
from figures import figure
from fixtures import Sandbox

from gitops_agent import git
from gitops_agent.config.agent import DEFAULT_STATUS_BRANCH
from gitops_agent.config.fleet import Rules, Wave
from gitops_agent.observe import waves
from gitops_agent.publish import status

NETWORK = {"fetch", "ls-remote", "push", "clone"}
LABELS = {"env": "prod", "role": "web"}  # every simulated host's labels (fleet_sim)
CANARIES = {  # the first wave; every other host is in the second, "rest"
    "name": Rules(waves=(Wave("canary", hosts=("host-0001",)), Wave("rest", hosts=("*",)))),
    "labels": Rules(waves=(Wave("canary", labels={"canary": "yes"}),
                           Wave("rest", hosts=("*",)))),
}


class Commands:
    """The git commands the agent's code runs in this process (git.run wrapped), and the
    seconds spent in them."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.seconds = 0.0
        original = git.run

        def counted(args: list[str], *rest: Any, **kwargs: Any) -> Any:
            self.names.append(args[0])
            start = time.perf_counter()
            try:
                return original(args, *rest, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        git.run = counted  # host_reports.py calls git.run through the module

    def one(self, call: Any, traces: Path | None = None) -> dict[str, Any]:
        """call() once: its git commands, network ones, wall, CPU (this process and the
        git processes it waited for) and git seconds; traced: bytes, upload-pack sessions."""
        self.names, self.seconds = [], 0.0
        index = len(list(traces.glob("*.trace"))) if traces else 0
        used, start = sum(os.times()[:4]), time.perf_counter()
        got = traffic.traced(traces, call) if traces else call()
        wall, used = time.perf_counter() - start, sum(os.times()[:4]) - used
        trace = traces / f"{index}.trace" if traces else Path(os.devnull)
        text = trace.read_text(errors="replace") if trace.exists() else ""
        return {"bytes": got and got["total"], "commands": len(self.names),
                "network": sum(name in NETWORK for name in self.names),
                "sessions": len(re.findall(r"upload-pack> version 2$", text, re.MULTILINE)),
                "wall": wall, "cpu": used, "git": self.seconds}


def publish_some(fleet: sim.Fleet, when: float) -> None:
    """5 % of the hosts (the canary host-0001 first) publish: every other one a content
    change, the others a heartbeat (due: the last publish was >= 900 s before)."""
    for number, host in enumerate(fleet.hosts[1::20]):
        outcome = fleet.publish(host, sim.later(when), change=number % 2 == 0)
        if outcome != (status.PUSHED if number % 2 == 0 else status.REFRESHED):
            raise RuntimeError(f"{host}: publish said {outcome}")


def size(root: Path, hosts: int, repeat: int, commands: Commands) -> dict[str, Any]:
    fleet = sim.Fleet(root, hosts, name=f"fleet-{hosts}")
    first = sim.run_together(fleet.hosts, lambda host: fleet.publish(host, sim.later(0),
                                                                      True), 8)
    if errors := [error for _, error in first if error]:
        raise RuntimeError(f"first reports: {errors[:3]}")
    waiting = fleet.hosts[-1]
    target = fleet.target(waiting)  # what config/agent.py gives for the default branch
    assert target.pattern == DEFAULT_STATUS_BRANCH and target.per_host
    cases: dict[str, Any] = {}
    for number, (case, rules) in enumerate(CANARIES.items()):
        limit = rules.wave_of(waiting, LABELS)
        assert limit == 1, limit  # the waiting host is in the second wave
        repo, traces = root / f"waves-{hosts}-{case}.git", root / f"traces-{hosts}-{case}"
        found: set[int] = set()

        def call(repo: Path = repo, rules: Rules = rules, limit: int = limit,
                 found: set[int] = found) -> None:
            found.add(len(waves.peers(repo, target, fleet.auth, rules, limit)))

        cold = commands.one(call, traces)
        publish_some(fleet, 1000.0 * (number + 1))
        warm, same = commands.one(call, traces), commands.one(call, traces)
        timed = [commands.one(call) for _ in range(repeat)]  # a waiting host's every pass
        if found != {1 if case == "name" else hosts}:
            raise RuntimeError(f"{case}: peers() found {found} reports")
        cases[case] = {"cold": cold, "warm": warm, "same": same, "repeat": repeat, **{
            key: statistics.median(row[key] for row in timed) for key in ("wall", "cpu", "git")}}
    return cases


def report(hosts: int, case: str, results: dict[str, Any]) -> bool:
    """The figures of one case; whether its network calls are as they should be."""
    where = f"waiting host, canary by {case}, {hosts} branches"
    for key, what in (("cold", "first call (cold cache)"),
                      ("warm", "after 5 % of hosts published"), ("same", "nothing changed")):
        figure(f"{where}, bytes received, {what}", results[key]["bytes"], "bytes")
    figure(f"{where}, one call when nothing changed", f"{results['wall'] * 1000:.0f}",
           "ms median", f"CPU {results['cpu'] * 1000:.0f} ms, in git commands "
           f"{results['git'] * 1000:.0f} ms, n={results['repeat']}")
    rows = [results[key] for key in ("cold", "warm", "same")]
    figure(f"{where}, network calls per call", "/".join(str(row["network"]) for row in rows),
           "", "cold/after/nothing changed; upload-pack sessions "
           f"{'/'.join(str(row['sessions']) for row in rows)}; git commands "
           f"{'/'.join(str(row['commands']) for row in rows)}")
    # a few branches: one fetch; many: a listing, plus a fetch only when a tip moved
    return rows[2]["network"] == 1 and all(row["network"] <= 2 and row["sessions"] <= 2
                                           for row in rows)


def main() -> int:
    parser = figures.parser(__doc__)
    parser.add_argument("--hosts", type=int, nargs="+", default=[10, 1000], metavar="N",
                        help="numbers of status branches (default: 10 1000)")
    parser.add_argument("--repeat", type=int, default=7,
                        help="timed calls per case when nothing changed (default 7)")
    parser.add_argument("--quick", action="store_true",
                        help="10 and 50 branches, 3 timed calls: the CI version")
    args = parser.parse_args()
    if args.quick:
        args.hosts, args.repeat = [10, 50], 3
    started, load = figures.begin()
    ok = True
    with Sandbox("bench-waves") as box:
        box.isolate()  # the agent's code runs in this process
        commands = Commands()
        for hosts in args.hosts:
            for case, results in size(box.root, hosts, args.repeat, commands).items():
                ok = report(hosts, case, results) and ok
    figures.finish(__file__, started, load)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
