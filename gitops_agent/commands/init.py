"""`gitops-agent init DIR`: scaffold a working config repo that `validate` accepts."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import click

from gitops_agent.errors import ConfigError


def _copy(source: Traversable, target: Path, written: list[Path]) -> None:
    for entry in source.iterdir():
        if entry.name == "__pycache__":
            continue
        destination = target / entry.name
        if entry.is_dir():
            destination.mkdir(exist_ok=True)
            _copy(entry, destination, written)
        else:
            destination.write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
            written.append(destination)


def init(directory: Path) -> int:
    if (directory / "apps").exists() and any((directory / "apps").iterdir()):
        raise ConfigError(f"{directory}/apps already has app files: not overwriting them")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    _copy(resources.files("gitops_agent").joinpath("scaffold"), directory, written)
    for path in written:
        click.echo(f"created {path}")
    click.echo(f"next: gitops-agent validate {directory}; git init, commit and push it; then "
               "point config_repo.url of each host's agent config at it")
    return 0
