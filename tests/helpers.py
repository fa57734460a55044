"""Real git repos and the real CLI, for the integration tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests import launcher

IDENTITY = ["-c", "user.name=Test Ops", "-c", "user.email=ops@example.test",
            "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip()


class Remote:
    """A bare repo (the 'server') and a work clone to commit and push from."""

    def __init__(self, root: Path, name: str) -> None:
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        git("init", "-q", "--bare", str(self.bare))
        with (self.bare / "config").open("a") as config:  # no `gc --auto` after each push
            config.write("[receive]\n\tautogc = false\n")
        git("init", "-q", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    @property
    def url(self) -> str:
        return str(self.bare)

    def write(self, path: str, text: str) -> Remote:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return self

    def remove(self, path: str) -> Remote:
        git("rm", "-q", "-r", path, cwd=self.work)
        return self

    def commit(self, message: str = "change", branch: str = "main") -> str:
        if (self.work / ".git" / "HEAD").read_text() != f"ref: refs/heads/{branch}\n":
            git("checkout", "-q", "-B", branch, cwd=self.work)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", "-f", "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def branch(self, name: str) -> str:
        """Publish the current commit as branch `name` too."""
        git("push", "-q", "-f", "origin", f"HEAD:refs/heads/{name}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tag(self, name: str, annotated: bool = False) -> str:
        git("tag", *(["-a", "-m", name] if annotated else []), name, cwd=self.work)
        git("push", "-q", "origin", f"refs/tags/{name}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def read(self, ref: str, path: str) -> str:
        return git("--git-dir", str(self.bare), "show", f"{ref}:{path}")

    def log(self, ref: str) -> list[str]:
        try:
            return git("--git-dir", str(self.bare), "log", "--format=%H", ref).split()
        except subprocess.CalledProcessError:
            return []


def write_config(path: Path, config_url: str, state_dir: Path, **more: Any) -> Path:
    data: dict[str, Any] = {
        "host": {"name": more.pop("host", "web-01"), "labels": more.pop("labels", {})},
        "config_repo": {"url": config_url, **more.pop("config_repo", {})},
        "state_dir": str(state_dir),
        **more,
    }
    path.write_text(yaml.safe_dump(data))
    return path


def cli(*args: str, config: Path | None = None, timeout: float = 240,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line; PATH has the venv's ansible first."""
    arguments = [*args, *(["--config", str(config)] if config is not None else [])]
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                   **(env or {})}
    if os.environ.get("GITOPS_TEST_COLD") != "1":
        return launcher.run(arguments, environment, timeout)
    return subprocess.run([sys.executable, "-m", "gitops_agent", *arguments],
                          capture_output=True, text=True, timeout=timeout, env=environment,
                          stdin=subprocess.DEVNULL)


def report(remote: Remote, host: str = "web-01", branch: str | None = None) -> Any:
    """A host's report, from its own status branch unless `branch` names another."""
    return yaml.safe_load(remote.read(branch or f"gitops-status/{host}", f"hosts/{host}.yml"))


def state(state_dir: Path) -> Any:
    import json

    return json.loads((state_dir / "state.json").read_text())


def temporary_files(state_dir: Path) -> list[str]:
    """Temp files an atomic write left behind in the state dir: write_atomically and the
    schema cache name theirs `.<file>.<random>`; a run's scratch work dirs are `run-*`."""
    found = [path.name for path in state_dir.iterdir() if path.name.startswith(".")]
    found += [str(path.relative_to(state_dir)) for path in state_dir.glob("runs/*/work/*")]
    return sorted(found)


def runs(state_dir: Path, app: str) -> list[Path]:
    directory = state_dir / "runs" / app / "artifacts"
    return sorted(directory.iterdir()) if directory.is_dir() else []


FAILING_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Restart billing
      ansible.builtin.fail:
        msg: billing did not come up
"""

SLEEPER = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Take a long time
      ansible.builtin.command: sleep 60
"""

PUT_MESSAGE = """\
          {{ lookup('pipe', 'f=' ~ (put_dest | quote) ~ '; c=' ~ (put_content | quote)
          ~ '; if [ -f "$f" ] && [ "$(cat -- "$f"; echo .)" = "$c." ]; then echo ok; else '
          ~ ('' if ansible_check_mode else 'printf %s "$c" > "$f" && ') ~ 'echo changed; fi') }}
"""


def put_task(name: str, dest: str, content: str, indent: str = "    ") -> str:
    """One task that writes `content` to `dest` (YAML scalars; Jinja allowed) as
    ansible.builtin.copy with `content` would: changed only when the file differs,
    nothing written in check mode. It writes from the controller (this is localhost)
    through a pipe lookup: copy costs a stat and a copy module run, about a second of
    every apply, and most integration tests apply one of these. `notify:` and the like
    can follow it at the same indent."""
    lines = [f"- name: {name}",
             "  ansible.builtin.debug:",
             "    msg: >-",
             *(line[4:] for line in PUT_MESSAGE.splitlines()),
             "  register: put",
             "  changed_when: put.msg == 'changed'",
             "  vars:",
             f"    put_dest: {dest}",
             f"    put_content: {content}"]
    return "".join(f"{indent}{line}\n" for line in lines)


def put_playbook(name: str, dest: str, content: str) -> str:
    """A one-task playbook of put_task."""
    return "- hosts: all\n  gather_facts: false\n  tasks:\n" + put_task(name, dest, content)


# A record's `run` always differs: every apply changes it, and check mode says it would.
RECORD_PLAYBOOK = put_playbook(
    "Record the variables this run got", '"{{ out_dir }}/{{ gitops_app }}.json"',
    """"{{ {'app': gitops_app, 'host': gitops_host, 'labels': gitops_labels,
          'config_dir': gitops_config_dir, 'config_commit': gitops_config_commit,
          'source_dir': gitops_source_dir, 'source_commit': gitops_source_commit,
          'greeting': greeting | default(None), 'run': lookup('pipe', 'date +%s%N')}
          | to_json }}\"""")


def keygen(path: Path, comment: str) -> str:
    """A new ed25519 key pair at `path`; returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True)
    return path.with_name(f"{path.name}.pub").read_text().strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sshd(binary: str, root: Path, host_key: Path, settings: str
               ) -> tuple[subprocess.Popen[bytes], int]:
    """sshd on 127.0.0.1 (a free port) with `settings` added; waits until it listens."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    port = free_port()
    config = root / "sshd_config"
    config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
                      f"UsePAM no\nStrictModes no\nPasswordAuthentication no\n{settings}")
    log = root / "sshd.log"
    with open(log, "wb") as stream:
        process = subprocess.Popen([binary, "-D", "-e", "-f", str(config)], stderr=stream,
                                   stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"sshd did not start: {log.read_text()}") from None
            time.sleep(0.1)
