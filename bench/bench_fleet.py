#!/usr/bin/env python3
"""Fleet simulation: N hosts publish their reports to per-host status branches of ONE repo.

    .venv/bin/python bench/bench_fleet.py                # 1000 hosts, ~25 min on 2 cores
    .venv/bin/python bench/bench_fleet.py --quick        # 20 hosts, the version CI runs

Every host drives the agent's real code (status.publish with a real StatusConfig, its own
cache repo, a report from report.build; config_repo.remote_head for the no-op check)
against one local bare repo whose `main` is the config branch. Phases:

1. burst: every host's first report, then a config commit that touches every host and
   all N publish a changed report at once (threads behind a barrier). Reports lost (each
   branch's hosts/<host>.yml read back and compared), hosts that gave up, pushes/s,
   retries; then, for contrast, --shared-hosts hosts on one shared branch.
2. steady state: intervals where each host's pass starts at a random offset in the splay
   window; most passes are no-ops, a few change content, heartbeats come due (injected
   clock). Heartbeats must replace the tip: commits grow only by content pushes.
3. bytes a no-op pass receives, per host, at 10 and at N status branches (GIT_TRACE_PACKET
   and GIT_TRACE_PACKFILE), beside `git ls-remote` and one report push (protocol v0, v2).
4. a simulated month for --month-hosts hosts, with and without status.keep_days: commits,
   `du -sb` after `git gc`, extrapolated to N hosts when fewer were simulated.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import fleet_sim as sim  # noqa: E402

from gitops_agent.git import scrub_environment  # noqa: E402


def publish_all(fleet: sim.Fleet, counters: sim.Counters, concurrency: int, when: datetime,
                change: bool) -> dict[str, Any]:
    """Every host publishes at once; what it cost and what was lost."""
    before = counters.snapshot()
    start = time.perf_counter()
    with sim.Peak(str(fleet.root)) as peak:
        results = sim.run_together(fleet.hosts, lambda host: fleet.publish(host, when, change),
                               concurrency)
    wall = time.perf_counter() - start
    after = counters.snapshot()
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    pushes = delta.get("pushes", 0) + delta.get("leased", 0)
    errors = [error for _, error in results if error]
    return {"hosts": len(fleet.hosts), "concurrency": concurrency, "wall": round(wall, 2),
            "peak_git": peak.git, "peak_receive_pack": peak.receive,
            "pushes": pushes, "pushes_per_s": round(pushes / wall, 1),
            "retries": delta.get("rejected", 0), "push_errors": delta.get("push_errors", 0),
            "outcomes": dict(collections.Counter(outcome for outcome, _ in results)),
            "gave_up": len(errors), "errors": sorted(set(errors))[:5],
            "lost": len(fleet.lost())}


def steady(fleet: sim.Fleet, counters: sim.Counters, args: argparse.Namespace,
           rng: random.Random) -> dict[str, Any]:
    """Intervals of passes at random offsets in the splay window (the clock simulated,
    the window squeezed into --window real seconds); heartbeat = 2.5 intervals."""
    commits_before, before = fleet.commits(), counters.snapshot()
    outcomes: collections.Counter[str] = collections.Counter()
    late, errors, interval = [], [], 60.0

    def one_pass(host: str, when: datetime, change: bool, due: float) -> str:
        late.append(time.monotonic() - due)
        fleet.head(host)
        return fleet.publish(host, when, change)

    start_all = time.perf_counter()
    for number in range(args.intervals):
        base = 120 + number * interval
        offsets = {host: rng.uniform(0, interval) for host in fleet.hosts}
        changing = set(rng.sample(fleet.hosts, max(1, len(fleet.hosts) // 20)))
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            futures = []
            for host in sorted(fleet.hosts, key=offsets.__getitem__):
                due = start + offsets[host] / interval * args.window
                time.sleep(max(0.0, due - time.monotonic()))
                futures.append(pool.submit(one_pass, host, sim.later(base + offsets[host]),
                                           host in changing, due))
        for future in futures:
            try:
                outcomes[future.result()] += 1
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
    wall = time.perf_counter() - start_all
    after = counters.snapshot()
    grown = fleet.commits() - commits_before
    passes = sum(outcomes.values()) + len(errors)
    return {"intervals": args.intervals, "passes": passes, "wall": round(wall, 1),
            "window": args.window, "outcomes": dict(outcomes), "gave_up": len(errors),
            "errors": sorted(set(errors))[:5],
            "retries": after.get("rejected", 0) - before.get("rejected", 0),
            "commits_added": grown, "heartbeat_commits": grown - outcomes["pushed"],
            "late_median": round(sorted(late)[len(late) // 2], 2) if late else 0.0,
            "lost": len(fleet.lost())}


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
    rows, wall = [], time.perf_counter() - start
    for fleet, counted in zip(fleets, outcomes, strict=True):
        commits, lost, raw = fleet.commits(), len(fleet.lost()), fleet.size()
        gc = sim.gc_size(fleet)
        loose, loose_bytes = fleet.loose()  # after gc: only the unreachable objects
        cruft = sim.gc_size(fleet, "--cruft")
        cruft_bytes = fleet.cruft()
        pruned = sim.gc_size(fleet, "--prune=now")
        scale, heartbeats = args.hosts / args.month_hosts, counted["refreshed"]
        rows.append({"keep_days": fleet.keep_days, "hosts": args.month_hosts,
                     "days": args.days, "wall": round(wall), "outcomes": dict(counted),
                     "content_pushes": counted["pushed"], "heartbeats": heartbeats,
                     "gave_up": sum(number for outcome, number in counted.items()
                                    if outcome not in ("pushed", "refreshed", "unchanged")),
                     "commits": commits, "lost": lost, "bytes_before_gc": raw,
                     "bytes_gc": gc, "bytes_gc_cruft": cruft, "bytes_gc_prune_now": pruned,
                     "unreachable_loose": loose, "unreachable_loose_bytes": loose_bytes,
                     "cruft_pack_bytes": cruft_bytes,
                     "extrapolated_hosts": args.hosts,
                     "extrapolated_bytes_gc_prune_now": round(pruned * scale),
                     "extrapolated_commits": round(commits * scale)})
    return rows


def mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB" if value >= 2**20 else f"{value / 1024:.1f} KiB"


def print_report(figures: dict[str, Any]) -> None:
    print(f"\nmachine: {figures['machine']}\nuptime at the start: {figures['uptime_start']}"
          f"\nuptime at the end:   {figures['uptime_end']}")
    print(f"\n{'phase':<10} {'hosts':>5} {'threads':>7} {'git at once':>11} {'wall s':>7} "
          f"{'pushes':>6} {'push/s':>6} {'retries':>7} {'lost':>4} {'gave up':>7}")
    for name in ("initial", "burst", "shared 1st", "shared"):
        row = figures.get(name)
        if row is None:
            continue
        at_once = f"{row['peak_git']}/{row['peak_receive_pack']}"
        print(f"{name:<10} {row['hosts']:>5} {row['concurrency']:>7} {at_once:>11} "
              f"{row['wall']:>7} {row['pushes']:>6} {row['pushes_per_s']:>6} "
              f"{row['retries']:>7} {row['lost']:>4} {row['gave_up']:>7}")
        for error in row["errors"]:
            print(f"    gave up: {error}")
    print("(git at once: most git processes / receive-packs of the fleet seen running "
          "together; shared: one branch for all hosts, for contrast, not in the summary)")
    row = figures["steady"]
    print(f"\nsteady: {row['intervals']} intervals, {row['passes']} passes in {row['wall']} s "
          f"(splay window squeezed into {row['window']} s; median start "
          f"{row['late_median']} s late): {row['outcomes']}; retries {row['retries']}, "
          f"commits added {row['commits_added']}, by heartbeats {row['heartbeat_commits']}, "
          f"lost {row['lost']}, gave up {row['gave_up']}")
    print(f"\n{'bytes received':<44}" + "".join(f"{row['branches']:>9} br"
                                               for row in figures["bytes"]))
    for key, label in (("noop_total", "no-op pass per host (remote_head + publish)"),
                       ("head_lines", "  remote_head: pkt-lines"),
                       ("head_pack", "  remote_head: pack (config tree re-sent)"),
                       ("publish", "  publish -> unchanged"),
                       ("head_v0", "remote_head under protocol v0"),
                       ("ls_remote", "git ls-remote (the old way)"),
                       ("push_v2", "one report push, protocol v2"),
                       ("push_v0", "one report push, protocol v0"),
                       ("clone", "git clone of the repo (every branch)"),
                       ("clone_main", "git clone --single-branch (main)"),
                       ("wire_head", "check, at the transport: remote_head"),
                       ("wire_push", "check, at the transport: one push")):
        print(f"{label:<44}" + "".join(f"{row[key]:>12}" for row in figures["bytes"]))
    print("\nmonth (simulated clock; heartbeats every pass between content changes)")
    for row in figures["month"]:
        print(f"  keep_days={row['keep_days']}: {row['hosts']} hosts x {row['days']} days in "
              f"{row['wall']} s, {row['content_pushes']} content pushes + {row['heartbeats']} "
              f"heartbeats -> {row['commits']} commits, lost {row['lost']}, gave up "
              f"{row['gave_up']}\n    du -sb: {mib(row['bytes_before_gc'])} before gc, "
              f"{mib(row['bytes_gc'])} after `git gc`, {mib(row['bytes_gc_cruft'])} after "
              f"`git gc --cruft`, {mib(row['bytes_gc_prune_now'])} after `git gc --prune=now`")
        if row["extrapolated_hosts"] != row["hosts"]:
            print(f"    EXTRAPOLATED to {row['extrapolated_hosts']} hosts (x"
                  f"{row['extrapolated_hosts'] / row['hosts']:g}, linear): ~"
                  f"{mib(row['extrapolated_bytes_gc_prune_now'])} after --prune=now, ~"
                  f"{row['extrapolated_commits']} commits")
    plain = figures["month"][0]
    beats, hosts = max(1, plain["heartbeats"]), figures["burst"]["hosts"]
    kept = 96 * 14 * hosts  # heartbeats every 900 s, pruned after gc.pruneExpire: 2 weeks
    print(f"  unreachable after `git gc` (keep_days=None): {plain['unreachable_loose']} loose "
          f"objects, {plain['unreachable_loose_bytes']} bytes, i.e. per replaced heartbeat "
          f"{plain['unreachable_loose'] / beats:.1f} objects, "
          f"{plain['unreachable_loose_bytes'] / beats:.0f} bytes loose or "
          f"{plain['cruft_pack_bytes'] / beats:.0f} in a cruft pack\n  ESTIMATED for "
          f"{hosts} hosts heartbeating every 900 s, garbage kept 2 weeks: "
          f"{kept * plain['unreachable_loose'] / beats / 1e6:.1f} M loose objects, "
          f"{mib(kept * plain['unreachable_loose_bytes'] / beats)} "
          f"({mib(kept * plain['cruft_pack_bytes'] / beats)} as a cruft pack)")
    burst, steady_row = figures["burst"], figures["steady"]
    lost = burst["lost"] + steady_row["lost"] + sum(row["lost"] for row in figures["month"])
    gave_up = (burst["gave_up"] + figures["initial"]["gave_up"] + steady_row["gave_up"]
               + sum(row["gave_up"] for row in figures["month"]))
    heartbeat_commits = steady_row["heartbeat_commits"] + plain["commits"] - plain[
        "content_pushes"]
    figures["clean"] = not (lost or gave_up or heartbeat_commits)
    print(f"\nlost={lost} gave_up={gave_up} heartbeat_commits={heartbeat_commits} "
          f"seconds={figures['seconds']}")
    for message, count in figures["warnings"].items():
        print(f"agent warning x{count}: {message}")
    print(f"reproduce: {figures['command']}")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="threads publishing at once (default: all hosts)")
    parser.add_argument("--intervals", type=int, default=5, help="steady-state intervals")
    parser.add_argument("--window", type=float, default=None,
                        help="real seconds an interval's splay window is squeezed into "
                             "(default hosts/40)")
    parser.add_argument("--samples", type=int, default=20, help="hosts measured for bytes")
    parser.add_argument("--shared-hosts", type=int, default=50,
                        help="hosts of the contrast run on one shared branch (0: none)")
    parser.add_argument("--month-hosts", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--changes", type=int, default=2, help="content changes per day")
    parser.add_argument("--keep-days", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help="20 hosts, 2 intervals, 5 hosts x 10 days (seconds, for CI)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.quick:
        args.hosts, args.intervals, args.month_hosts, args.days = 20, 2, 5, 10
        args.samples, args.keep_days, args.shared_hosts = 5, 3, 5
    args.concurrency = args.concurrency or args.hosts
    args.window = args.window if args.window is not None else args.hosts / 40
    args.month_hosts = min(args.month_hosts, args.hosts)
    scrub_environment()  # no GIT_* from the caller
    rng = random.Random(args.seed)
    counters = sim.Counters()
    began = time.monotonic()
    figures: dict[str, Any] = {"uptime_start": uptime(), "command": " ".join(
        [".venv/bin/python", "bench/bench_fleet.py", *sys.argv[1:]])}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as temporary:
        root = Path(temporary)
        fleet = sim.Fleet(root, args.hosts, heartbeat=150)
        figures["initial"] = publish_all(fleet, counters, args.concurrency, sim.later(0), True)
        fleet.commit_config("release 2: touches every host")
        figures["burst"] = publish_all(fleet, counters, args.concurrency, sim.later(60), True)
        figures["steady"] = steady(fleet, counters, args, rng)
        if args.shared_hosts:  # for contrast: one branch for all (status.branch fixed)
            shared = sim.Fleet(root, args.shared_hosts, name="shared", branch="gitops-status-all")
            figures["shared 1st"] = publish_all(shared, counters, args.shared_hosts,
                                                sim.later(0), True)
            shared.commit_config("release 2: touches every host")
            figures["shared"] = publish_all(shared, counters, args.shared_hosts, sim.later(60),
                                            True)
        small = sim.Fleet(root, min(10, args.hosts), heartbeat=150, name="small")
        small.commit_config("release 2: touches every host")  # the same config tree
        traces = root / "traces"
        publish_all(small, counters, args.concurrency, sim.later(0), True)
        figures["bytes"] = [sim.noop_bytes(small, traces / "small", args.samples),
                            sim.noop_bytes(fleet, traces / "fleet", args.samples)]
        figures["month"] = month(root, args)
    figures["warnings"] = dict(counters.warnings)
    figures["seconds"] = round(time.monotonic() - began)
    figures["uptime_end"] = uptime()
    figures["machine"] = f"{os.cpu_count()} cores, {sim.sh_git('--version').strip()}"
    print_report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if figures["clean"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
