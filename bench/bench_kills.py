"""Soak under SIGKILL: N apps, P passes of `gitops-agent run`, the agent killed outright
at random points of some passes while the config repo keeps changing.

    .venv/bin/python bench/bench_kills.py                  # 20 apps x 50 passes
    .venv/bin/python bench/bench_kills.py --apps 4 --passes 6   # the CI version

At the end one pass runs undisturbed, and the script checks what must hold: every app
applied at the last commit (its output says so), a valid state.json, the report pushed
for the last commit, and no process of any run left anywhere. Exit 1 if any fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import Remote, write_config  # noqa: E402

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


def app_file(version: int, pause: float) -> str:
    return f"playbook: playbooks/app.yml\nvars: {{version: {version}, pause: {pause}}}\n"


def agent(config: Path) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.Popen([sys.executable, "-m", "gitops_agent", "run", "--config",
                             str(config)], cwd=ROOT, env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def leftovers(state_dir: Path) -> list[int]:
    from gitops_agent.execute import reaper

    return reaper.marked(str(state_dir), reaper.STATE_MARKER)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--passes", type=int, default=50)
    parser.add_argument("--kill-chance", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    chance = random.Random(args.seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-kills-") as temporary:
        root = Path(temporary)
        out, state_dir = root / "out", root / "state"
        out.mkdir()
        repo = Remote(root, "config")
        repo.write("playbooks/app.yml", PLAYBOOK)
        repo.write("group_vars/all.yml", f"out_dir: {out}\n")
        versions = dict.fromkeys(range(args.apps), 1)
        for index in versions:
            repo.write(f"apps/app-{index:02d}.yml", app_file(1, 0.5))
        repo.commit("start")
        config = write_config(root / "agent.yml", repo.url, state_dir,
                              runner={"workers": 2})
        kills = 0
        for number in range(args.passes):
            for index in chance.sample(sorted(versions), k=max(1, args.apps // 5)):
                versions[index] += 1
                repo.write(f"apps/app-{index:02d}.yml", app_file(versions[index], 0.5))
            repo.commit(f"pass {number}")
            process = agent(config)
            if chance.random() < args.kill_chance:
                time.sleep(chance.uniform(0.1, 4.0))
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    kills += 1
            process.wait()
        last = agent(config)
        last.wait()
        time.sleep(0.5)
        problems = []
        wrong = [index for index, version in versions.items()
                 if not (out / f"app-{index:02d}.txt").exists()
                 or (out / f"app-{index:02d}.txt").read_text().strip() != str(version)]
        if wrong:
            problems.append(f"apps not applied at the last commit: {wrong}")
        try:
            state = json.loads((state_dir / "state.json").read_text())
            states = {record["state"] for record in state["apps"].values()}
            if states - {"applied", "unchanged"}:
                problems.append(f"app states at the end: {sorted(states)}")
        except (OSError, ValueError, KeyError) as error:
            problems.append(f"state.json is not valid: {error}")
        head = repo.log("main")[0]
        try:
            report = yaml.safe_load(repo.read("gitops-status/web-01", "hosts/web-01.yml"))
            # its top config_commit waits for news (SPEC §5); the apps must be there
            if {app["state"] for app in report["apps"].values()} - {"applied", "unchanged"} \
                    or len(report["apps"]) != args.apps:
                problems.append("the pushed report does not show every app applied")
            if json.loads((state_dir / "state.json").read_text())["config_commit"] != head:
                problems.append("the last pass did not end at the last commit")
        except (subprocess.CalledProcessError, OSError, ValueError, KeyError, TypeError):
            problems.append("no readable report was pushed")
        stray = leftovers(state_dir)
        if stray:
            problems.append(f"processes left running: {stray}")
    print(f"apps={args.apps} passes={args.passes} kills={kills} last_pass_rc={last.returncode} "
          f"problems={len(problems)} seconds={time.monotonic() - began:.0f}")
    for problem in problems:
        print(f"  {problem}")
    print(f"reproduce: .venv/bin/python bench/bench_kills.py --apps {args.apps} "
          f"--passes {args.passes} --seed {args.seed}")
    return 1 if problems or last.returncode != 0 else 0


if __name__ == "__main__":
    raise SystemExit(main())
