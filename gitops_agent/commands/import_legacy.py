"""`gitops-agent import-legacy FILE`: write apps/*.yml from the original infra_meta.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import click
import yaml

from gitops_agent.config.legacy import convert, legacy_tables
from gitops_agent.errors import ConfigError


def import_legacy(source: Path, out: Path, overwrite: bool) -> int:
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: invalid TOML: {error}") from None
    tables = legacy_tables(data)
    if not tables:
        raise ConfigError(f"{source}: no [app] tables with code_url found")
    converted = [convert(name, table) for name, table in tables]
    apps_dir = out / "apps"
    targets = [apps_dir / f"{item.name}.yml" for item in converted]
    clashes = [str(path) for path in targets if path.exists()]
    if clashes and not overwrite:
        raise ConfigError(f"would overwrite {', '.join(clashes)} (use --force)")
    apps_dir.mkdir(parents=True, exist_ok=True)
    for item, target in zip(converted, targets, strict=True):
        header = f"# Imported from {source.name} by gitops-agent import-legacy.\n"
        target.write_text(header + yaml.safe_dump(item.app, sort_keys=False))
        click.echo(f"wrote {target}")
        for note in item.notes:
            click.echo(f"  {item.name}: {note}")
    click.echo(f"next: review the files, then `gitops-agent validate {out}`")
    return 0
