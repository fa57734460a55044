"""`gitops-agent configure`: edit the agent config like visudo — saved only when valid.

A new config starts from the commented template (config/agent.yml.template) with its
placeholders; a draft left as it started is not saved."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from gitops_agent.config import load_agent_config, template
from gitops_agent.errors import EXIT_BAD_CONFIG, EXIT_OK, ConfigError
from gitops_agent.record.state import write_atomically


def problems(draft: Path, text: str, path: Path) -> list[str]:
    """Why `text` (the draft's) is no valid config, as `path:line: key: problem`: the
    placeholders left first (YAML cannot even read them), else every problem the
    loader finds."""
    left = template.placeholders(text, path)
    if left:
        return left
    try:
        load_agent_config(draft)
    except ConfigError as error:
        return [problem.replace(str(draft), str(path)) for problem in error.problems
                or [str(error)]]
    return []


def configure(path: Path) -> int:
    current = path.read_text(encoding="utf-8") if path.exists() else None
    start = current if current is not None else template.render()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.edit-", suffix=".yml",
                                       dir=path.parent)
    draft = Path(scratch)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(start)
        while True:
            click.edit(filename=str(draft))
            text = draft.read_text(encoding="utf-8")
            if text == start:
                click.echo(f"{path}: nothing changed: not saved")
                return EXIT_OK
            found = problems(draft, text, path)
            if not found:
                write_atomically(path, text, mode=0o600)
                click.echo(f"{path}: saved")
                return EXIT_OK
            for problem in found:
                click.echo(problem, err=True)
            if sys.stdin.isatty() and click.confirm("Edit again?", default=True):
                continue
            kept = "left unchanged" if current is not None else "not written"
            click.echo(f"{path}: {kept} (the edit was invalid)", err=True)
            return EXIT_BAD_CONFIG
    finally:
        draft.unlink(missing_ok=True)
