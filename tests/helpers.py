"""Real git repos and the real CLI, for the integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

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
    command = [sys.executable, "-m", "gitops_agent", *args]
    if config is not None:
        command += ["--config", str(config)]
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                   **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env=environment, stdin=subprocess.DEVNULL)


def report(remote: Remote, host: str = "web-01", branch: str = "gitops-status") -> Any:
    return yaml.safe_load(remote.read(branch, f"hosts/{host}.yml"))


def state(state_dir: Path) -> Any:
    import json

    return json.loads((state_dir / "state.json").read_text())


def runs(state_dir: Path, app: str) -> list[Path]:
    directory = state_dir / "runs" / app / "artifacts"
    return sorted(directory.iterdir()) if directory.is_dir() else []


SLEEPER = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Take a long time
      ansible.builtin.command: sleep 60
"""

RECORD_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Record the variables this run got
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ gitops_app }}.json"
        content: "{{ {'app': gitops_app, 'host': gitops_host, 'labels': gitops_labels,
          'config_dir': gitops_config_dir, 'config_commit': gitops_config_commit,
          'source_dir': gitops_source_dir, 'source_commit': gitops_source_commit,
          'greeting': greeting | default(None), 'run': lookup('pipe', 'date +%s%N')} | to_json }}"
"""
