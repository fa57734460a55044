"""yamlfile.parse_yaml (lines, duplicates, syntax errors) and schema.schema_problems."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops_agent.config.schema import load_schema, schema_problems
from gitops_agent.config.yamlfile import YamlSyntaxError, load_yaml, parse_yaml

PATH = Path("/etc/gitops-agent/config.yml")

NESTED = """\
host:
  name: web-01
  labels:
    env: prod
config_repo:
  url: /srv/fleet.git
hosts:
  - web-01
  -
    nested: true
"""


def test_parse_yaml_keeps_the_data():
    document = parse_yaml(NESTED, PATH)

    assert document.path == PATH
    assert document.data["host"] == {"name": "web-01", "labels": {"env": "prod"}}
    assert document.data["hosts"] == ["web-01", {"nested": True}]


@pytest.mark.parametrize(("location", "line"), [
    (("host",), 1),
    (("host", "name"), 2),
    (("host", "labels", "env"), 4),
    (("config_repo", "url"), 6),
    (("hosts", 0), 8),
    (("hosts", 1), 10),
    (("hosts", 1, "nested"), 10),
])
def test_parse_yaml_remembers_the_line_of_every_key_and_item(location, line):
    assert parse_yaml(NESTED, PATH).line_of(location) == line


def test_line_of_unknown_location_falls_back_to_the_deepest_known_part():
    document = parse_yaml(NESTED, PATH)

    assert document.line_of(("host", "labels", "missing", "deeper")) == 3
    assert document.line_of(("nothing",)) == 1
    assert document.line_of(()) == 1


def test_parse_yaml_records_duplicate_keys_with_their_lines():
    document = parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", PATH)

    assert document.duplicate_keys == [(("b", "c"), 4), (("a",), 5)]


def test_parse_yaml_without_duplicates_records_none():
    assert parse_yaml(NESTED, PATH).duplicate_keys == []


@pytest.mark.parametrize(("text", "line"), [
    ("a: 1\nb: [1, 2\nc: 3\n", 3),
    ("a: 1\n  b: 2\n", 2),
    ("a: 'unterminated\n", 2),
    ("a: 1\n---\nb: 2\n", 2),
    ("a: *nowhere\n", 1),
])
def test_parse_yaml_syntax_error_names_file_and_line(text, line):
    with pytest.raises(YamlSyntaxError) as caught:
        parse_yaml(text, PATH)

    assert caught.value.line == line
    assert str(caught.value).startswith(f"{PATH}:{line}: invalid YAML: ")


def test_parse_yaml_refuses_python_tags():
    with pytest.raises(YamlSyntaxError):
        parse_yaml("a: !!python/object/apply:os.system ['true']\n", PATH)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_parse_yaml_empty_document_is_none(text):
    document = parse_yaml(text, PATH)

    assert document.data is None
    assert document.lines == {}


def test_load_yaml_reads_the_file(tmp_path):
    path = tmp_path / "x.yml"
    path.write_text("a:\n  - b\n", encoding="utf-8")

    document = load_yaml(path)

    assert document.data == {"a": ["b"]}
    assert document.line_of(("a", 0)) == 2


# --- schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["agent", "app", "fleet"])
def test_load_schema_rejects_unknown_keys_at_the_top(name):
    schema = load_schema(name)

    assert schema["additionalProperties"] is False
    assert schema["type"] == "object"


@pytest.mark.parametrize("name", ["agent", "app", "fleet"])
def test_load_schema_every_object_rejects_unknown_keys(name):
    def objects(node, path="$"):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                yield path, node
            for key, value in node.items():
                yield from objects(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from objects(value, f"{path}[{index}]")

    loose = [path for path, node in objects(load_schema(name))
             if node.get("additionalProperties") is not False]

    assert loose == []


def test_schema_problems_valid_document_has_none():
    assert schema_problems(parse_yaml("config_repo: {url: /x}\n", PATH), "agent") == []


def test_schema_problems_are_sorted_by_line_with_dotted_paths():
    document = parse_yaml(
        "splay: -1\nconfig_repo:\n  url: ''\n  verify: {}\nrunner:\n  workers: 65\n", PATH)

    problems = schema_problems(document, "agent")

    assert problems == [
        f"{PATH}:1: splay: -1 is less than the minimum of 0",
        f"{PATH}:3: config_repo.url: '' should be non-empty",
        f"{PATH}:4: config_repo.verify: 'allowed_signers' is required",
        f"{PATH}:6: runner.workers: 65 is greater than the maximum of 64",
    ]


def test_schema_problems_each_unknown_key_gets_its_own_line():
    document = parse_yaml("config_repo: {url: /x}\nfoo: 1\nbar: 2\n", PATH)

    problems = schema_problems(document, "agent")

    assert [problem.split(": ")[0:2] for problem in problems] == [
        [f"{PATH}:2", "foo"], [f"{PATH}:3", "bar"]]
    assert all("unknown key (allowed: config_repo, drift, host, interval, metrics, notify, "
               "runner, splay, state_dir, status)" in problem for problem in problems)


def test_schema_problems_list_index_is_shown_in_brackets():
    document = parse_yaml(
        "deploy:\n  files:\n    - {src: a, dest: b}\n    - {src: c, dest: d, mode: '999'}\n",
        PATH)

    problems = schema_problems(document, "app")

    assert len(problems) == 1
    assert problems[0].startswith(f"{PATH}:4: deploy.files[1].mode: '999' does not match ")


def test_schema_problems_duplicate_keys_are_problems_too():
    document = parse_yaml("config_repo: {url: /x}\ninterval: 5\ninterval: 6\n", PATH)

    assert schema_problems(document, "agent") == [f"{PATH}:3: interval: key given twice"]


def test_schema_problems_known_valid_document_skips_validation_but_not_errors(tmp_path):
    from gitops_agent.config import schema

    valid = parse_yaml("config_repo: {url: /cached}\n", PATH)
    assert schema_problems(valid, "agent") == []
    cache = tmp_path / "schema-cache.json"
    schema.save_known_valid(cache)
    schema._known_valid.clear()
    schema.load_known_valid(cache)

    assert schema_problems(valid, "agent") == []
    assert schema._digest("agent", valid.data) in schema._known_valid
    invalid = parse_yaml("config_repo: {url: /cached}\nbogus: 1\n", PATH)
    assert schema_problems(invalid, "agent")  # never cached, always reported
    assert schema._digest("agent", invalid.data) not in schema._known_valid


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + level)}: &{chr(98 + level)} [{', '.join([f'*{chr(97 + level)}'] * 10)}]\n"
    for level in range(8))


@pytest.mark.parametrize(("text", "problem"), [
    ("[" * 100_000 + "]" * 100_000, "nests deeper than 64 levels"),
    ("a:\n" + "".join("  " * depth + "b:\n" for depth in range(1, 80)), "nests deeper"),
    (BILLION_LAUGHS, "expands to more than 200000 nodes"),
    ("a: [" + ", ".join(["*x"] * 101) + "]\n", "more than 100 aliases"),
    ("a: " + "x" * (1024 * 1024 + 1), "over 1024 KiB"),
])
def test_hostile_yaml_is_refused_with_a_line_not_a_crash(text, problem):
    from gitops_agent.config.yamlfile import load_bounded

    with pytest.raises(YamlSyntaxError, match=problem):
        parse_yaml(text, PATH)
    with pytest.raises(yaml.YAMLError):
        load_bounded(text)


def test_bounded_yaml_still_reads_ordinary_documents_with_aliases():
    from gitops_agent.config.yamlfile import load_bounded

    text = "base: &base {port: 80}\nweb: *base\nlist: [1, 2, {a: [b]}]\n"

    assert load_bounded(text) == {"base": {"port": 80}, "web": {"port": 80},
                                  "list": [1, 2, {"a": ["b"]}]}
    assert parse_yaml(text, PATH).data["web"] == {"port": 80}
