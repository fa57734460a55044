#!/usr/bin/env python3
"""The `gitops-agent watch` daemon: its idle cost, and the time from a push to the
applied change.

    .venv/bin/python bench/bench_daemon.py --idle 180 --interval 60 --samples 2
    .venv/bin/python bench/bench_daemon.py --quick    # 1 app, 3 s idle: the CI version

1. Idle: N apps (each with its own source repo) applied, one no-op pass settled, then
   the daemon left alone for --idle seconds: its RSS (VmRSS, sampled every second) and
   CPU (the daemon plus its reaped git children, from /proc) as a share of one core.
2. Push to applied: a commit to one app's source repo, timed until the playbook's output
   names it; then the same with `gitops-agent sync` right after the push.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import figures
import fixtures
from figures import figure
from fixtures import Host, Sandbox

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Record the deployed commit
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ gitops_app }}.txt"
        content: "{{ gitops_source_commit }}\\n"
"""
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until check() holds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError(f"not done after {timeout:.0f} s")


def applied(host: Host, commit: str) -> Callable[[], bool]:
    output = host.out / "app-00.txt"
    return lambda: output.read_text().strip() == commit


def idle(pid: int, seconds: int, label: str) -> None:
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    rss: list[float] = []
    while time.monotonic() - start < seconds:
        rss.append(rss_mb(pid))
        time.sleep(1)
    cpu = (cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)
    figure(f"idle RSS, {label}", f"{max(rss):.1f}", "MB max",
           f"last {rss[-1]:.1f} MB, sampled every second, n={len(rss)}")
    figure(f"idle CPU, {label}", f"{cpu * 100:.2f}", "% of one core",
           f"daemon + git children, over {seconds} s")


def push_to_applied(box: Sandbox, host: Host, samples: int, interval: int) -> None:
    waits, synced = [], []
    for sample in range(2 * samples):
        commit = host.change_source("app-00", f"{sample + 2}\n")
        if sample < samples:
            waits.append(wait_for(applied(host, commit), interval + 120))
        else:
            box.agent("sync", config=host.agent_config)
            synced.append(wait_for(applied(host, commit), 120))
    for what, seconds in ((f"push to applied, interval {interval} s", waits),
                          ("push + `gitops-agent sync` to applied", synced)):
        figure(what, f"{statistics.median(seconds):.1f}", "s median",
               f"max {max(seconds):.1f} s, n={len(seconds)}")


def main() -> int:
    parser = figures.parser(__doc__)
    parser.add_argument("--apps", type=int, default=20, help="apps (default 20)")
    parser.add_argument("--idle", type=int, default=180, metavar="SECONDS",
                        help="idle time measured (default 180)")
    parser.add_argument("--interval", type=int, default=20, metavar="SECONDS",
                        help="the daemon's interval between passes (default 20)")
    parser.add_argument("--samples", type=int, default=3,
                        help="pushes timed, with and without sync (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="1 app, 3 s idle, 3 s interval, 1 sample: the CI version")
    args = parser.parse_args()
    if args.quick:
        args.apps, args.idle, args.interval, args.samples = 1, 3, 3, 1
    started, load = figures.begin()
    with Sandbox("bench-daemon") as box:
        host = fixtures.build_host(box.root / "host", args.apps, PLAYBOOK,
                                   interval=args.interval)
        with (box.root / "watch.log").open("w") as log:
            daemon = subprocess.Popen(box.agent_argv("watch", config=host.agent_config),
                                      stdout=log, stderr=log, env=box.env, cwd=box.root)
            try:
                wait_for(lambda: len(host.outputs()) == args.apps, 600)
                time.sleep(args.interval + 2)  # one settled no-op pass
                idle(daemon.pid, args.idle,
                     f"{args.apps} apps, interval {args.interval} s")
                push_to_applied(box, host, args.samples, args.interval)
            finally:
                daemon.terminate()
                daemon.wait(timeout=30)
    figures.finish(__file__, started, load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
