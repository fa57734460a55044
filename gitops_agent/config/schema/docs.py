"""docs/config.md, made from the schemas: one table per file, one row per key path.

    .venv/bin/python -m gitops_agent.config.schema.docs > docs/config.md
"""

from __future__ import annotations

import re
from typing import Any

from gitops_agent.config.schema import flow, key_paths, load_schema

REGENERATE = ".venv/bin/python -m gitops_agent.config.schema.docs > docs/config.md"

FILES = {"agent": "Agent config", "app": "App file", "fleet": "Rollout rules (fleet.yml)"}

INTRO = f"""\
# Configuration reference

<!-- Generated from gitops_agent/config/schema/*.yml: edit the schemas, not this file, then
     run {REGENERATE} -->

Every key of the files gitops-agent reads, made from their JSON Schemas in
`gitops_agent/config/schema/` — the schemas that validate the files, and that an editor
with yaml-language-server uses for completion and hover help (put
`# yaml-language-server: $schema=/path/to/gitops_agent/config/schema/agent.yml` at the top
of the file). This page is generated; after changing a schema, regenerate it with

    {REGENERATE}

(`tests/unit/test_config_docs.py` fails while it is out of date).

`a.b` is key `b` inside `a`; `a[].b` is key `b` of each item of the list `a`. Unknown keys
are an error. **Default** is what applies when the key is not given; "—" means there is no
value (the description says what happens then).
"""


def _either(words: list[str]) -> str:
    """"a", "a or b", "a, b or c"."""
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"


def _type_name(spec: dict[str, Any], plural: bool = False) -> str:
    """"integer", "string or null", "list of strings", "mapping of names to string…"."""
    if "enum" in spec:
        return _either([f"`{value}`" for value in spec["enum"]])
    names = {"object": "mapping", "array": "list"}
    given = spec.get("type", "any")
    kinds: list[str] = given if isinstance(given, list) else [given]
    text = _either([names.get(kind, kind) + ("s" if plural else "") for kind in kinds])
    items, values = spec.get("items"), spec.get("additionalProperties")
    if kinds == ["array"] and isinstance(items, dict):
        text += " of " + _type_name(items, plural=True)
    if kinds == ["object"] and isinstance(values, dict):
        text += " of names to " + _type_name(values)
    return text


def type_text(spec: dict[str, Any], required: bool) -> str:
    """The type with its bounds, e.g. "integer, 1 to 64, required"."""
    parts = [_type_name(spec)]
    low, high = spec.get("minimum"), spec.get("maximum")
    if low is not None and high is not None:
        parts.append(f"{low} to {high}")
    elif low is not None:
        parts.append(f"at least {low}")
    elif high is not None:
        parts.append(f"at most {high}")
    if spec.get("minItems"):
        parts.append(f"at least {spec['minItems']} item{'s' if spec['minItems'] > 1 else ''}")
    if spec.get("maxItems"):
        parts.append(f"at most {spec['maxItems']} items")
    if spec.get("uniqueItems"):
        parts.append("no repeats")
    if required:
        parts.append("**required**")
    return ", ".join(parts)


def _code(value: Any) -> str:
    return f"`{flow(value)}`".replace("|", "\\|")


def _prose(text: str) -> str:
    """Description text for a table cell: `<…>` kept visible outside code, `|` escaped."""
    pieces = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(piece if piece.startswith("`") else
                   piece.replace("<", "&lt;").replace(">", "&gt;")
                   for piece in pieces).replace("|", "\\|")


def section(name: str, heading: str) -> str:
    schema = load_schema(name)
    rows = ["| Key | Type | Default | Description | Example |", "|---|---|---|---|---|"]
    for path, spec, required in key_paths(schema):
        default = _code(spec["default"]) if "default" in spec else "—"
        example = _code(spec["example"]) if "example" in spec else ""
        rows.append(f"| `{path}` | {type_text(spec, required)} | {default} | "
                    f"{_prose(spec.get('description', ''))} | {example} |")
    return "\n".join([
        f"## {heading}", "",
        f"{_prose(schema.get('description', ''))} Schema: "
        f"`gitops_agent/config/schema/{name}.yml`.", "",
        *rows, ""])


def render() -> str:
    """The whole of docs/config.md."""
    return "\n".join([INTRO, *(section(name, heading) for name, heading in FILES.items())])


if __name__ == "__main__":
    print(render(), end="")
