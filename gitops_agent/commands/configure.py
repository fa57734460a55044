"""`gitops-agent configure`: edit the agent config like visudo — saved only when valid."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from gitops_agent.config import load_agent_config
from gitops_agent.config.schema import sample
from gitops_agent.errors import EXIT_BAD_CONFIG, ConfigError
from gitops_agent.record.state import write_atomically


def configure(path: Path) -> int:
    current = path.read_text(encoding="utf-8") if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.edit-", suffix=".yml",
                                       dir=path.parent)
    draft = Path(scratch)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(current if current is not None else sample("agent"))
        while True:
            click.edit(filename=str(draft))
            text = draft.read_text(encoding="utf-8")
            if text == current:
                click.echo(f"{path}: no changes")
                return 0
            try:
                load_agent_config(draft)
            except ConfigError as error:
                for problem in error.problems or [str(error)]:
                    click.echo(problem.replace(str(draft), str(path)), err=True)
                if sys.stdin.isatty() and click.confirm("Edit again?", default=True):
                    continue
                click.echo(f"{path}: left unchanged (the edit was invalid)", err=True)
                return EXIT_BAD_CONFIG
            write_atomically(path, text, mode=0o600)
            click.echo(f"{path}: saved")
            return 0
    finally:
        draft.unlink(missing_ok=True)
