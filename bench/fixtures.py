"""What the benchmark scripts build on: a sandbox (a temp dir with its own HOME and a
clean environment), real git repos served as file:// URLs, a host whose config repo has
N apps with their source repos, and the agent's command line. Output: figures.py.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from figures import note

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))  # the scripts measure the code of this checkout
VENV_BIN = Path(sys.executable).parent
HOST = "bench-host"
STATUS_BRANCH = f"gitops-status/{HOST}"  # the default branch: one per host
IDENTITY = ("-c", "user.name=gitops-bench", "-c", "user.email=gitops-bench@localhost",
            "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main")
CALLER_SETTINGS = ("GIT_", "ANSIBLE_", "PYTHON", "GITOPS_AGENT", "XDG_")


class BenchError(RuntimeError):
    """A check failed: the figures would not mean what they say."""


# --------------------------------------------------------------------------- processes


def clean_environment(home: Path) -> dict[str, str]:
    """os.environ without the caller's git, Ansible, Python and agent settings; HOME and
    TMPDIR in the sandbox; the venv first on PATH; this checkout's code on PYTHONPATH."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(CALLER_SETTINGS)
           and key not in ("JOURNAL_STREAM", "INVOCATION_ID")}
    tmp = home.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    return env | {"HOME": str(home), "TMPDIR": str(tmp), "GIT_CONFIG_NOSYSTEM": "1",
                  "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "PYTHONPATH": str(PROJECT),
                  "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}


def run(argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + "\n" + done.stderr).strip().splitlines()[-25:])
        raise BenchError(f"rc {done.returncode}: {shlex.join(argv)}\n{tail}")
    return done


def timed(argv: Sequence[str], **kwargs: Any) -> float:
    """Wall seconds of one command that must succeed."""
    start = time.perf_counter()
    run(argv, **kwargs)
    return time.perf_counter() - start


def git(*args: str, cwd: Path | None = None) -> str:
    """git for the benchmark's own set-up and reads (not the agent's code path)."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    return run(["git", *IDENTITY, *args], env=env, cwd=cwd).stdout.strip()


class Sandbox:
    """A temp dir with its own HOME, removed at the end unless `keep`; `env` is the
    environment every command of the benchmark runs in."""

    def __init__(self, prefix: str, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"gitops-{prefix}-"))
        self.keep = keep
        (self.root / "home").mkdir()
        self.env = clean_environment(self.root / "home")

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_: object) -> None:
        if self.keep:
            note(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def isolate(self) -> None:
        """For benchmarks that run the agent's code in this process: os.environ := env."""
        os.environ.clear()
        os.environ.update(self.env)

    def run(self, argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(argv, env=self.env, cwd=self.root, check=check)

    def agent(self, *args: str, config: Path, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
        """The real `gitops-agent` command line, e.g. agent("run", config=host.agent_config)."""
        return self.run(self.agent_argv(*args, config=config), check=check)

    @staticmethod
    def agent_argv(*args: str, config: Path) -> list[str]:
        return [str(VENV_BIN / "gitops-agent"), *args, "--config", str(config)]


# --------------------------------------------------------------------------- repos


def write_files(directory: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


class Repo:
    """A bare repo (what the git host serves, as a file:// URL) and a work clone to
    commit and push from."""

    def __init__(self, root: Path, name: str, files: dict[str, str] | None = None) -> None:
        self.bare, self.work = root / f"{name}.git", root / f"{name}-work"
        self.url = self.bare.as_uri()
        git("init", "-q", "--bare", str(self.bare))
        git("init", "-q", str(self.work))
        if files:
            self.write(files)
            self.commit(f"{name}: initial")

    def write(self, files: dict[str, str]) -> None:
        write_files(self.work, files)

    def commit(self, message: str) -> str:
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", str(self.bare), "HEAD:refs/heads/main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tip(self, branch: str) -> str | None:
        done = run(["git", "--git-dir", str(self.bare), "rev-parse", "--verify", "-q",
                    f"refs/heads/{branch}"], check=False)
        return done.stdout.strip() or None

    def show(self, ref: str, path: str) -> str:
        return git("--git-dir", str(self.bare), "show", f"{ref}:{path}")


# --------------------------------------------------------------------------- a host


@dataclass
class Host:
    """One host's agent and what it watches: a config repo with apps app-00 … (each with
    `playbooks/<app>.yml`, and its own source repo unless built without), the agent
    config and state dir. `group_vars/all.yml` sets `out_dir`, where playbooks write."""

    root: Path
    config: Repo
    sources: dict[str, Repo]
    apps: dict[str, dict[str, Any]]  # app name -> its app file
    agent_config: Path
    state_dir: Path
    out: Path

    @property
    def names(self) -> list[str]:
        return list(self.apps)

    def state(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "state.json").read_text(encoding="utf-8"))

    def run_ids(self) -> dict[str, str]:
        return {name: app["run_id"] for name, app in self.state()["apps"].items()}

    def outputs(self, directory: Path | None = None) -> dict[str, int]:
        """The playbooks' files and their mtimes: a playbook that ran changes them."""
        return {path.name: path.stat().st_mtime_ns
                for path in sorted((directory or self.out).glob("*.txt"))}

    def set_vars(self, name: str, **variables: Any) -> None:
        """Rewrite an app's `vars:` in the work clone (commit with host.config.commit)."""
        self.apps[name]["vars"] = variables
        self.config.write({f"apps/{name}.yml": yaml.safe_dump(self.apps[name])})

    def change_source(self, name: str, text: str) -> str:
        self.sources[name].write({"VERSION": text})
        return self.sources[name].commit(f"{name}: {text.strip()}")


def build_host(root: Path, apps: int, playbook: str, *, sources: bool = True,
               app_vars: Callable[[str], dict[str, Any]] | None = None,
               **settings: Any) -> Host:
    """A host under `root` with `apps` apps running `playbook`; `settings` are merged into
    the agent config (default: status pushed, 2 workers)."""
    root.mkdir(parents=True)
    out = root / "out"
    out.mkdir()
    files = {"group_vars/all.yml": f"out_dir: {out}\n"}
    repos, app_files = {}, {}
    for name in (f"app-{index:02d}" for index in range(apps)):
        app: dict[str, Any] = {"playbook": f"playbooks/{name}.yml"}
        if sources:
            repos[name] = Repo(root, f"src-{name}", {"README.md": f"# {name}\n",
                                                      "VERSION": "0\n"})
            app["source"] = {"url": repos[name].url, "ref": "main"}
        if app_vars:
            app["vars"] = app_vars(name)
        app_files[name] = app
        files[f"apps/{name}.yml"] = yaml.safe_dump(app)
        files[f"playbooks/{name}.yml"] = playbook
    config = Repo(root, "config", files)
    state_dir = root / "state"
    agent = {"host": {"name": HOST}, "config_repo": {"url": config.url, "branch": "main"},
             "status": {"enabled": True}, "state_dir": str(state_dir),
             "runner": {"workers": 2}, **settings}
    agent_config = root / "agent.yml"
    agent_config.write_text(yaml.safe_dump(agent), encoding="utf-8")
    return Host(root, config, repos, app_files, agent_config, state_dir, out)
