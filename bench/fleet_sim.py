"""A simulated fleet for bench_fleet.py and bench_waves.py: N hosts, each with its own
status cache repo and config checkout, driving the agent's real publishing code against
ONE local bare repo (a plain path: git's local transport, real upload-pack and
receive-pack processes, the same protocol as over ssh).

Nothing here reimplements the agent: a host's pass is `config_repo.remote_head` (the
no-op check of the config branch) and `status.publish` with a real StatusConfig, a
report from `report.build` and an injected clock. What a call receives: traffic.py.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fixtures import git as sh_git

from gitops_agent import git
from gitops_agent.config import RepoConfig, StatusConfig
from gitops_agent.errors import GitError
from gitops_agent.observe import config_repo
from gitops_agent.publish import report, status

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # the simulated clock starts here


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class Counters:
    """Every push the agent's code makes (git.push wrapped), and its log's warnings."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: collections.Counter[str] = collections.Counter()
        self.warnings: collections.Counter[str] = collections.Counter()
        original = git.push

        def counted(*args: Any, **kwargs: Any) -> None:
            try:
                original(*args, **kwargs)
            except git.PushRejected:
                self.add("rejected")
                raise
            except GitError:
                self.add("push_errors")
                raise
            self.add("leased" if kwargs.get("lease") else "pushes")

        git.push = counted  # status.py calls git.push through the module
        counters = self

        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                with counters.lock:
                    counters.warnings[re.sub(r"\S*/\S*", "…", record.getMessage())[:90]] += 1

        logging.getLogger("gitops_agent").addHandler(Handler(logging.WARNING))
        logging.getLogger("gitops_agent").setLevel(logging.WARNING)

    def add(self, key: str, value: int = 1) -> None:
        with self.lock:
            self.counts[key] += value

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class Peak:
    """The most git processes (and receive-packs) of the fleet seen running at once,
    from /proc, sampled every 100 ms while the block runs."""

    def __init__(self, marker: str) -> None:
        self.marker, self.git, self.receive = marker.encode(), 0, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def __enter__(self) -> Peak:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()

    def sample(self) -> None:
        while not self.done.wait(0.1):
            git_count = receive = 0
            for proc in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    words = proc.read_bytes()
                except OSError:
                    continue
                if self.marker in words and b"git" in words.split(b"\0")[0]:
                    git_count += 1
                    receive += b"receive-pack" in words
            self.git, self.receive = max(self.git, git_count), max(self.receive, receive)


def run_together(tasks: list[Any], work: Any, concurrency: int) -> list[Any]:
    """work(task) for every task on `concurrency` threads, the first `concurrency` of
    them released at the same instant (a barrier); [(result or None, error or None)]."""
    gate = threading.Barrier(min(concurrency, len(tasks)))
    local = threading.local()

    def one(task: Any) -> tuple[Any, str | None]:
        if not getattr(local, "started", False):  # each thread waits once, at its start
            local.started = True
            gate.wait()
        try:
            return work(task), None
        except Exception as error:  # a host giving up: counted, never hidden
            return None, f"{type(error).__name__}: {error}"

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(one, tasks))


class Fleet:
    """N hosts and the bare repo they all report to (its `main` is the config branch)."""

    def __init__(self, root: Path, hosts: int, config_files: int = 40, heartbeat: int = 900,
                 keep_days: int | None = None, name: str = "fleet",
                 branch: str = "gitops-status/{host}") -> None:
        self.root = root / name
        self.bare = self.root / "fleet.git"
        self.url = str(self.bare)
        self.hosts = [f"host-{index:04d}" for index in range(hosts)]
        self.heartbeat, self.keep_days, self.branch = heartbeat, keep_days, branch
        self.auth = git.Auth()
        self.expected: dict[str, dict[str, Any]] = {}  # host -> what its branch must hold
        self.generation: dict[str, int] = dict.fromkeys(self.hosts, 0)
        self.lock = threading.Lock()
        self.bare.parent.mkdir(parents=True)
        sh_git("init", "-q", "--bare", str(self.bare))
        self.work = self.root / "config-work"
        sh_git("init", "-q", str(self.work))
        for index in range(config_files // 2):
            self.write(f"apps/app-{index:02d}.yml",
                       f"playbook: playbooks/app-{index:02d}.yml\nhosts: {{env: prod}}\n")
            self.write(f"playbooks/app-{index:02d}.yml",
                       f"- hosts: all\n  tasks:\n    - name: app {index}\n"
                       f"      ansible.builtin.copy: {{content: '{index}', dest: /tmp/x}}\n")
        self.config_commit = self.commit_config("initial config")

    # -- the ops team's side
    def write(self, path: str, text: str) -> None:
        (self.work / path).parent.mkdir(parents=True, exist_ok=True)
        (self.work / path).write_text(text, encoding="utf-8")

    def commit_config(self, message: str) -> str:
        """A commit on `main` that touches every host (group_vars/all.yml)."""
        self.write("group_vars/all.yml", f"release: {message!r}\n")
        sh_git("add", "-A", cwd=self.work)
        sh_git("commit", "-q", "-m", message, cwd=self.work)
        sh_git("push", "-q", self.url, "HEAD:refs/heads/main", cwd=self.work)
        self.config_commit = sh_git("rev-parse", "HEAD", cwd=self.work)
        return self.config_commit

    # -- a host's side
    def target(self, host: str) -> StatusConfig:
        return StatusConfig(enabled=True, url=self.url, branch=self.branch.format(host=host),
                            heartbeat=self.heartbeat, keep_days=self.keep_days,
                            per_host="{host}" in self.branch)

    def document(self, host: str, when: datetime, change: bool) -> dict[str, Any]:
        """The host's report: three apps; `change` re-applies them (new content)."""
        with self.lock:
            self.generation[host] += change
            generation = self.generation[host]
        stamp = iso(when)
        apps: dict[str, dict[str, Any]] = {f"app-{index:02d}": {
            "state": "applied" if generation % 2 else "unchanged", "source_commit": None,
            "config_commit": self.config_commit,
            "started": iso(EPOCH + timedelta(minutes=generation)),
            "duration": 1.5 + index, "stats": {"ok": 5 + index, "changed": generation % 2},
            "failed_tasks": [], "run_id": f"{host}-{generation}-{index}",
            "message": f"generation {generation}"} for index in range(3)}
        return report.build(host, stamp, self.config_commit, apps, None,
                            {"env": "prod", "role": "web"}, stamp)

    def publish(self, host: str, when: datetime, change: bool = False) -> str:
        document = self.document(host, when, change)
        outcome = status.publish(self.root / "hosts" / host / "status.git", self.target(host),
                                 self.auth, host, document, now=lambda: when)
        with self.lock:
            if outcome == status.PUSHED:
                self.expected[host] = document
            elif outcome == status.REFRESHED:
                self.expected[host] = {**document, "updated": self.expected[host]["updated"]}
        return outcome

    def head(self, host: str) -> str:
        """A no-op pass's one question to the config repo (the agent's own call)."""
        return config_repo.remote_head(self.root / "hosts" / host / "config",
                                       RepoConfig(url=self.url), self.auth)

    # -- reading the bare repo
    def lost(self) -> list[str]:
        """Hosts whose branch does not hold exactly what they last published."""
        lines = "".join(f"refs/heads/{self.branch.format(host=host)}:hosts/{host}.yml\n"
                        for host in self.expected)
        out = subprocess.run(["git", "--git-dir", self.url, "cat-file", "--batch"],
                             input=lines.encode(), capture_output=True, check=True).stdout
        found, position = {}, 0
        for host in self.expected:
            header = out[position:out.index(b"\n", position)].decode()
            position += len(header) + 1
            if header.endswith("missing"):
                continue
            size = int(header.split()[2])
            found[host] = report.parse(out[position:position + size].decode())
            position += size + 1
        return [host for host, document in self.expected.items()
                if found.get(host) != document]

    def commits(self) -> int:
        return int(sh_git("--git-dir", self.url, "rev-list", "--count",
                          "--branches=gitops-status/"))

    def loose(self) -> tuple[int, int]:
        """Loose objects: how many, and their bytes (the files, without the 256 fan-out
        directories that `du -sb` also counts at 4 KiB each)."""
        files = [path for path in (self.bare / "objects").glob("[0-9a-f][0-9a-f]/*")]
        return len(files), sum(path.stat().st_size for path in files)

    def cruft(self) -> int:
        """Bytes of the cruft pack (`git gc --cruft`: unreachable objects, kept packed)."""
        return sum(path.with_suffix(".pack").stat().st_size
                   for path in (self.bare / "objects" / "pack").glob("*.mtimes"))

    def size(self) -> int:
        return int(subprocess.run(["du", "-sb", self.url], capture_output=True, text=True,
                                  check=True).stdout.split()[0])


def simulated_dates(when: datetime | None) -> None:
    """Commits the agent makes carry the simulated time (None: the real clock again)."""
    for key in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        if when is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = f"@{int(when.timestamp())} +0000"


def later(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def parse_iso(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def gc_size(fleet: Fleet, *options: str) -> int:
    for _ in range(600):  # a push's background `gc --auto` may still be running
        if not (fleet.bare / "gc.pid").exists():
            break
        time.sleep(0.2)
    sh_git("--git-dir", fleet.url, "gc", "-q", *options)
    return fleet.size()
