"""JSON Schemas (kept as YAML) for the agent config, app files and fleet.yml; also for editors
and docs/config.md (docs.py)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from gitops_agent import __version__
from gitops_agent.config.yamlfile import FastLoader, YamlDocument

if TYPE_CHECKING:
    import jsonschema

# Digests of documents that passed validation before (same agent, same schema): such a
# document is not validated again, and jsonschema is not even imported on a quiet pass.
_known_valid: set[str] = set()
_learned: set[str] = set()
KNOWN_VALID_LIMIT = 2000


@cache
def _schema_text(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.yml").read_text(encoding="utf-8")


@cache
def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = yaml.load(_schema_text(name), Loader=FastLoader)
    return schema


KeyPath = tuple[str, dict[str, Any], bool]  # "notify[].url", its schema, whether required


def key_paths(schema: dict[str, Any], prefix: str = "") -> Iterator[KeyPath]:
    """(path, subschema, required) of every property at every level, in schema order."""
    required = schema.get("required", ())
    for key, spec in schema.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path, spec, key in required
        yield from key_paths(spec, f"{path}.")
        items = spec.get("items")
        if isinstance(items, dict):
            yield from key_paths(items, f"{path}[].")


@cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    import jsonschema  # only when a document is new to this host

    def pattern(checker: Any, wanted: str, instance: Any, schema: Any) -> Iterator[Any]:
        """`pattern` as JSON Schema (ECMA-262) reads it: a final `$` ends the text, where
        Python's also matches before a final newline (a host name "web-01\\n" passed)."""
        ecma = wanted[:-1] + r"\Z" if wanted.endswith("$") and not wanted.endswith("\\$") \
            else wanted
        if checker.is_type(instance, "string") and not re.search(ecma, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {wanted!r}")

    ecma = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": pattern})
    return cast("jsonschema.Draft202012Validator", ecma(load_schema(name)))


def _digest(name: str, data: Any) -> str:
    try:
        text = json.dumps(data, sort_keys=True, default=str)
    except TypeError:  # keys of mixed types (YAML reads a bare `on:` or `yes:` as a bool)
        text = repr(data)
    return hashlib.sha256(f"{__version__}\0{_schema_text(name)}\0{text}".encode()).hexdigest()


def load_known_valid(path: Path) -> None:
    with contextlib.suppress(OSError, ValueError, TypeError):
        _known_valid.update(json.loads(path.read_text(encoding="utf-8")))


def save_known_valid(path: Path) -> None:
    """Remember the documents validated in this process (atomically, best effort)."""
    if not _learned:
        return
    load_known_valid(path)
    keep = sorted(_known_valid | _learned)[-KNOWN_VALID_LIMIT:]
    try:
        handle, temporary = tempfile.mkstemp(prefix=".schema-cache.", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(keep, stream)
        os.replace(temporary, path)
        _learned.clear()
    except OSError:
        pass


def dotted(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _describe(error: jsonschema.ValidationError) -> list[tuple[tuple[Any, ...], str]]:
    location = tuple(error.absolute_path)
    if (error.validator == "additionalProperties" and isinstance(error.instance, dict)
            and isinstance(error.schema, dict)):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = [key for key in error.instance if key not in allowed]
        return [
            ((*location, key), f"unknown key (allowed: {', '.join(allowed)})") for key in unknown
        ]
    if error.validator == "oneOf" and not location:
        return [(location, "give exactly one of `playbook:` or `deploy:`")]
    if error.validator == "required":
        return [(location, error.message.replace("is a required property", "is required"))]
    return [(location, error.message)]


def schema_problems(document: YamlDocument, name: str) -> list[str]:
    """Every schema violation of `document`, as `file:line: key: problem`, in file order."""
    found: list[tuple[int, str]] = []
    digest = _digest(name, document.data)
    errors = [] if digest in _known_valid else list(validator(name).iter_errors(document.data))
    if not errors:
        _known_valid.add(digest)
        _learned.add(digest)
    for error in errors:
        for location, message in _describe(error):
            if tuple(location)[:1] == ("notify",) and tuple(location)[-1:] == ("url",):
                message = "must be an http:// or https:// URL (not shown: it may hold a token)"
            line = document.line_of(location)
            found.append((line, f"{document.path}:{line}: {dotted(location)}: {message}"))
    for location, line in document.duplicate_keys:
        found.append((line, f"{document.path}:{line}: {dotted(location)}: key given twice"))
    return [text for _, text in sorted(found)]


def flow(value: Any) -> str:
    """`value` as one line of YAML (flow style)."""
    text: str = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1000)
    return text.removesuffix("\n...\n").strip()
