"""The commented agent config template (agent.yml.template): every key explained, with
placeholders such as @CONFIG_URL@ where only the operator knows the value.
`gitops-agent setup` and `gitops-agent configure` start a new config from it."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

PLACEHOLDER = re.compile(r"@([A-Z][A-Z_]*)@")
WHAT = {"CONFIG_URL": "the config repo's git URL", "HOST_NAME": "this host's name",
        "BRANCH": "the branch to follow", "STATUS_URL": "the status repo's git URL, or null"}


def template() -> str:
    return resources.files(__package__).joinpath("agent.yml.template").read_text(
        encoding="utf-8")


def render(host_name: str | None = None, config_url: str | None = None,
           branch: str = "main", status_url: str | None = None) -> str:
    """The template with these values. Without a host name its line goes (the agent then
    takes the short hostname); without a config URL, its placeholder stays."""
    values = {"BRANCH": json.dumps(branch),  # a JSON string is a YAML double-quoted one
              "STATUS_URL": json.dumps(status_url) if status_url else "null"}
    if host_name:
        values["HOST_NAME"] = json.dumps(host_name)
    if config_url:
        values["CONFIG_URL"] = json.dumps(config_url)
    lines = [PLACEHOLDER.sub(lambda found: values.get(found[1], found[0]), line)
             for line in template().splitlines()
             if host_name or "@HOST_NAME@" not in line]
    return "\n".join(lines) + "\n"


def placeholders(text: str, path: Path) -> list[str]:
    """`file:line: url: @CONFIG_URL@ is a placeholder: …` for each one left in `text`
    (outside comments)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.partition("#")[0] if not line.lstrip().startswith("#") else ""
        for name in PLACEHOLDER.findall(value):
            what = WHAT.get(name, "a value")
            found.append(f"{path}:{number}: {value.strip()} is a placeholder: write {what} "
                         "there")
    return found
