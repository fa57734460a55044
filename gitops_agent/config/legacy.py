"""Pure mapping of the original TOML tool's [app] tables to app files using `deploy:`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gitops_agent.config import APP_NAME

KNOWN = {"name", "code_url", "code_commit_hash", "code_local_path", "config_files",
         "pre_updation_command", "post_updation_command"}


@dataclass
class Converted:
    name: str
    app: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # what could not be mapped, renames


def legacy_tables(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, table) for `[app.NAME]`, `[[app]]` with `name`, a lone `[app]`, or `[NAME]`."""
    apps = data.get("app")
    if isinstance(apps, list):
        return [(str(table.get("name", f"app{index + 1}")), table)
                for index, table in enumerate(apps) if isinstance(table, dict)]
    if isinstance(apps, dict) and "code_url" in apps:
        return [(str(apps.get("name", "app")), apps)]
    if isinstance(apps, dict):
        return [(name, table) for name, table in apps.items() if isinstance(table, dict)]
    return [(name, table) for name, table in data.items()
            if isinstance(table, dict) and "code_url" in table]


def app_name(raw: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", raw.lower()).strip("-._")[:63]
    return name if APP_NAME.fullmatch(name) else f"app-{name}"[:63]


def convert(raw_name: str, table: dict[str, Any]) -> Converted:
    name = app_name(raw_name)
    result = Converted(name, {})
    if name != raw_name:
        result.notes.append(f"renamed {raw_name!r} to {name!r} (app names must match "
                            f"{APP_NAME.pattern})")
    deploy: dict[str, Any] = {}
    if table.get("code_url"):
        result.app["source"] = {"url": str(table["code_url"]),
                                "ref": str(table.get("code_commit_hash") or "main")}
    if table.get("code_local_path"):
        deploy["dest"] = str(table["code_local_path"])
    files = []
    for entry in table.get("config_files") or []:
        if isinstance(entry, dict) and entry.get("src") and entry.get("dst"):
            files.append({"src": str(entry["src"]), "dest": str(entry["dst"])})
            result.notes.append(f"copy {entry['src']} into the config repo at that path")
        else:
            result.notes.append(f"skipped a config_files entry without src and dst: {entry!r}")
    if files:
        deploy["files"] = files
    if table.get("post_updation_command"):
        deploy["commands"] = [str(table["post_updation_command"])]
    if table.get("pre_updation_command"):
        result.notes.append(
            f"not mapped: pre_updation_command {table['pre_updation_command']!r} — deploy: "
            "runs commands only after a change; use a playbook: with a task before the sync")
    for key in sorted(set(table) - KNOWN):
        result.notes.append(f"not mapped: unknown key {key!r} = {table[key]!r}")
    result.app["deploy"] = deploy
    return result
