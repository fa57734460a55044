#!/usr/bin/env python3
"""Fleet simulation: N hosts publish their reports to per-host status branches of ONE repo.

    .venv/bin/python bench/bench_fleet.py              # 1000 hosts, ~25 min on 2 cores
    .venv/bin/python bench/bench_fleet.py --quick      # 12 hosts: the CI version

Every host drives the agent's real code (fleet_sim.py) against one local bare repo whose
`main` is the config branch. Phases, each printing its figures as it ends:

1. burst: every host's first report, then a config commit that touches every host and
   all N publish at once (threads behind a barrier): wall time, pushes/s, retries,
   reports lost (each branch read back), hosts that gave up, git processes at once;
   for contrast, --shared-hosts hosts on one shared branch.
2. steady state: each host's pass at a random offset in the splay window; a few change
   content, heartbeats come due (injected clock); commits grow only by content pushes.
3. bytes a no-op pass receives at 10 and at N status branches, beside `git ls-remote`,
   a report push (protocol v2, v0) and clones (traffic.py).
4. a simulated month, with and without status.keep_days: commits and `du -sb` before
   and after `git gc`, extrapolated to N hosts when fewer were simulated.
5. totals: reports lost, hosts that gave up, commits added by heartbeats (exit 1 unless
   all are 0).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import figures
import fleet_sim as sim
import traffic
from figures import figure, mib, note
from fixtures import Sandbox


def publish_all(name: str, fleet: sim.Fleet, counters: sim.Counters, concurrency: int,
                when: datetime) -> dict[str, Any]:
    """Every host publishes a changed report at once; what it cost and what was lost."""
    before, start = counters.snapshot(), time.perf_counter()
    with sim.Peak(str(fleet.root)) as peak:
        results = sim.run_together(fleet.hosts, lambda host: fleet.publish(host, when, True),
                                   concurrency)
    wall, after = time.perf_counter() - start, counters.snapshot()
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    pushes = delta.get("pushes", 0) + delta.get("leased", 0)
    errors = [error for _, error in results if error]
    row = {"hosts": len(fleet.hosts), "wall": round(wall, 2), "pushes": pushes,
           "retries": delta.get("rejected", 0), "gave_up": len(errors),
           "lost": len(fleet.lost()), "peak_git": peak.git, "peak_receive_pack": peak.receive}
    figure(f"{name}, {len(fleet.hosts)} hosts", f"{wall:.1f}", "s",
           f"{pushes} pushes, {pushes / wall:.1f} pushes/s, {row['retries']} retries, "
           f"{row['lost']} reports lost, {row['gave_up']} gave up; at most {peak.git} git "
           f"processes at once, {peak.receive} of them receive-pack; {concurrency} threads")
    for error in sorted(set(errors))[:5]:
        note(f"{name}: gave up: {error}")
    return row


def steady(fleet: sim.Fleet, counters: sim.Counters, args: argparse.Namespace,
           rng: random.Random) -> dict[str, Any]:
    """Intervals of passes at random offsets in the splay window (the clock simulated,
    the window squeezed into --window real seconds); heartbeat = 2.5 intervals."""
    commits_before, before = fleet.commits(), counters.snapshot()
    outcomes: collections.Counter[str] = collections.Counter()
    late: list[float] = []
    errors: list[str] = []
    interval = 60.0

    def one_pass(host: str, when: datetime, change: bool, due: float) -> str:
        late.append(time.monotonic() - due)
        fleet.head(host)
        return fleet.publish(host, when, change)

    start = time.perf_counter()
    for number in range(args.intervals):
        base, began = 120 + number * interval, time.monotonic()
        offsets = {host: rng.uniform(0, interval) for host in fleet.hosts}
        changing = set(rng.sample(fleet.hosts, max(1, len(fleet.hosts) // 20)))
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            futures = []
            for host in sorted(fleet.hosts, key=offsets.__getitem__):
                due = began + offsets[host] / interval * args.window
                time.sleep(max(0.0, due - time.monotonic()))
                futures.append(pool.submit(one_pass, host, sim.later(base + offsets[host]),
                                           host in changing, due))
        for future in futures:
            try:
                outcomes[future.result()] += 1
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
    grown = fleet.commits() - commits_before
    row = {"passes": sum(outcomes.values()) + len(errors), "outcomes": dict(outcomes),
           "gave_up": len(errors), "lost": len(fleet.lost()), "commits_added": grown,
           "heartbeat_commits": grown - outcomes["pushed"],
           "retries": counters.snapshot().get("rejected", 0) - before.get("rejected", 0)}
    figure(f"steady state, {args.intervals} intervals of 60 simulated s", row["passes"],
           "passes", f"{outcomes['unchanged']} unchanged, {outcomes['refreshed']} heartbeats, "
           f"{outcomes['pushed']} content pushes; {row['retries']} retries, {row['lost']} "
           f"lost, {len(errors)} gave up; splay window squeezed into {args.window:g} s, "
           f"passes started a median {sorted(late)[len(late) // 2]:.2f} s late, "
           f"{time.perf_counter() - start:.0f} s")
    figure("steady state, commits added by heartbeats", row["heartbeat_commits"], "",
           f"of {grown} commits added")
    return row


def month(root: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """--days of reporting: each day --changes content changes and as many heartbeats
    between them (every pass a heartbeat is due at: the agent's 900 s heartbeat)."""
    fleets = [sim.Fleet(root, args.month_hosts, keep_days=keep, name=f"month-keep-{keep}")
              for keep in (None, args.keep_days)]
    outcomes = [collections.Counter[str]() for _ in fleets]
    steps, start = 2 * args.changes, time.perf_counter()
    for day in range(args.days):
        for step in range(steps):
            when = sim.later(day * 86400 + step * 86400 / steps)
            sim.simulated_dates(when)
            for fleet, counted in zip(fleets, outcomes, strict=True):
                counted.update(outcome or error for outcome, error in sim.run_together(
                    fleet.hosts, lambda host, fleet=fleet, when=when, step=step:
                    fleet.publish(host, when, change=step % 2 == 0), args.concurrency))
    sim.simulated_dates(None)
    rows, wall, scale = [], time.perf_counter() - start, args.hosts / args.month_hosts
    for fleet, counted in zip(fleets, outcomes, strict=True):
        label = f"month, keep_days {fleet.keep_days or 'none'}"
        row: dict[str, Any] = {"keep_days": fleet.keep_days, "commits": fleet.commits(),
               "lost": len(fleet.lost()), "content_pushes": counted["pushed"],
               "heartbeats": counted["refreshed"], "gave_up": sum(
                   number for outcome, number in counted.items()
                   if outcome not in ("pushed", "refreshed", "unchanged")),
               "bytes_before_gc": fleet.size(), "bytes_gc": sim.gc_size(fleet)}
        row["unreachable_loose"], row["unreachable_loose_bytes"] = fleet.loose()
        row["bytes_gc_cruft"] = sim.gc_size(fleet, "--cruft")
        row["cruft_pack_bytes"] = fleet.cruft()
        row["bytes_gc_prune_now"] = sim.gc_size(fleet, "--prune=now")
        figure(f"{label}, {args.month_hosts} hosts x {args.days} days", row["commits"],
               "commits", f"{row['content_pushes']} content pushes, {row['heartbeats']} "
               f"heartbeats, {row['lost']} lost, {row['gave_up']} gave up, {wall:.0f} s")
        for key, what in (("bytes_before_gc", "before gc"), ("bytes_gc", "after `git gc`"),
                          ("bytes_gc_cruft", "after `git gc --cruft`"),
                          ("bytes_gc_prune_now", "after `git gc --prune=now`")):
            figure(f"{label}, du -sb {what}", mib(row[key]))
        if scale != 1:
            figure(f"{label}, EXTRAPOLATED to {args.hosts} hosts, after `git gc --prune=now`",
                   f"~{mib(row['bytes_gc_prune_now'] * scale)}", "",
                   f"x{scale:g}, linear; ~{round(row['commits'] * scale)} commits")
        rows.append(row)
    plain, beats = rows[0], max(1, rows[0]["heartbeats"])
    figure("heartbeat garbage after `git gc`, per replaced tip",
           f"{plain['unreachable_loose'] / beats:.1f}", "loose objects",
           f"{plain['unreachable_loose_bytes'] / beats:.0f} bytes loose, "
           f"{plain['cruft_pack_bytes'] / beats:.0f} bytes in a cruft pack")
    kept = 96 * 14 * args.hosts  # heartbeats every 900 s, pruned after 2 weeks (gc default)
    figure(f"ESTIMATED heartbeat garbage, {args.hosts} hosts every 900 s, kept 2 weeks",
           f"{kept * plain['unreachable_loose'] / beats / 1e6:.1f} M", "loose objects",
           f"{mib(kept * plain['unreachable_loose_bytes'] / beats)} loose, "
           f"{mib(kept * plain['cruft_pack_bytes'] / beats)} as a cruft pack")
    return rows


def main() -> int:
    parser = figures.parser(__doc__)
    add = parser.add_argument
    add("--hosts", type=int, default=1000, help="hosts, one branch each (default 1000)")
    add("--concurrency", type=int, help="threads publishing at once (default: all hosts)")
    add("--intervals", type=int, default=5, help="steady-state intervals (default 5)")
    add("--window", type=float, help="real seconds per splay window (default hosts/40)")
    add("--samples", type=int, default=20, help="hosts measured for bytes (default 20)")
    add("--shared-hosts", type=int, default=50,
        help="hosts of the contrast run on one shared branch (0: none; default 50)")
    add("--month-hosts", type=int, default=100, help="hosts of the month (default 100)")
    add("--days", type=int, default=30, help="days of the month (default 30)")
    add("--changes", type=int, default=2, help="content changes per day (default 2)")
    add("--keep-days", type=int, default=7, help="the month's keep_days (default 7)")
    add("--quick", action="store_true",
        help="12 hosts, 1 interval, 3 hosts x 5 days: the CI version")
    add("--json", type=Path, help="also write every figure to this file")
    add("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args()
    if args.quick:
        args.hosts, args.intervals, args.month_hosts, args.days = 12, 1, 3, 5
        args.samples, args.keep_days, args.shared_hosts = 3, 2, 3
    args.concurrency = args.concurrency or args.hosts
    args.window = args.window if args.window is not None else args.hosts / 40
    args.month_hosts = min(args.month_hosts, args.hosts)
    started, load = figures.begin()
    rng, results = random.Random(args.seed), dict[str, Any]()
    with Sandbox("bench-fleet") as box:
        box.isolate()  # the agent's code runs in this process
        counters = sim.Counters()
        fleet = sim.Fleet(box.root, args.hosts, heartbeat=150)
        results["initial"] = publish_all("first report (creates the branches)", fleet,
                                         counters, args.concurrency, sim.later(0))
        fleet.commit_config("release 2: touches every host")
        results["burst"] = publish_all("burst (a config commit touching every host)", fleet,
                                       counters, args.concurrency, sim.later(60))
        results["steady"] = steady(fleet, counters, args, rng)
        if args.shared_hosts:  # for contrast: one branch for all (status.branch fixed)
            shared = sim.Fleet(box.root, args.shared_hosts, name="shared",
                               branch="gitops-status-all")
            for number, what in enumerate(("first report", "burst")):
                if number:
                    shared.commit_config("release 2: touches every host")
                results[f"shared {what}"] = publish_all(
                    f"contrast, one shared branch, {what}", shared, counters,
                    args.shared_hosts, sim.later(60 * number))
        small = sim.Fleet(box.root, min(10, args.hosts), heartbeat=150, name="small")
        small.commit_config("release 2: touches every host")  # the same config tree
        sim.run_together(small.hosts, lambda host: small.publish(host, sim.later(0), True),
                         args.concurrency)
        results["bytes"] = [traffic.noop_bytes(one, one.root / "traces", args.samples)
                            for one in (small, fleet)]
        for row in results["bytes"]:
            traffic.show(row)
        results["month"] = month(box.root, args)
    steady_row, month_rows = results["steady"], results["month"]
    totals = {  # (what must be 0, the phases it sums): its value
        ("reports lost", "burst, steady state, month"): sum(
            row["lost"] for row in [results["burst"], steady_row, *month_rows]),
        ("hosts that gave up", "first report, burst, steady state, month"): sum(
            row["gave_up"] for row in [results["initial"], results["burst"], steady_row,
                                       *month_rows]),
        ("commits added by heartbeats", "steady state, month"):
            steady_row["heartbeat_commits"] + month_rows[0]["commits"]
            - month_rows[0]["content_pushes"]}
    for (what, phases), value in totals.items():
        figure(f"total, {what}", value, "", phases)
    for message, count in counters.warnings.items():
        note(f"agent warning x{count}: {message}")
    figures.finish(__file__, started, load)
    if args.json:
        args.json.write_text(json.dumps(results | {"totals": {
            what: value for (what, _), value in totals.items()}}, indent=2) + "\n")
    return 0 if not any(totals.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
