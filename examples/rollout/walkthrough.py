"""A rollout, step by step, with real agents: the worked example of docs/rollouts.md.

Three hosts (web-01 the canary, web-02 and db-01 the rest) share one config repo (a
bare repo in a temp dir). Version 1 goes out through the waves; version 2 is broken
and stops at the canary; version 3 fixes it and goes through every wave. After each
step the script prints what the agents said and `gitops-agent fleet`.

    .venv/bin/python examples/rollout/walkthrough.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

GOOD = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Make the site's directory
      ansible.builtin.file:
        path: "{{ out_dir }}/{{ gitops_host }}"
        state: directory
        mode: "0755"
    - name: Put the site in place
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ gitops_host }}/index.html"
        content: "version {{ version }}\\n"
        mode: "0644"
"""
BROKEN = GOOD + """\
    - name: Check the site answers
      ansible.builtin.command: test -e /nonexistent/health
      changed_when: false
"""
FLEET = """\
waves:
  - {name: canary, hosts: [web-01]}
  - {name: rest, hosts: ["*"]}
"""
HOSTS = {"web-01": {"role": "web"}, "web-02": {"role": "web"}, "db-01": {"role": "db"}}


def git(*args: str, cwd: Path | None = None) -> str:
    identity = ["-c", "user.name=Ops", "-c", "user.email=ops@example.test",
                "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    return subprocess.run(["git", *identity, *args], cwd=cwd, check=True, text=True,
                          capture_output=True).stdout.strip()


class Walkthrough:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bare, self.work = root / "config.git", root / "config"
        git("init", "-q", "--bare", str(self.bare))
        git("clone", "-q", str(self.bare), str(self.work))
        (root / "out").mkdir()
        self.configs = {}
        for host, labels in HOSTS.items():
            path = root / f"agent-{host}.yml"
            path.write_text(yaml.safe_dump({
                "host": {"name": host, "labels": labels},
                "config_repo": {"url": str(self.bare)},
                "state_dir": str(root / f"state-{host}")}))
            self.configs[host] = path

    def commit(self, message: str, files: dict[str, str]) -> str:
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        sha = git("rev-parse", "HEAD", cwd=self.work)
        print(f"\n$ git commit -m {message!r}   # {sha[:12]}")
        return sha

    def agent(self, host: str, *args: str) -> int:
        command = [sys.executable, "-m", "gitops_agent", *args, "--config",
                   str(self.configs[host])]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL)
        print(f"\n[{host}] $ gitops-agent {' '.join(args)}   # exit {done.returncode}")
        for line in done.stdout.splitlines():
            print(f"  {line}")
        return done.returncode

    def release(self, version: str, playbook: str, fleet: str | None = None) -> str:
        files = {"apps/site.yml": "playbook: playbooks/site.yml\n"
                                  f"vars: {{version: {version}}}\n",
                 "playbooks/site.yml": playbook,
                 "group_vars/all.yml": f"out_dir: {self.root / 'out'}\n"}
        if fleet:
            files["fleet.yml"] = fleet
        return self.commit(f"site version {version}", files)

    def everyone(self) -> None:
        for host in HOSTS:
            self.agent(host, "run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this (new) directory, kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitops-rollout-") as temporary:
        root = args.keep or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        walk = Walkthrough(root)
        print("## 1. Version 1, with fleet.yml: the canary goes first")
        walk.release("1", GOOD, FLEET)
        walk.agent("web-02", "run")  # before the canary: it waits
        walk.agent("web-01", "run")
        walk.agent("web-01", "fleet")
        walk.agent("web-02", "run")
        walk.agent("db-01", "run")
        walk.agent("web-01", "fleet")
        print("\n## 2. Version 2 is broken: it stops at the canary")
        walk.release("2", BROKEN)
        walk.everyone()
        walk.agent("web-01", "fleet")
        print("\n## 3. Version 3 fixes it and goes through every wave")
        walk.release("3", GOOD)
        walk.everyone()  # web-01 first: the rest find it applied at their pass
        walk.agent("web-01", "fleet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
