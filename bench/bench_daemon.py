#!/usr/bin/env python3
"""Benchmark the `gitops-agent watch` daemon (a script, not a test).

1. Idle cost: 20 apps (each with its own source repo), everything applied, then the
   daemon left alone for --idle seconds: RSS (VmRSS, max and last) and CPU (the
   daemon plus its git children, from /proc) as a share of one core.
2. Push to applied: with --interval seconds between passes, push a change to one
   app's source repo and time until the playbook's output shows the new commit;
   and the same after `gitops-agent sync`.

Usage: .venv/bin/python bench/bench_daemon.py [--idle 180] [--interval 20] [--samples 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.test",
       "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
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


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def publish(work: Path, bare: Path) -> str:
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "bench", cwd=work)
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def build(root: Path, apps: int, interval: int) -> tuple[Path, Path]:
    out = root / "out"
    out.mkdir()
    config_work = root / "config-work"
    git("init", "-q", str(config_work))
    (config_work / "playbooks").mkdir()
    (config_work / "playbooks" / "record.yml").write_text(PLAYBOOK)
    (config_work / "group_vars").mkdir()
    (config_work / "group_vars" / "all.yml").write_text(f"out_dir: {out}\n")
    (config_work / "apps").mkdir()
    for index in range(apps):
        name = f"app-{index:02d}"
        work, bare = root / f"{name}-work", root / f"{name}.git"
        git("init", "-q", str(work))
        git("init", "-q", "--bare", str(bare))
        (work / "version").write_text("1\n")
        publish(work, bare)
        (config_work / "apps" / f"{name}.yml").write_text(
            f"playbook: playbooks/record.yml\nsource: {{url: {bare}}}\n")
    git("init", "-q", "--bare", str(root / "config.git"))
    publish(config_work, root / "config.git")
    config = root / "agent.yml"
    config.write_text(f"host: {{name: bench-01}}\nconfig_repo: {{url: {root / 'config.git'}}}\n"
                      f"state_dir: {root / 'state'}\ninterval: {interval}\n"
                      f"runner: {{workers: 2}}\n")
    return config, out


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15])  # utime stime cutime cstime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(check, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    raise TimeoutError


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--idle", type=int, default=180)
    parser.add_argument("--interval", type=int, default=20)
    parser.add_argument("--samples", type=int, default=3)
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gitops-bench-daemon-"))
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "HOME": str(root)}
    try:
        config, out = build(root, options.apps, options.interval)
        log = open(root / "watch.log", "w")  # noqa: SIM115
        daemon = subprocess.Popen([str(VENV_BIN / "gitops-agent"), "watch", "--config",
                                   str(config)], stdout=log, stderr=log, env=env)
        wait_for(lambda: len(list(out.glob("*.txt"))) == options.apps, 600)
        time.sleep(options.interval + 2)  # one settled no-op pass
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}, {git('--version')}")
        start_ticks, start = cpu_ticks(daemon.pid), time.monotonic()
        rss: list[float] = []
        while time.monotonic() - start < options.idle:
            rss.append(rss_mb(daemon.pid))
            time.sleep(1)
        cpu = (cpu_ticks(daemon.pid) - start_ticks) / TICKS / (time.monotonic() - start)
        print(f"idle {options.idle}s with {options.apps} apps, interval {options.interval}s: "
              f"RSS max {max(rss):.1f} MB, last {rss[-1]:.1f} MB; "
              f"CPU {cpu * 100:.2f}% of one core (daemon + git children)")

        def change(sample: int) -> tuple[str, Path]:
            work, bare = root / "app-00-work", root / "app-00.git"
            (work / "version").write_text(f"{sample + 2}\n")
            return publish(work, bare), out / "app-00.txt"

        waits = []
        for sample in range(options.samples):
            commit, target = change(sample)
            waits.append(wait_for(lambda c=commit, t=target: t.read_text().strip() == c,
                                  options.interval + 120))
        synced = []
        for sample in range(options.samples, options.samples * 2):
            commit, target = change(sample)
            subprocess.run([str(VENV_BIN / "gitops-agent"), "sync", "--config", str(config)],
                           env=env, check=True, capture_output=True)
            synced.append(wait_for(lambda c=commit, t=target: t.read_text().strip() == c, 120))
        print(f"push to applied (interval {options.interval}s): median "
              f"{statistics.median(waits):.1f}s, max {max(waits):.1f}s over {len(waits)}")
        print(f"push + `gitops-agent sync` to applied: median {statistics.median(synced):.1f}s, "
              f"max {max(synced):.1f}s over {len(synced)}")
        daemon.terminate()
        daemon.wait(timeout=30)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
