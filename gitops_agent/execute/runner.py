"""The only module that imports ansible_runner: one playbook run on localhost -> RunResult."""

from __future__ import annotations

import json
import os
import shlex
import shutil
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
from gitops_agent.execute import ansible_env, events, tracing

SUMMARY = "gitops-run.json"


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
    if trace_file is not None:
        environment.update(tracing.environment(trace_file, request.config_dir, links))
    return environment


def _keep(collected: list[dict[str, Any]], event: dict[str, Any]) -> bool:
    collected.append(event)
    return True  # runner drops events whose handler returns False


def run_playbook(request: RunRequest) -> RunResult:
    """Run one playbook through ansible-runner; never raises for a failing playbook."""
    import ansible_runner  # imported only when a playbook really runs

    request.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(request.run_dir, 0o700)
    artifacts = request.run_dir / "artifacts"
    artifacts.mkdir(exist_ok=True, mode=0o700)
    run_id = uuid.uuid4().hex
    private, links, probed = _private_dir(request)
    trace_file = request.run_dir / "work" / f"trace-{run_id}" if request.trace else None
    collected: list[dict[str, Any]] = []
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
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private),
            artifact_dir=str(artifacts),
            ident=run_id,
            playbook=str(request.playbook),
            envvars=_environment(request, trace_file, links),
            cmdline=shlex.join(options),
            event_handler=lambda event: _keep(collected, event),
            cancel_callback=request.cancel.is_set,
            timeout=request.timeout,
            rotate_artifacts=request.keep_artifacts,
            quiet=not request.show_output,
            suppress_env_files=True,
        )
        status, rc = str(runner.status), int(runner.rc if runner.rc is not None else 1)
        stdout_path = artifacts / run_id / "stdout"
        stdout = stdout_path.read_text(errors="replace") if stdout_path.exists() else ""
    finally:
        shutil.rmtree(private, ignore_errors=True)
    reads = tracing.collect(trace_file) if trace_file is not None else None
    if reads is not None:
        reads.probed |= probed
    outcome = events.fold(collected, status, rc, stdout[-4000:], request.timeout)
    result = RunResult(run_id, started, round(time.monotonic() - clock, 2), outcome,
                       artifacts / run_id, reads)
    _write_summary(request, result)
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
