"""`gitops-agent artifacts`: the kept runs of an app, and one run in detail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gitops_agent.config import AgentConfig
from gitops_agent.errors import FatalError
from gitops_agent.execute.artifact import SUMMARY
from gitops_agent.layout import Layout


def _runs(directory: Path) -> list[dict[str, Any]]:
    runs = []
    for path in directory.glob(f"*/{SUMMARY}"):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        summary["artifact_dir"] = str(path.parent)
        summary["stdout"] = str(path.parent / "stdout")
        runs.append(summary)
    return sorted(runs, key=lambda run: run.get("started") or "")


def _short(value: str | None) -> str:
    return (value or "-")[:12]


def artifacts(config: AgentConfig, app: str, run_id: str | None, as_json: bool) -> int:
    directory = Layout(config.state_dir).artifacts(app)
    runs = _runs(directory)
    if run_id is None:
        if as_json:
            click.echo(json.dumps([{key: value for key, value in run.items() if key != "tasks"}
                                   for run in runs], indent=2))
        elif not runs:
            click.echo(f"{app}: no runs kept in {directory}")
        for run in [] if as_json else runs:
            verdict = "check" if run.get("check") else run["status"]
            click.echo(f"{run['run_id']}  {run['started']}  {run['duration']:>7.1f}s  "
                       f"{verdict:<10} config {_short(run.get('config_commit'))}  "
                       f"source {_short(run.get('source_commit'))}  {run['message']}")
        return 0
    matches = [run for run in runs if run["run_id"].startswith(run_id)]
    if len(matches) != 1:
        raise FatalError(f"{app}: {'no' if not matches else 'more than one'} kept run "
                         f"matches {run_id!r} (see `gitops-agent artifacts {app}`)")
    run = matches[0]
    if as_json:
        click.echo(json.dumps(run, indent=2))
        return 0
    click.echo(f"run {run['run_id']} of {app}: {run['status']} (rc {run['rc']}), "
               f"started {run['started']}, {run['duration']}s")
    click.echo(f"config {run.get('config_commit')}  source {run.get('source_commit')}")
    click.echo(f"why: {run.get('reason')}")
    stats = run.get("stats", {})
    click.echo("stats: " + ", ".join(f"{key} {value}" for key, value in stats.items()))
    click.echo("tasks:")
    for task in run.get("tasks", []):
        role = f"{task['role']} : " if task.get("role") else ""
        click.echo(f"  {task['status']:<11} {role}{task['task']}  [{task['module']}]")
    for task in run.get("failed_tasks", []):
        click.echo(f"failed: {task['task']} [{task['module']}]: {task['msg']}")
    click.echo(f"stdout: {run['stdout']}")
    click.echo(f"artifacts: {run['artifact_dir']}")
    return 0
