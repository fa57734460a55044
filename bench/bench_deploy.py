#!/usr/bin/env python3
"""Benchmark: the `deploy:` shorthand's sync, next to `rsync -a` of the same tree.

    .venv/bin/python bench/bench_deploy.py [--files 1000 4]

For each size it builds a git repo of that many small files in a temp dir and runs the
shipped deploy playbook (playbooks/deploy.yml, the one the agent runs for `deploy:`)
with ansible-playbook on localhost, as the agent would: a first deploy, a no-op and a
4-file change, with a command that must run on change only. It prints one line per
figure, then `rsync -a --delete --exclude .git` of the same tree, and a one-task
playbook for Ansible's own start-up cost.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost",
       "-c", "commit.gpgsign=false"]


def timed(argv: list[str], **kwargs: object) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    return time.monotonic() - started


def make_source(root: Path, files: int) -> Path:
    src = root / "src"
    for i in range(files):
        path = src / f"d{i % 20:02d}" / f"file{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n" * 10)
    subprocess.run([*GIT, "init", "-q", str(src)], check=True)
    subprocess.run([*GIT, "-C", str(src), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(src), "commit", "-qm", "v1"], check=True)
    return src


def change_four(src: Path) -> None:
    for path in sorted(src.glob("d0*/*.txt"))[:4]:
        path.write_text(path.read_text() + "changed\n")
    subprocess.run([*GIT, "-C", str(src), "commit", "-qam", "v2"], check=True)


def playbook(root: Path, src: Path, dest: Path, book: Path) -> list[str]:
    log = root / "commands.log"
    extra = {
        "gitops_app": "bench", "gitops_state_dir": str(root / "state"),
        "gitops_config_dir": str(root), "gitops_config_commit": "-",
        "gitops_source_dir": str(src), "gitops_source_commit": "-",
        "gitops_deploy": {"dest": str(dest), "commands": [f"sh -c 'echo ran >> {log}'"]},
    }
    return ["ansible-playbook", "-i", "localhost,", "-c", "local",
            "-e", f"ansible_python_interpreter={sys.executable}",
            "-e", json.dumps(extra), str(book)]


def bench(files: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    try:
        src = make_source(root, files)
        dest = root / "dest"
        env = {"ANSIBLE_ROLES_PATH": str(PROJECT / "roles"), "ANSIBLE_NOCOLOR": "1",
               "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
        deploy = playbook(root, src, dest, PROJECT / "playbooks/deploy.yml")
        log = root / "commands.log"
        for label in ("first deploy", "no-op", "4-file change"):
            if label == "4-file change":
                change_four(src)
            seconds = timed(deploy, env=env)
            ran = len(log.read_text().splitlines()) if log.exists() else 0
            print(f"deploy {files:>5} files  {label:<14} {seconds:6.2f} s  (commands ran {ran}x)")
        mirror = root / "rsync"
        rsync = ["rsync", "-a", "--delete", "--exclude", ".git", f"{src}/", f"{mirror}/"]
        if shutil.which("rsync"):
            first = timed(rsync)
            noop = timed(rsync)
            print(f"rsync  {files:>5} files  first / no-op  {first:6.2f} s / {noop:.2f} s")
        one_task = root / "one.yml"
        one_task.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                            "    - ansible.builtin.debug: {msg: hi}\n")
        seconds = timed(playbook(root, src, dest, one_task), env=env)
        print(f"one-task playbook (Ansible's own cost)  {seconds:6.2f} s")
        print(f"  reproduce: {' '.join(sys.argv)}")
    finally:
        shutil.rmtree(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 4])
    for files in parser.parse_args().files:
        bench(files)


if __name__ == "__main__":
    main()
