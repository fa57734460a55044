#!/usr/bin/env python3
"""Benchmark: the no-op pass of gitops-agent against ansible-pull --only-if-changed.

Run it with the project's venv:

    .venv/bin/python bench/bench_noop.py [--repeat N] [--pull-loop-repeat M] [--profile]

What it does, on real bare git repos it builds in a temp dir (file:// URLs only, no
network, HOME pointed at the temp dir, everything removed at the end):

1. gitops-agent no-op pass, 1 app and 20 apps. Each app has its own source repo and a
   trivial playbook (gather_facts: false, writes one file under the temp dir) in the
   config repo. A fresh state_dir per scenario, status.enabled: true (the status branch
   lives in the config repo). One pass applies everything, one more makes the report
   steady, then N timed no-op passes; then N more with --no-push on the same state.
2. ansible-pull -o (--only-if-changed) on the same config repo and playbooks: one
   invocation for 1 app; for 20 apps one invocation per app (own checkout dir, own
   playbook), the loop of 20 timed as a whole. One run first to check out, then timed
   no-op repeats. Checked: the playbook did not run (the written files' mtimes are
   unchanged, and ansible-pull said "Repository has not changed").
3. The agent's own overhead on a pass that applies exactly one app: a commit is pushed
   to one app's source repo, one pass is timed, and the ansible-runner run's duration
   (state.json apps.<name>.duration) is subtracted from the wall time.
4. A table with the ratios, compared with the targets: agent no-op >= 5x faster than
   ansible-pull for one app, >= 50x faster than ansible-pull over 20 apps.

--profile adds a breakdown of one 1-app and one 20-app no-op pass: interpreter start,
imports, git processes spawned (counted through a logging `git` shim on PATH),
`python -X importtime` and `python -m cProfile` top entries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
HOST = "bench-host"
STATUS_BRANCH = f"gitops-status/{HOST}"  # the default: one status branch per host
IDENTITY = ("-c", "user.name=gitops-bench", "-c", "user.email=gitops-bench@localhost",
            "-c", "commit.gpgsign=false")
TARGET_ONE = 5.0
TARGET_MANY = 50.0
MANY = 20


# --------------------------------------------------------------------------- helpers


@contextmanager
def measure(timings: Timings) -> Iterator[None]:
    """Append the block's wall time and its children's CPU time (user+sys) to `timings`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    yield
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    timings.samples.append(wall)
    timings.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


class BenchError(RuntimeError):
    pass


@dataclass
class Timings:
    label: str
    samples: list[float] = field(default_factory=list)  # wall seconds
    cpu: list[float] = field(default_factory=list)  # user+sys seconds of the child processes

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)


class Bench:
    def __init__(self, root: Path, bin_dir: Path, verbose: bool) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.verbose = verbose
        self.home = root / "home"
        self.tmp = root / "tmp"
        self.remotes = root / "remotes"  # bare repos: what the "git host" serves
        self.work = root / "work"  # the ops team's / developers' clones
        self.out = root / "out"  # files the playbooks write
        for directory in (self.home, self.tmp, self.remotes, self.work, self.out):
            directory.mkdir(parents=True)
        self.python = str(Path(sys.executable))
        self.agent = str(bin_dir / "gitops-agent")
        self.ansible_pull = str(bin_dir / "ansible-pull")
        self.env = self._environment()

    # -- processes

    def _environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("GIT_", "ANSIBLE_", "GITOPS_AGENT", "XDG_", "PYTHON"))}
        env.update({
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C.UTF-8",
            "LANG": "C.UTF-8",
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        })
        env.pop("JOURNAL_STREAM", None)
        env.pop("INVOCATION_ID", None)
        return env

    def run(self, argv: Sequence[str], cwd: Path | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(list(argv), cwd=str(cwd or self.root), env=env or self.env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              check=False)
        if check and done.returncode != 0:
            tail = "\n".join((done.stdout + "\n" + done.stderr).strip().splitlines()[-25:])
            raise BenchError(f"command failed (rc {done.returncode}): {' '.join(argv)}\n{tail}")
        return done

    def timed(self, argv: Sequence[str], cwd: Path | None = None,
              env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
        start = time.perf_counter()
        done = self.run(argv, cwd=cwd, env=env)
        return time.perf_counter() - start, done

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return self.run(["git", *args], cwd=cwd).stdout.strip()

    def say(self, text: str) -> None:
        print(text, flush=True)

    def debug(self, text: str) -> None:
        if self.verbose:
            print(f"    {text}", flush=True)

    # -- repos

    def new_repo(self, name: str, files: dict[str, str]) -> str:
        """A work clone with one commit of `files`, and its bare remote; returns the URL."""
        work = self.work / name
        bare = self.remotes / f"{name}.git"
        work.mkdir(parents=True)
        self.git("init", "-q", "-b", "main", str(work))
        for relative, text in files.items():
            path = work / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        self.git("add", "-A", cwd=work)
        self.git(*IDENTITY, "commit", "-q", "-m", f"{name}: initial", cwd=work)
        self.git("init", "-q", "--bare", "-b", "main", str(bare))
        self.git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=work)
        return bare.as_uri()

    def change_source(self, name: str, counter: int) -> None:
        work = self.work / name
        (work / "VERSION").write_text(f"{counter}\n", encoding="utf-8")
        self.git("add", "-A", cwd=work)
        self.git(*IDENTITY, "commit", "-q", "-m", f"{name}: change {counter}", cwd=work)
        self.git("push", "-q", str(self.remotes / f"{name}.git"), "HEAD:refs/heads/main",
                 cwd=work)

    def tip(self, bare_name: str, branch: str) -> str | None:
        out = self.run(["git", "ls-remote", str(self.remotes / f"{bare_name}.git"),
                        f"refs/heads/{branch}"]).stdout.split()
        return out[0] if out else None


def app_name(index: int) -> str:
    return f"app-{index:02d}"


PLAYBOOK = """\
- name: {app}
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the marker file (new content on every run, so every run changes its mtime)
      ansible.builtin.copy:
        dest: "{{{{ bench_out }}}}"
        content: >-
          {app} {{{{ gitops_source_commit | default('-') }}}}
          {{{{ now(fmt='%Y-%m-%dT%H:%M:%S.%f') }}}}
        mode: "0644"
"""


@dataclass
class Scenario:
    apps: int
    config_name: str
    config_url: str
    names: list[str]
    agent_config: Path
    state_dir: Path
    agent_out: Path
    pull_out: Path


def build_scenario(bench: Bench, apps: int) -> Scenario:
    names = [app_name(index) for index in range(apps)]
    config_name = f"config-{apps}"
    agent_out = bench.out / f"agent-{apps}"
    pull_out = bench.out / f"pull-{apps}"
    agent_out.mkdir()
    pull_out.mkdir()
    files: dict[str, str] = {}
    for name in names:
        source_url = bench.new_repo(f"src-{apps}-{name}", {
            "README.md": f"# {name}\n", "VERSION": "0\n"})
        files[f"apps/{name}.yml"] = (
            f"source:\n  url: {source_url}\n  ref: main\n"
            f"playbook: playbooks/{name}.yml\n"
            f"vars:\n  bench_out: {agent_out / (name + '.txt')}\n")
        files[f"playbooks/{name}.yml"] = PLAYBOOK.format(app=name)
    config_url = bench.new_repo(config_name, files)
    state_dir = bench.root / f"state-{apps}"
    agent_config = bench.root / f"agent-{apps}.yml"
    agent_config.write_text(
        f"host:\n  name: {HOST}\n"
        f"config_repo:\n  url: {config_url}\n  branch: main\n"
        f"status:\n  enabled: true\n"
        f"state_dir: {state_dir}\n"
        f"runner:\n  workers: 2\n", encoding="utf-8")
    return Scenario(apps, config_name, config_url, names, agent_config, state_dir,
                    agent_out, pull_out)


def mtimes(directory: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in sorted(directory.glob("*.txt"))}


def load_state(scenario: Scenario) -> dict:
    return json.loads((scenario.state_dir / "state.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- agent


def agent_argv(bench: Bench, scenario: Scenario, push: bool = True) -> list[str]:
    argv = [bench.agent, "run", "--config", str(scenario.agent_config)]
    return argv if push else [*argv, "--no-push"]


def agent_noop(bench: Bench, scenario: Scenario, repeat: int) -> tuple[Timings, Timings]:
    n = scenario.apps
    bench.say(f"\n== gitops-agent, {n} app(s): first pass applies everything")
    seconds, _ = bench.timed(agent_argv(bench, scenario))
    bench.say(f"   apply pass: {seconds:.2f}s")
    state = load_state(scenario)
    states = {name: record["state"] for name, record in state["apps"].items()}
    if sorted(states) != scenario.names or set(states.values()) != {"applied"}:
        raise BenchError(f"the first pass did not apply every app: {states}")
    if sorted(mtimes(scenario.agent_out)) != [f"{name}.txt" for name in scenario.names]:
        raise BenchError("the playbooks did not write their files")
    seconds, _ = bench.timed(agent_argv(bench, scenario))
    bench.say(f"   second pass (report goes to steady state): {seconds:.2f}s")

    before_files = mtimes(scenario.agent_out)
    before_runs = {name: record["run_id"] for name, record in load_state(scenario)["apps"].items()}
    before_tip = bench.tip(scenario.config_name, STATUS_BRANCH)
    if before_tip is None:
        raise BenchError(f"the agent pushed no status report to {STATUS_BRANCH}")

    results = []
    for push in (True, False):
        label = f"agent no-op, {n} app(s)" + ("" if push else ", --no-push")
        timings = Timings(label)
        for _ in range(repeat):
            with measure(timings):
                done = bench.run(agent_argv(bench, scenario, push))
            lines = [line for line in done.stdout.splitlines() if line.strip()]
            if len(lines) != n or not all(line.split()[1] == "unchanged" for line in lines):
                raise BenchError(f"a no-op pass did not report every app unchanged:\n"
                                 f"{done.stdout}{done.stderr}")
        bench.say(f"   {label}: median {timings.median:.3f}s, min {timings.minimum:.3f}s, "
                  f"CPU {timings.cpu_median:.3f}s ({repeat} passes)")
        results.append(timings)

    after_runs = {name: record["run_id"] for name, record in load_state(scenario)["apps"].items()}
    checks = {
        "no playbook ran (files' mtimes unchanged)": mtimes(scenario.agent_out) == before_files,
        "no new ansible-runner run in state.json": after_runs == before_runs,
        "no new status commit (report steady)":
            bench.tip(scenario.config_name, STATUS_BRANCH) == before_tip,
    }
    for what, ok in checks.items():
        bench.say(f"   verified: {what}: {'yes' if ok else 'NO'}")
        if not ok:
            raise BenchError(f"agent no-op check failed: {what}")
    return results[0], results[1]


# --------------------------------------------------------------------------- ansible-pull


def pull_argv(bench: Bench, scenario: Scenario, name: str, inventory: Path) -> list[str]:
    return [bench.ansible_pull,
            "-U", scenario.config_url,
            "-C", "main",
            "-d", str(bench.root / f"pull-{scenario.apps}" / name),
            "-i", str(inventory),
            "--only-if-changed",
            "-e", f"bench_out={scenario.pull_out / (name + '.txt')}",
            f"playbooks/{name}.yml"]


def pull_noop(bench: Bench, scenario: Scenario, repeat: int, inventory: Path) -> Timings:
    n = scenario.apps
    what = "one invocation" if n == 1 else f"loop of {n} invocations, one per app"
    bench.say(f"\n== ansible-pull --only-if-changed, {n} app(s) ({what})")
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:  # set-up only, not timed: in parallel
        list(pool.map(lambda name: bench.run(pull_argv(bench, scenario, name, inventory)),
                      scenario.names))
    bench.say(f"   first run (clone + playbook; untimed set-up, up to 4 in parallel): "
              f"{time.perf_counter() - start:.2f}s")
    before = mtimes(scenario.pull_out)
    if sorted(before) != [f"{name}.txt" for name in scenario.names]:
        raise BenchError("ansible-pull's first run did not write every file")

    timings = Timings(f"ansible-pull no-op, {n} app(s)")
    quit_messages = 0
    for _ in range(repeat):
        with measure(timings):
            for name in scenario.names:
                done = bench.run(pull_argv(bench, scenario, name, inventory))
                quit_messages += "Repository has not changed, quitting" in done.stdout
    bench.say(f"   {timings.label}: median {timings.median:.3f}s, min {timings.minimum:.3f}s, "
              f"CPU {timings.cpu_median:.3f}s ({repeat} repeats)")
    unchanged = mtimes(scenario.pull_out) == before
    said = quit_messages == repeat * n
    bench.say(f"   verified: the playbook did not run on the no-op "
              f"(files' mtimes unchanged): {'yes' if unchanged else 'NO'}")
    bench.say(f"   verified: ansible-pull said 'Repository has not changed, quitting' "
              f"{quit_messages}/{repeat * n} times")
    if not (unchanged and said):
        raise BenchError("ansible-pull ran the playbook on a no-op: the comparison is unfair")
    return timings


# --------------------------------------------------------------------------- overhead


@dataclass
class Overhead:
    label: str
    walls: list[float] = field(default_factory=list)
    durations: list[float] = field(default_factory=list)

    @property
    def overheads(self) -> list[float]:
        return [wall - duration for wall, duration in zip(self.walls, self.durations, strict=True)]


def agent_overhead(bench: Bench, scenario: Scenario, repeat: int) -> Overhead:
    n = scenario.apps
    result = Overhead(f"agent pass applying 1 of {n} app(s)")
    bench.say(f"\n== gitops-agent overhead on a pass that applies exactly 1 of {n} app(s)")
    target = scenario.names[0]
    for attempt in range(repeat):
        runs = {name: record["run_id"] for name, record in load_state(scenario)["apps"].items()}
        bench.change_source(f"src-{n}-{target}", attempt + 1)
        seconds, done = bench.timed(agent_argv(bench, scenario))
        state = load_state(scenario)["apps"]
        applied = [name for name, record in state.items() if record["run_id"] != runs[name]]
        if applied != [target] or state[target]["state"] != "applied":
            raise BenchError(f"expected exactly {target} applied, got {applied}:\n"
                             f"{done.stdout}{done.stderr}")
        duration = float(state[target]["duration"])
        result.walls.append(seconds)
        result.durations.append(duration)
        bench.say(f"   pass {attempt + 1}: wall {seconds:.2f}s, ansible-runner run "
                  f"{duration:.2f}s, agent overhead {seconds - duration:.2f}s")
    status = json.loads(bench.run([bench.agent, "status", "--json", "--config",
                                   str(scenario.agent_config)]).stdout)
    reported = status["apps"][target]["duration"]
    if abs(float(reported) - result.durations[-1]) > 1e-6:
        raise BenchError(f"status --json says duration {reported}, state.json "
                         f"{result.durations[-1]}")
    bench.say(f"   (cross-checked: `gitops-agent status --json` gives the same duration, "
              f"{reported}s)")
    return result


# --------------------------------------------------------------------------- profile


def profile(bench: Bench, scenario: Scenario, repeat: int) -> None:
    """Where one no-op pass's time goes: start-up, imports, git processes, cProfile."""
    n = scenario.apps
    bench.say(f"\n== profile of one no-op pass, {n} app(s)")
    python = bench.python
    # the overhead passes left a report saying "applied": one pass makes it steady again,
    # so every pass profiled here is a true no-op (nothing applied, nothing pushed)
    bench.run(agent_argv(bench, scenario))
    if n == 1:
        for label, code in (("interpreter start (python -c pass)", "pass"),
                            ("+ import gitops_agent.cli (what `--help` needs)",
                             "import gitops_agent.cli"),
                            ("+ import everything `run` needs",
                             "import gitops_agent.cli, gitops_agent.commands.run")):
            samples = [bench.timed([python, "-c", code])[0] for _ in range(repeat)]
            bench.say(f"   {label:<50} median {statistics.median(samples):.3f}s")
        samples = [bench.timed([bench.agent, "--help"])[0] for _ in range(repeat)]
        bench.say(f"   {'gitops-agent --help':<50} median {statistics.median(samples):.3f}s")

    # git processes per pass, through a shim first on PATH
    shim_dir = bench.root / "git-shim"
    shim_dir.mkdir(exist_ok=True)
    log = bench.root / f"git-calls-{n}.log"
    real_git = shutil.which("git", path=bench.env["PATH"])
    shim = shim_dir / "git"
    shim.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real_git}" "$@"\n',
                    encoding="utf-8")
    shim.chmod(0o755)
    env = {**bench.env, "PATH": f"{shim_dir}{os.pathsep}{bench.env['PATH']}"}
    bench.timed(agent_argv(bench, scenario), env=env)
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    counts: dict[str, int] = {}
    for line in calls:
        words = [word for word in line.split() if not word.startswith("-")
                 and "=" not in word]
        verb = words[0] if words else "?"
        counts[verb] = counts.get(verb, 0) + 1
    summary = ", ".join(f"{verb} {count}" for verb, count in
                        sorted(counts.items(), key=lambda item: -item[1]))
    bench.say(f"   git processes spawned by one no-op pass: {len(calls)} ({summary})")

    # -X importtime: the biggest top-level imports
    done = bench.run([python, "-X", "importtime", "-m", "gitops_agent", "run", "--config",
                      str(scenario.agent_config)])
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match.group(2)), len(match.group(3)), match.group(4)))
    top_level = [row for row in rows if row[1] == 1]
    total = sum(row[0] for row in top_level) / 1e6
    bench.say(f"   -X importtime: {total:.3f}s cumulative in imports; biggest top-level:")
    for cumulative, _, module in sorted(top_level, reverse=True)[:8]:
        bench.say(f"      {cumulative / 1e6:7.3f}s  {module}")
    deep = {module: cumulative for cumulative, _, module in rows}
    for module in ("jsonschema", "git", "yaml", "click", "gitops_agent.pass_",
                   "gitops_agent.config.schema", "gitops_agent.config", "ansible_runner",
                   "ansible"):
        if module in deep:
            bench.say(f"      (of which / also) {module}: {deep[module] / 1e6:.3f}s")

    # cProfile: the main thread only (ls-remote, is_current and the per-app jobs run in
    # worker threads, where the main thread shows them as waiting on a lock)
    prof = bench.root / f"noop-{n}.prof"
    bench.run([python, "-m", "cProfile", "-o", str(prof), "-m", "gitops_agent", "run",
               "--config", str(scenario.agent_config)])
    stats = pstats.Stats(str(prof))
    bench.say(f"   cProfile (main thread): {stats.total_tt:.3f}s; "  # type: ignore[attr-defined]
              f"gitops_agent functions by cumulative time:")
    entries = [(cumtime, calls_n, f"{Path(filename).name}:{line}({function})")
               for (filename, line, function), (_, calls_n, _, cumtime, _)
               in stats.stats.items()  # type: ignore[attr-defined]
               if "gitops_agent" in filename and function != "<module>"]
    for cumtime, calls_n, where in sorted(entries, reverse=True)[:14]:
        bench.say(f"      {cumtime:7.3f}s  {calls_n:5d} calls  {where}")

    # phases, every thread: the pass's own functions wrapped with timers, in-process
    done = bench.run([python, "-c", PHASES, str(scenario.agent_config)])
    bench.say("   phases of the pass (all threads; summed over calls, so parallel work can "
              "add up to more than the wall time):")
    for line in done.stdout.splitlines():
        bench.say(f"      {line}")


# Wraps the pass's main steps with timers (tolerating renamed functions) and runs one pass.
PHASES = r"""
import functools, importlib, sys, threading, time
totals, guard = {}, threading.Lock()
start = time.perf_counter()
import gitops_agent.cli as cli
import gitops_agent.commands.run
imported = time.perf_counter() - start

def wrap(module_name, qualname):
    try:
        owner = importlib.import_module(module_name)
    except ImportError:
        return
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part, None)
    original = getattr(owner, name, None) if owner is not None else None
    if original is None:
        print(f"(not found: {module_name}:{qualname})")
        return
    key = f"{module_name.removeprefix('gitops_agent.')}:{qualname}"
    @functools.wraps(original)
    def timed(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with guard:
                calls, seconds = totals.get(key, (0, 0.0))
                totals[key] = (calls + 1, seconds + time.perf_counter() - began)
    setattr(owner, name, timed)

SPECS = [
    ("gitops_agent.cli", "load_agent_config"),
    ("gitops_agent.pass_", "Pass.run"),
    ("gitops_agent.observe.remotes", "list_remotes"),
    ("gitops_agent.observe.config_repo", "remote_head"),
    ("gitops_agent.execute.checkouts", "fetch_commit"),
    ("gitops_agent.execute.checkouts", "place"),
    ("gitops_agent.observe", "load_apps"),
    ("gitops_agent.observe", "observe"),
    ("gitops_agent.git", "ls_tree"),
    ("gitops_agent.pass_", "make_plan"),
    ("gitops_agent.execute.checkouts", "is_current"),
    ("gitops_agent.execute.scheduler", "run_in_order"),
    ("gitops_agent.pass_", "Pass._record"),
    ("gitops_agent.pass_", "save_state"),
    ("gitops_agent.pass_", "Pass._finish"),
    ("gitops_agent.pass_", "Pass._publish"),
    ("gitops_agent.publish.status", "publish"),
    ("gitops_agent.execute.housekeeping", "tidy"),
    ("gitops_agent.git", "run"),
]
for spec in SPECS:
    wrap(*spec)
import contextlib, io
began = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    try:
        cli.main(["run", "--config", sys.argv[1]], prog_name="gitops-agent")
    except SystemExit:
        pass
whole = time.perf_counter() - began
print(f"{'imports (cli + commands.run)':<34} {'':>6} {imported:8.3f}s")
print(f"{'cli.main (the pass, after imports)':<34} {'':>6} {whole:8.3f}s")
for module_name, qualname in SPECS:
    key = f"{module_name.removeprefix('gitops_agent.')}:{qualname}"
    if key in totals:
        calls, seconds = totals[key]
        print(f"{key:<34} {calls:5d}x {seconds:8.3f}s")
"""


# --------------------------------------------------------------------------- report


def machine(bench: Bench) -> list[tuple[str, str]]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    git_version = bench.run(["git", "--version"]).stdout.strip()
    from importlib import metadata

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    head = bench.run(["git", "-C", str(PROJECT), "rev-parse", "--short=12", "HEAD"],
                     check=False).stdout.strip() or "?"
    dirty = bench.run(["git", "-C", str(PROJECT), "status", "--porcelain", "--",
                       "gitops_agent"], check=False).stdout.strip()
    return [
        ("CPU", cpu),
        ("cores", f"{os.cpu_count()} logical, {usable} usable"),
        ("kernel", platform.release()),
        ("Python", f"{platform.python_version()} ({sys.executable})"),
        ("git", git_version),
        ("ansible-core", version("ansible-core")),
        ("ansible-runner", version("ansible-runner")),
        ("gitops-agent", f"{version('gitops-agent')} at {head}"
                         + (" + uncommitted changes in gitops_agent/" if dirty else "")),
    ]


def verdict(ratio: float, target: float) -> str:
    if ratio >= target:
        return f"met ({ratio:.1f}x >= {target:.0f}x)"
    return f"MISSED ({ratio:.1f}x < {target:.0f}x; needs {target / ratio:.1f}x faster)"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_report(bench: Bench, rows: list[Timings], pairs: list[tuple[Timings, Timings, float]],
                 overheads: list[Overhead], args: argparse.Namespace, load_before: str) -> None:
    bench.say("\n" + "=" * 78)
    bench.say("Machine")
    for key, value in machine(bench):
        bench.say(f"  {key:<15} {value}")
    bench.say(f"  load average    {load_before} at the start, {load_average()} at the end "
              f"(1, 5, 15 min)")
    if os.getloadavg()[0] > 0.5 or float(load_before.split()[0]) > 0.5:
        bench.say("  WARNING: the machine was not idle; wall times are inflated and noisy "
                  "(the min column and CPU times are the more robust figures)")
    bench.say(f"  repeats         {args.repeat} (agent, ansible-pull 1 app), "
              f"{args.pull_loop_repeat} (ansible-pull loop of {MANY}), "
              f"{args.overhead_repeat} (overhead)")
    bench.say("\nWall time per pass (seconds)")
    bench.say(f"  {'scenario':<40} {'median':>8} {'min':>8} {'CPU med':>8}")
    for timings in rows:
        bench.say(f"  {timings.label:<40} {timings.median:8.3f} {timings.minimum:8.3f} "
                  f"{timings.cpu_median:8.3f}")
    bench.say("  (CPU med: user+sys seconds of all child processes, median)")
    bench.say("\nRatios (ansible-pull no-op / agent no-op, on medians; min/min in brackets)")
    for agent, pull, target in pairs:
        ratio = pull.median / agent.median
        bench.say(f"  {pull.label} / {agent.label}: {ratio:.1f}x "
                  f"[{pull.minimum / agent.minimum:.1f}x]  target >= {target:.0f}x: "
                  f"{verdict(ratio, target)}")
    bench.say("\nAgent overhead on a pass applying exactly one app "
              "(wall - ansible-runner duration)")
    for overhead in overheads:
        bench.say(f"  {overhead.label}: median wall {statistics.median(overhead.walls):.3f}s, "
                  f"run {statistics.median(overhead.durations):.3f}s, "
                  f"overhead {statistics.median(overhead.overheads):.3f}s "
                  f"(min {min(overhead.overheads):.3f}s)")


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=10,
                        help="timed no-op passes per agent scenario and for ansible-pull, "
                             "1 app (default 10)")
    parser.add_argument("--pull-loop-repeat", type=int, default=None,
                        help=f"timed repeats of the loop of {MANY} ansible-pulls "
                             "(default: min(--repeat, 2); each repeat takes ~40-60 s)")
    parser.add_argument("--overhead-repeat", type=int, default=3,
                        help="timed passes applying one app, per scenario (default 3)")
    parser.add_argument("--profile", action="store_true",
                        help="also break one no-op pass down: start-up, imports, git calls")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (and say where)")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help=f"1 app only, each measured once, no {MANY}-app scenario: the "
                             "short run CI does so that the script cannot rot (~20 s)")
    args = parser.parse_args()
    if args.quick:
        args.repeat = args.overhead_repeat = 1
    if args.pull_loop_repeat is None:
        args.pull_loop_repeat = min(args.repeat, 2)
    if min(args.repeat, args.pull_loop_repeat, args.overhead_repeat) < 1:
        parser.error("repeats must be >= 1")

    bin_dir = Path(sys.executable).parent
    for tool in ("gitops-agent", "ansible-pull", "ansible", "ansible-playbook"):
        if not (bin_dir / tool).exists():
            parser.error(f"{bin_dir / tool} not found: run this with the project's venv python")
    if shutil.which("git") is None:
        parser.error("git not found on PATH")

    root = Path(tempfile.mkdtemp(prefix="gitops-bench-"))
    bench = Bench(root, bin_dir, args.verbose)
    started = time.perf_counter()
    load_before = load_average()
    try:
        bench.say(f"temp dir: {root}")
        inventory = root / "inventory.ini"
        inventory.write_text(f"localhost ansible_connection=local "
                             f"ansible_python_interpreter={bench.python}\n", encoding="utf-8")
        one = build_scenario(bench, 1)
        agent_one, agent_one_nopush = agent_noop(bench, one, args.repeat)
        pull_one = pull_noop(bench, one, args.repeat, inventory)
        if args.quick:
            print_report(bench, [agent_one, agent_one_nopush, pull_one],
                         [(agent_one, pull_one, TARGET_ONE)],
                         [agent_overhead(bench, one, 1)], args, load_before)
            return 0
        many = build_scenario(bench, MANY)
        agent_many, agent_many_nopush = agent_noop(bench, many, args.repeat)
        pull_many = pull_noop(bench, many, args.pull_loop_repeat, inventory)
        overheads = [agent_overhead(bench, one, args.overhead_repeat),
                     agent_overhead(bench, many, args.overhead_repeat)]
        if args.profile:
            profile(bench, one, args.repeat)
            profile(bench, many, args.repeat)

        print_report(
            bench,
            [agent_one, agent_one_nopush, pull_one, agent_many, agent_many_nopush, pull_many],
            [(agent_one, pull_one, TARGET_ONE), (agent_many, pull_many, TARGET_MANY),
             (agent_one_nopush, pull_one, TARGET_ONE),
             (agent_many_nopush, pull_many, TARGET_MANY)],
            overheads, args, load_before)
        bench.say(f"\ntotal benchmark time: {time.perf_counter() - started:.0f}s")
        return 0
    except BenchError as error:
        print(f"bench_noop: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
