#!/usr/bin/env python3
"""Soak under SIGKILL: N apps, P passes of `gitops-agent run` while the config repo keeps
changing, the agent killed outright at a random point of some passes.

    .venv/bin/python bench/bench_kills.py            # 20 apps x 50 passes, ~7 min
    .venv/bin/python bench/bench_kills.py --quick    # 2 apps x 4 passes: the CI version

Before each pass a commit changes a fifth of the apps; with --kill-chance the agent is
SIGKILLed at a random point of its first 4 s (mid-fetch, mid-playbook, mid-record).
Then one pass runs undisturbed, and what must hold is checked: every app applied at the
last commit (its output says so), a valid state.json with every app applied or
unchanged, the report pushed for the last commit, and no process of any run left.
The one figure is the number of those checks that failed; exit 1 unless it is 0.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time

import figures
import fixtures
import yaml
from figures import figure, note
from fixtures import Host, Sandbox

from gitops_agent.execute import reaper

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Take a moment
      ansible.builtin.command: sleep {{ pause }}
      changed_when: false
    - name: Say which version was applied
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ gitops_app }}.txt"
        content: "{{ version }}\\n"
"""
PAUSE = 0.5  # seconds each playbook sleeps: kills land mid-playbook too


def problems(host: Host, versions: dict[str, int]) -> list[str]:
    """What does not hold after the last, undisturbed pass."""
    found = []
    wrong = [name for name, version in versions.items()
             if not (host.out / f"{name}.txt").exists()
             or (host.out / f"{name}.txt").read_text().strip() != str(version)]
    if wrong:
        found.append(f"apps not applied at the last commit: {wrong}")
    try:
        state = host.state()
        if {app["state"] for app in state["apps"].values()} - {"applied", "unchanged"}:
            found.append(f"app states at the end: {state['apps']}")
        if state["config_commit"] != host.config.tip("main"):
            found.append("the last pass did not end at the last commit")
    except (OSError, ValueError, KeyError) as error:
        found.append(f"state.json is not valid: {error}")
    try:
        report = yaml.safe_load(host.config.show(fixtures.STATUS_BRANCH,
                                                 f"hosts/{fixtures.HOST}.yml"))
        # its top config_commit waits for news (SPEC §5); the apps must be there
        if {app["state"] for app in report["apps"].values()} - {"applied", "unchanged"} \
                or len(report["apps"]) != len(versions):
            found.append("the pushed report does not show every app applied")
    except (fixtures.BenchError, ValueError, KeyError, TypeError, AttributeError):
        found.append("no readable report was pushed")
    if stray := reaper.marked(str(host.state_dir), reaper.STATE_MARKER):
        found.append(f"processes left running: {stray}")
    return found


def main() -> int:
    parser = figures.parser(__doc__)
    parser.add_argument("--apps", type=int, default=20, help="apps (default 20)")
    parser.add_argument("--passes", type=int, default=50, help="passes (default 50)")
    parser.add_argument("--kill-chance", type=float, default=0.5,
                        help="share of the passes killed (default 0.5)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--quick", action="store_true", help="2 apps x 4 passes (CI)")
    args = parser.parse_args()
    if args.quick:
        args.apps, args.passes = 2, 4
    chance = random.Random(args.seed)
    started, load = figures.begin()
    with Sandbox("bench-kills") as box:
        host = fixtures.build_host(box.root / "host", args.apps, PLAYBOOK, sources=False,
                                   app_vars=lambda _: {"version": 1, "pause": PAUSE})
        versions = dict.fromkeys(host.names, 1)
        kills = 0
        for number in range(args.passes):
            for name in chance.sample(host.names, k=max(1, args.apps // 5)):
                versions[name] += 1
                host.set_vars(name, version=versions[name], pause=PAUSE)
            host.config.commit(f"pass {number}")
            agent = subprocess.Popen(box.agent_argv("run", config=host.agent_config),
                                     env=box.env, cwd=box.root, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            if chance.random() < args.kill_chance:
                time.sleep(chance.uniform(0.1, 4.0))
                if agent.poll() is None:
                    agent.send_signal(signal.SIGKILL)
                    kills += 1
            agent.wait()
        last = box.agent("run", config=host.agent_config, check=False)
        time.sleep(0.5)
        found = problems(host, versions)
    for problem in found:
        note(f"problem: {problem}")
    figure(f"soak under SIGKILL, {args.apps} apps x {args.passes} passes", len(found),
           "problems", f"{kills} passes killed, last pass rc {last.returncode}")
    figures.finish(__file__, started, load)
    return 1 if found or last.returncode != 0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
