"""Recorded inputs (plan/inputs.py), the tree (observe/tree.py) and the trace parser."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from gitops_agent.execute.tracing import compile_once, parse
from gitops_agent.observe.tree import Tree, parse_ls_tree
from gitops_agent.plan.inputs import FORMAT, changes, from_dict, record, uses

OLD, NEW = "a" * 40, "b" * 40
B1, B2 = "1" * 40, "2" * 40


def tree(commit: str, blobs: dict[str, str]) -> Tree:
    entries: dict[str, tuple[str, str]] = {}
    for path, sha in blobs.items():
        entries[path] = ("blob", sha)
        parts = path.split("/")
        for depth in range(1, len(parts)):
            entries.setdefault("/".join(parts[:depth]), ("tree", "f" * 40))
    return Tree(commit, entries)


BEFORE = tree(OLD, {"apps/web.yml": B1, "playbooks/web.yml": B1, "playbooks/t/a.j2": B1,
                    "playbooks/t/b.j2": B1, "files/x.conf": B1})


def recorded(**more: object):
    values = {"read": ["playbooks/web.yml", "playbooks/t/a.j2"],
              "probed": ["playbooks/t", "playbooks/files/web-01.conf"],
              "listed": ["playbooks/t"], "always": ["apps/web.yml"], "globs": ["files/*"],
              "source_commit": None, "facts": {"name": "web-01"}, "watch": {}}
    values.update(more)
    return record(BEFORE, **values)  # type: ignore[arg-type]


def test_record_keeps_blob_ids_of_reads_and_kinds_of_probes():
    inputs = recorded()

    assert inputs.commit == OLD
    assert inputs.files == {"playbooks/web.yml": B1, "playbooks/t/a.j2": B1,
                            "apps/web.yml": B1, "playbooks/t": "dir",
                            "playbooks/files/web-01.conf": "missing"}
    assert set(inputs.listings) == {"playbooks/t"}
    assert set(inputs.globs) == {"files/*"}


@pytest.mark.parametrize(("blobs", "expected"), [
    ({"playbooks/t/b.j2": B2}, []),  # a sibling it listed but did not read
    ({"README.md": B2}, []),
    ({"playbooks/t/a.j2": B2}, ["playbooks/t/a.j2 changed"]),
    ({"playbooks/files/web-01.conf": B2}, ["playbooks/files/web-01.conf appeared"]),
    ({"playbooks/t/c.j2": B2}, ["the entries of playbooks/t/ changed"]),
    ({"files/y.conf": B2}, ["files matching paths: files/* changed"]),
])
def test_changes_name_exactly_what_the_app_used(blobs, expected):
    after = tree(NEW, {path: sha for path, (kind, sha) in BEFORE.entries.items()
                       if kind == "blob"} | blobs)

    assert changes(recorded(), after, ["files/*"], None, {"name": "web-01"}, {}) == expected


def test_changes_removed_file_and_same_commit_skips_the_tree():
    after = tree(NEW, {"apps/web.yml": B1, "playbooks/t/a.j2": B1, "playbooks/t/b.j2": B1,
                       "files/x.conf": B1})

    assert changes(recorded(), after, ["files/*"], None, {"name": "web-01"}, {}) == [
        "playbooks/web.yml was removed"]
    assert changes(recorded(), None, ["files/*"], None, {"name": "web-01"}, {}) == []


def test_from_dict_refuses_other_formats_and_shapes():
    good = recorded().to_dict()

    assert from_dict(good) == recorded()
    assert from_dict({**good, "format": FORMAT - 1}) is None
    assert from_dict({**good, "files": ["not", "a", "dict"]}) is None
    assert from_dict({**good, "unknown": 1}) is None
    assert from_dict("digest") is None
    assert from_dict(None) is None


def test_uses_matches_files_listed_directories_and_globs():
    inputs = recorded()

    assert uses(inputs, ["playbooks/web.yml", "playbooks/t/new.j2", "files/z",
                         "playbooks/other.yml"]) == ["playbooks/web.yml", "playbooks/t/new.j2",
                                                     "files/z"]


def test_parse_ls_tree_and_listing_digest():
    output = ("100644 blob " + B1 + "\ta.yml\x00" "040000 tree " + "f" * 40 + "\td\x00"
              "100644 blob " + B2 + "\td/b.yml\x00")
    parsed = parse_ls_tree(NEW, output)

    assert parsed.kind("a.yml") == "blob" and parsed.blob("d/b.yml") == B2
    assert parsed.kind("d") == "tree" and parsed.kind("") == "tree"
    assert parsed.kind("nope") is None and parsed.listing("nope") is None
    assert parsed.listing("d") != parsed.listing("")


def test_trace_parse_needs_the_loaded_marker_and_refuses_errors():
    reads, problem = parse("v\t1 42 controller\nr\ta.yml\np\tb.yml\nl\tt\nr\ta.yml\n")
    assert problem is None and reads is not None
    assert (reads.read, reads.probed, reads.listed) == ({"a.yml"}, {"b.yml"}, {"t"})

    assert parse("r\ta.yml\n")[0] is None
    assert parse("v\t1 43 helper\nr\ta.yml\n")[0] is None  # the controller's trace lost
    assert "did not load" in str(parse("")[1])
    reads, problem = parse("v\t1 42 controller\nr\ta.yml\ne\tRuntimeError: boom\n")
    assert reads is None and "boom" in str(problem)


def test_trace_parse_splits_on_newlines_only():
    reads, _ = parse("v\t1 42 controller\nr\tt/a\u2028b.j2\nr\tt/c\rd.j2\n")

    assert reads is not None and reads.read == {"t/a\u2028b.j2", "t/c\rd.j2"}


def test_the_tracer_is_compiled_once_and_again_when_it_changed(tmp_path):
    source = tmp_path / "sitecustomize.py"
    source.write_text("VERSION = 1\n")
    compiled = Path(importlib.util.cache_from_source(str(source)))

    compile_once(source)

    assert compiled.is_file()
    os.utime(compiled, (1, 2_000_000_000))  # newer than the source: left alone
    compile_once(source)
    assert compiled.stat().st_mtime == 2_000_000_000

    source.write_text("VERSION = 2\n")
    os.utime(source, (1, 2_000_000_100))
    compile_once(source)
    assert compiled.stat().st_mtime != 2_000_000_000  # the source changed: compiled again
