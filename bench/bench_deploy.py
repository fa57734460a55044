#!/usr/bin/env python3
"""The `deploy:` shorthand's sync, next to `rsync -a` of the same tree.

    .venv/bin/python bench/bench_deploy.py             # --files 1000 4 --config-files 10
    .venv/bin/python bench/bench_deploy.py --quick     # --files 20 --config-files 2: CI

For each size it builds a git repo of that many small files in a temp dir and runs the
shipped deploy playbook (playbooks/deploy.yml, the one the agent runs for `deploy:`)
with ansible-playbook on localhost, as the agent would: a first deploy, a no-op and a
4-file change, with a command that must run on change only (how often it ran is in each
figure). Then `rsync -a --delete --exclude .git` of the same tree, first and no-op.
Then a deploy of config files only (`files:`, no source): first, no-op and one changed.
And once, a one-task playbook: Ansible's own start-up cost.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import figures
import fixtures
from figures import figure
from fixtures import PROJECT, Sandbox, git

# the environment ansible-playbook runs in: the shipped roles, nothing of the caller's
# (HOME, for Ansible's ~/.ansible, is the sandbox's: see main)
ENV = {"ANSIBLE_ROLES_PATH": str(PROJECT / "roles"), "ANSIBLE_NOCOLOR": "1",
       "PATH": f"{fixtures.VENV_BIN}:/usr/bin:/bin"}


def make_source(root: Path, files: int) -> Path:
    src = root / "src"
    fixtures.write_files(src, {f"d{i % 20:02d}/file{i:04d}.txt": f"file {i}\n" * 10
                               for i in range(files)})
    git("init", "-q", str(src))
    git("add", "-A", cwd=src)
    git("commit", "-qm", "v1", cwd=src)
    return src


def change_four(src: Path) -> None:
    for path in sorted(src.glob("d0*/*.txt"))[:4]:
        path.write_text(path.read_text() + "changed\n")
    git("commit", "-qam", "v2", cwd=src)


def playbook(root: Path, src: Path | None, book: Path,
             files: list[dict[str, str]] | None = None) -> list[str]:
    """ansible-playbook of `book` with the variables the agent gives a `deploy:` app."""
    extra = {
        "gitops_app": "bench", "gitops_state_dir": str(root / "state"),
        "gitops_config_dir": str(root), "gitops_config_commit": "-",
        "gitops_source_dir": str(src or ""), "gitops_source_commit": "-",
        "gitops_deploy": {"dest": str(root / "dest"), "files": files or [],
                          "commands": [f"sh -c 'echo ran >> {root / 'commands.log'}'"]},
    }
    inventory = root / "inventory"  # localhost as the agent's runs see it
    inventory.write_text(f"localhost ansible_connection=local "
                         f"ansible_python_interpreter={sys.executable}\n")
    return ["ansible-playbook", "-i", str(inventory), "-e", json.dumps(extra), str(book)]


def bench(root: Path, files: int) -> None:
    root.mkdir()
    src = make_source(root, files)
    deploy = playbook(root, src, PROJECT / "playbooks/deploy.yml")
    log = root / "commands.log"
    for label in ("first deploy", "no-op", "4-file change"):
        if label == "4-file change":
            change_four(src)
        seconds = fixtures.timed(deploy, env=ENV)
        ran = len(log.read_text().splitlines()) if log.exists() else 0
        figure(f"deploy, {files} files, {label}", f"{seconds:.2f}", "s",
               f"commands ran {ran}x")
    if shutil.which("rsync"):
        rsync = ["rsync", "-a", "--delete", "--exclude", ".git", f"{src}/", f"{root}/rsync/"]
        for label in ("first", "no-op"):
            figure(f"rsync -a, {files} files, {label}", f"{fixtures.timed(rsync):.2f}", "s")


def bench_config_files(root: Path, count: int) -> None:
    """A deploy of `count` config files (the gitops_files role): first, no-op, one
    changed."""
    root.mkdir()
    names = [f"files/app{i:02d}.conf" for i in range(count)]
    fixtures.write_files(root, {name: f"setting = {i}\n" for i, name in enumerate(names)})
    entries = [{"src": name, "dest": str(root / "etc" / Path(name).name), "mode": "0640"}
               for name in names]
    deploy = playbook(root, None, PROJECT / "playbooks/deploy.yml", entries)
    log = root / "commands.log"
    for label in ("first put", "no-op", "1 file changed"):
        if label == "1 file changed":
            (root / names[0]).write_text("setting = changed\n")
        seconds = fixtures.timed(deploy, env=ENV)
        ran = len(log.read_text().splitlines()) if log.exists() else 0
        figure(f"deploy, {count} config files, {label}", f"{seconds:.2f}", "s",
               f"commands ran {ran}x")


def main() -> int:
    parser = figures.parser(__doc__)
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 4], metavar="N",
                        help="sizes of the source, in files (default: 1000 4)")
    parser.add_argument("--config-files", type=int, default=10, metavar="N",
                        help="config files of the files-only deploy (default: 10)")
    parser.add_argument("--quick", action="store_true", help="--files 20 --config-files 2 (CI)")
    args = parser.parse_args()
    started, load = figures.begin()
    with Sandbox("bench-deploy") as box:
        ENV["HOME"] = str(box.root)
        for files in [20] if args.quick else args.files:
            bench(box.root / f"files-{files}", files)
        count = 2 if args.quick else args.config_files
        bench_config_files(box.root / f"config-files-{count}", count)
        one_task = box.root / "one.yml"
        one_task.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                            "    - ansible.builtin.debug: {msg: hi}\n")
        seconds = fixtures.timed(playbook(box.root, box.root, one_task), env=ENV)
        figure("one-task playbook (Ansible's own cost)", f"{seconds:.2f}", "s")
    figures.finish(__file__, started, load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
