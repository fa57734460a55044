"""The schemas' annotations: every key described with an example, defaults that are the
loaders' own, and docs/config.md made from them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gitops_agent.config import load_agent_config, load_app
from gitops_agent.config.fleet import rules_from_text
from gitops_agent.config.schema import key_paths, load_schema
from gitops_agent.config.schema.docs import REGENERATE, render

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["agent", "app", "fleet"]
ABSENT = object()


def test_docs_config_md_is_the_render_of_the_schemas():
    written = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")

    assert written == render(), f"docs/config.md is out of date: run {REGENERATE}"


@pytest.mark.parametrize("name", NAMES)
def test_every_key_has_a_description_and_an_example(name):
    missing = [f"{path}: no {what}" for path, spec, _ in key_paths(load_schema(name))
               for what, given in (("description", str(spec.get("description", "")).strip()),
                                   ("example", spec.get("example") is not None))
               if not given]

    assert missing == []


@pytest.mark.parametrize("name", NAMES)
def test_every_example_and_default_is_valid_for_its_key(name):
    invalid = [f"{path}: {what} {spec[what]!r}: {error.message}"
               for path, spec, _ in key_paths(load_schema(name))
               for what in ("example", "default") if what in spec
               for error in jsonschema.Draft202012Validator(spec).iter_errors(spec[what])]

    assert invalid == []


# --- defaults: stating a schema default gives what leaving the key out gives -------------------


def _required_part(schema: dict[str, Any]) -> dict[str, Any]:
    """The required keys of an object schema, each with its example."""
    return {key: _required_part(spec) if "properties" in spec else copy.deepcopy(spec["example"])
            for key, spec in schema["properties"].items() if key in schema.get("required", ())}


def _document(schema: dict[str, Any], path: str, base: dict[str, Any],
              value: Any = ABSENT) -> dict[str, Any]:
    """`base` plus the required keys on the way to `path`, and `value` at `path` if given."""
    document = {**_required_part(schema), **copy.deepcopy(base)}
    node, spec = document, schema
    *parents, last = path.split(".")
    for part in parents:
        key = part.removesuffix("[]")
        sub = spec["properties"][key]
        if part.endswith("[]"):
            node, spec = node.setdefault(key, [_required_part(sub["items"])])[0], sub["items"]
        else:
            node, spec = node.setdefault(key, _required_part(sub)), sub
    if value is not ABSENT:
        node[last] = value
    return document


def _defaults(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [(path, spec) for path, spec, _ in key_paths(load_schema(name)) if "default" in spec]


def _check_defaults(name: str, base: dict[str, Any], load: Any,
                    paths: list[tuple[str, dict[str, Any]]]) -> None:
    schema = load_schema(name)
    assert paths
    for path, spec in paths:
        without = load(_document(schema, path, base))

        assert load(_document(schema, path, base, spec["default"])) == without, \
            f"{name} schema: {path} says default {spec['default']!r}, the loader differs"
        if spec["example"] != spec["default"]:  # and the loader reads the key at all
            assert load(_document(schema, path, base, spec["example"])) != without, path


def test_agent_config_schema_defaults_are_the_loaders(tmp_path):
    path = tmp_path / "config.yml"

    def load(document: dict[str, Any]) -> Any:
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return load_agent_config(path)

    _check_defaults("agent", {"state_dir": str(tmp_path / "state")}, load, _defaults("agent"))


def test_app_file_schema_defaults_are_the_loaders(tmp_path):
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "site.yml").write_text("- hosts: all\n")
    path = tmp_path / "apps" / "web.yml"
    path.parent.mkdir()

    def load(document: dict[str, Any]) -> Any:
        path.write_text(yaml.safe_dump(document), encoding="utf-8")
        return load_app(tmp_path, path)

    # deploy: is handed to the shipped playbook as written; its defaults are checked below
    typed = [(key, spec) for key, spec in _defaults("app") if not key.startswith("deploy.")]
    _check_defaults("app", {"playbook": "playbooks/site.yml"}, load, typed)


def test_app_file_schema_deploy_file_mode_default_is_the_shipped_roles():
    role = ROOT / "gitops_agent" / "execute" / "content" / "roles" / "gitops_files"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    schema = dict((path, spec) for path, spec, _ in key_paths(load_schema("app")))

    assert schema["deploy.files[].mode"]["default"] == defaults["gitops_files_mode"]


def test_fleet_schema_defaults_are_the_loaders():
    def load(document: dict[str, Any]) -> Any:
        return rules_from_text(yaml.safe_dump(document))

    _check_defaults("fleet", {}, load, _defaults("fleet"))


# --- the examples -------------------------------------------------------------------------------


def _example_document(schema: dict[str, Any]) -> Any:
    """Every key with its example (a list of objects: one item, key by key)."""
    if "properties" in schema:
        return {key: _example_document(spec) for key, spec in schema["properties"].items()}
    items = schema.get("items")
    if isinstance(items, dict) and "properties" in items:
        return [_example_document(items)]
    return copy.deepcopy(schema["example"])


def test_every_example_of_the_agent_config_together_loads(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(_example_document(load_schema("agent"))), encoding="utf-8")

    config = load_agent_config(path)

    assert config.host == "web-01" and config.notify[0].on == ("failed", "rolled_back")


@pytest.mark.parametrize("without", ["playbook", "deploy"])
def test_every_example_of_the_app_file_together_loads(tmp_path, without):
    document = _example_document(load_schema("app"))
    del document[without]
    for name in (document.get("playbook"), document.get("remove_playbook"),
                 *(item["src"] for item in document.get("deploy", {}).get("files", []))):
        if name:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text("- hosts: all\n")
    path = tmp_path / "apps" / "billing.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    app = load_app(tmp_path, path)

    assert app.name == "billing" and app.hosts == ("web-*", "db-01")


def test_every_example_of_fleet_yml_together_loads():
    rules = rules_from_text(yaml.safe_dump(_example_document(load_schema("fleet"))))

    assert [wave.name for wave in rules.waves] == ["canary"] and rules.pause is not None
