"""One playbook run on localhost -> RunResult: set up, supervise runner_child, clean up."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops_agent.clock import now_iso
from gitops_agent.execute import ansible_env, artifact, events, reaper, tracing

log = logging.getLogger(__name__)
SUMMARY = artifact.SUMMARY
HARD_STOP = 30.0  # seconds past the deadline before the runner process is killed
# the agent's own copy of the package, whatever the child's sys.path would find
CHILD = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r}); "
         "from gitops_agent.execute.runner_child import main; sys.exit(main())")


@dataclass
class RunRequest:
    app: str
    playbook: Path
    config_dir: Path
    run_dir: Path  # <state_dir>/runs/<app>
    host: str
    extravars: dict[str, Any]
    timeout: int
    keep_artifacts: int = 20
    vault_password_file: str | None = None
    check: bool = False
    diff: bool = False
    show_output: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    metadata: dict[str, Any] = field(default_factory=dict)
    trace: bool = False  # record what the run reads under config_dir
    timeout_source: str = "runner.timeout"  # the setting `timeout` came from, for messages


@dataclass
class RunResult:
    run_id: str
    started: str
    duration: float
    outcome: events.Outcome
    artifact_dir: Path
    reads: tracing.Reads | None = None  # with `trace`: what it read; None: unknown


def _private_dir(request: RunRequest) -> tuple[Path, dict[Path, str], set[str]]:
    """A fresh 0700 private_data_dir with an inventory of localhost and this host's vars.

    Returns it, the links made into the config repo (path -> the repo path it stands
    for, for the tracer), and the repo paths looked for here (this host's vars files).
    """
    work = request.run_dir / "work"
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = Path(tempfile.mkdtemp(prefix="run-", dir=work))
    inventory = private / "inventory"
    inventory.mkdir(mode=0o700)
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": host}}}))
    links: dict[Path, str] = {}
    probed = {"group_vars", "ansible.cfg"}  # looked for by the agent, not by Ansible
    if (request.config_dir / "group_vars").is_dir():
        (inventory / "group_vars").symlink_to(request.config_dir / "group_vars")
        links[inventory / "group_vars"] = "group_vars"
    host_vars = inventory / "host_vars"
    for suffix in ("", ".yml", ".yaml", ".json"):
        relative = f"host_vars/{request.host}{suffix}"
        probed.add(relative)
        candidate = request.config_dir / relative
        if candidate.exists() and candidate.resolve().is_relative_to(request.config_dir.resolve()):
            host_vars.mkdir(exist_ok=True)
            (host_vars / f"localhost{suffix}").symlink_to(candidate)
            links[host_vars / f"localhost{suffix}"] = relative
            break
    return private, links, probed


def _environment(request: RunRequest, trace_file: Path | None,
                 links: dict[Path, str]) -> dict[str, str]:
    environment = ansible_env.environment(request.config_dir)
    environment.update(tracing.environment(trace_file, request.config_dir, links))
    return environment


def _hidden(extravars: dict[str, Any]) -> list[str]:
    """The app's own var values (not the gitops_* facts): masked in error lines."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({key: value for key, value in extravars.items() if not key.startswith("gitops_")})
    return found


def _job(request: RunRequest, private: Path, artifacts: Path, run_id: str,
         environment: dict[str, str], options: list[str]) -> Path:
    """The job file runner_child reads (0600, in the 0700 private dir)."""
    job = {
        "runner": {"private_data_dir": str(private), "artifact_dir": str(artifacts),
                   "ident": run_id, "playbook": str(request.playbook), "envvars": environment,
                   "cmdline": shlex.join(options), "quiet": not request.show_output},
        "timeout": request.timeout,
        "timeout_source": request.timeout_source,
        "hidden": _hidden(request.extravars),
        "result": str(private / "outcome.json"),
    }
    path = private / "job.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(job, stream)
    return path


def _supervise(request: RunRequest, job: Path, private: Path, deadline: float
               ) -> events.Outcome:
    """Run runner_child to its end: SIGTERM on cancel, SIGKILL well past the deadline."""
    output = None if request.show_output else subprocess.DEVNULL
    with (private / "child.log").open("w") as log_file:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(job)],
            env={**os.environ, reaper.STATE_MARKER: str(request.run_dir.parent.parent)},
            stdin=subprocess.DEVNULL, stdout=output,
            stderr=None if request.show_output else log_file)
        asked = False
        while True:
            try:
                child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if request.cancel.is_set() and not asked:
                child.send_signal(signal.SIGTERM)
                asked = True
            if time.monotonic() > deadline + HARD_STOP:
                child.kill()
    try:
        data = json.loads((private / "outcome.json").read_text(encoding="utf-8"))
        data["tasks"] = [events.TaskResult(**task) for task in data["tasks"]]
        return events.Outcome(**data)
    except (OSError, ValueError, TypeError, KeyError):
        why = artifact.tail(private / "child.log", 300).strip().splitlines()
        status = "timeout" if time.monotonic() > deadline else "failed"
        return events.Outcome(status=status, rc=child.returncode or 1, message=(
            f"the runner process ended without a result (exit {child.returncode}"
            + (f": {why[-1]}" if why else "") + ")"))


def run_playbook(request: RunRequest) -> RunResult:
    """Run one playbook through ansible-runner (in runner_child); never raises for a
    failing playbook."""
    request.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(request.run_dir, 0o700)
    artifacts = request.run_dir / "artifacts"
    artifacts.mkdir(exist_ok=True, mode=0o700)
    run_id = uuid.uuid4().hex
    private, links, probed = _private_dir(request)
    trace_file = request.run_dir / "work" / f"trace-{run_id}" if request.trace else None
    # vars reach Ansible through a 0600 file in the 0700 private dir: never on the
    # command line (ps, the artifacts' `command` file)
    variables = private / "extravars.json"
    descriptor = os.open(variables, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(request.extravars, stream)
    options: list[str] = ["-e", f"@{variables}"]
    if request.vault_password_file:
        options += ["--vault-password-file", request.vault_password_file]
    if request.check:
        options.append("--check")
    if request.diff:
        options.append("--diff")
    started, clock = now_iso(), time.monotonic()
    deadline = clock + request.timeout  # the monotonic clock: a clock step changes nothing
    environment = {**_environment(request, trace_file, links), reaper.MARKER: run_id,
                   reaper.STATE_MARKER: str(request.run_dir.parent.parent),
                   # Ansible's own scratch (ansible-local-*) goes with the private dir,
                   # also when a timeout or SIGTERM ends ansible-playbook half-way
                   "ANSIBLE_LOCAL_TEMP": str(private / "ansible-local")}
    try:
        job = _job(request, private, artifacts, run_id, environment, options)
        outcome = _supervise(request, job, private, deadline)
    finally:
        if request.cancel.is_set() or time.monotonic() > deadline:
            reaper.end_run(run_id)  # all it started, also what left its process group
        shutil.rmtree(private, ignore_errors=True)
    reads = tracing.collect(trace_file) if trace_file is not None else None
    if reads is not None:
        reads.probed |= probed
    result = RunResult(run_id, started, round(time.monotonic() - clock, 2), outcome,
                       artifacts / run_id, reads)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s: ran %s in %.2fs (%s, exit %s)", request.app,
                  artifact.command_line(result.artifact_dir), result.duration, outcome.status,
                  outcome.rc)
    _write_summary(request, result)
    artifact.rotate(artifacts, request.keep_artifacts, run_id)
    return result


def _write_summary(request: RunRequest, result: RunResult) -> None:
    """Keep the folded run beside runner's artifacts, for `gitops-agent artifacts`."""
    summary = {
        "app": request.app,
        "run_id": result.run_id,
        "started": result.started,
        "duration": result.duration,
        "check": request.check,
        **request.metadata,
        "status": result.outcome.status,
        "rc": result.outcome.rc,
        "message": result.outcome.message,
        "stats": result.outcome.stats,
        "failed_tasks": result.outcome.failed_tasks,
        "tasks": [asdict(task) for task in result.outcome.tasks],
    }
    result.artifact_dir.mkdir(parents=True, exist_ok=True)
    (result.artifact_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
