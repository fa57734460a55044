"""The agent's shipped content as an app's inputs: what is recorded of it (observe/shipped.py),
what changed in it (plan/shipped.py, through plan/inputs.py and decide), the trace's part."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.execute import ansible_env
from gitops_agent.execute.tracing import Reads
from gitops_agent.observe import shipped
from gitops_agent.observe.shipped import SHIPPED_FACT
from gitops_agent.plan import shipped as plan_shipped
from gitops_agent.plan.decide import APPLY, UNCHANGED, Decision, Facts, decide
from gitops_agent.plan.inputs import Inputs, changes
from gitops_agent.record.state import AppRecord

TASKS = "roles/gitops_files/tasks/main.yml"
D1, D2 = "1" * 64, "2" * 64
HOST = {"name": "web-01", "labels": {}}


def fact(files: dict[str, str] | None = None, listings: dict[str, str] | None = None
         ) -> dict[str, Any]:
    base = {"playbooks/deploy.yml": D1, TASKS: D1, "roles/gitops_files/vars": "missing",
            "roles/gitops_files/meta": "dir", "roles/gitops_files/README.md": "file"}
    return {"files": base | (files or {}),
            "listings": {"roles/gitops_files": "abc"} | (listings or {})}


WAS = fact()
COMPARISONS: dict[str, tuple[Any, Any, list[str]]] = {
    "byte-identical content": (WAS, fact(), []),
    "a read file changed": (WAS, fact({TASKS: D2}),
                            [f"the agent's shipped {TASKS} changed"]),
    "a read file was removed": (WAS, fact({TASKS: "missing"}),
                                [f"the agent's shipped {TASKS} was removed"]),
    "a probed path appeared": (WAS, fact({"roles/gitops_files/vars": "dir"}),
                               ["the agent's shipped roles/gitops_files/vars appeared"]),
    "a probed file is still a file, read by another run": (
        WAS, fact({"roles/gitops_files/README.md": D2}), []),
    "a probed file became a directory": (
        WAS, fact({"roles/gitops_files/README.md": "dir"}),
        ["the agent's shipped roles/gitops_files/README.md changed"]),
    "a listed directory has other entries": (
        WAS, fact(listings={"roles/gitops_files": "def"}),
        ["the entries of the agent's shipped roles/gitops_files/ changed"]),
    "the root is named": ({"files": {".": "dir"}, "listings": {}},
                          {"files": {".": "missing"}, "listings": {}},
                          ["the agent's shipped content was removed"]),
    "a file the run did not read changed: not seen": (
        WAS, fact({"roles/gitops_health/tasks/main.yml": D2}), []),
    "the current entries are unknown": ({"files": {TASKS: D1}, "listings": {}}, None,
                                        [f"the agent's shipped {TASKS} changed"]),
    "an older agent's version string": (
        "0.1.0", fact(), ["an older agent recorded its shipped content only as version "
                          "0.1.0: applied once to record which shipped files the app reads"]),
    "a record of another shape": ({"files": [TASKS]}, fact(),
                                  ["the agent's shipped content changed (its record is "
                                   "unreadable)"]),
    "a record reaching out of the shipped content": (
        {"files": {"../../etc/passwd": D1}, "listings": {}}, fact(),
        ["the agent's shipped content changed (its record is unreadable)"]),
    "no record at all": (None, fact(), ["the agent's shipped content changed (its record is "
                                        "unreadable)"]),
}


@pytest.mark.parametrize(("was", "now", "expected"), COMPARISONS.values(),
                         ids=COMPARISONS.keys())
def test_shipped_changes_name_the_shipped_file(was: Any, now: Any,
                                               expected: list[str]) -> None:
    assert plan_shipped.changes(was, now) == expected


def recorded(shipped_fact: Any = WAS) -> Inputs:
    facts = {**HOST} if shipped_fact is None else {**HOST, SHIPPED_FACT: shipped_fact}
    return Inputs(commit="a" * 40, facts=facts)


@pytest.mark.parametrize(("shipped_fact", "now", "expected"), [
    (WAS, {**HOST, SHIPPED_FACT: fact()}, []),
    (WAS, {**HOST, SHIPPED_FACT: fact({TASKS: D2})}, [f"the agent's shipped {TASKS} changed"]),
    (WAS, {**HOST, "labels": {"role": "web"}, SHIPPED_FACT: fact({TASKS: D2})},
     ["host labels changed", f"the agent's shipped {TASKS} changed"]),
    (None, {**HOST}, []),  # an app with its own playbook: no shipped fact, nothing compared
    (WAS, {**HOST, SHIPPED_FACT: fact({path: D2 for path in (
        "a.yml", "b.yml", "c.yml", "d.yml", "playbooks/deploy.yml")})},
     ["the agent's shipped playbooks/deploy.yml changed"]),  # unread files: unseen
    (fact({f"roles/r/{n}.yml": D1 for n in range(5)}),
     {**HOST, SHIPPED_FACT: fact({f"roles/r/{n}.yml": D2 for n in range(5)})},
     [*(f"the agent's shipped roles/r/{n}.yml changed" for n in range(3)), "and 2 more"]),
])
def test_recorded_inputs_compare_the_shipped_fact_file_by_file(
        shipped_fact: Any, now: dict[str, Any], expected: list[str]) -> None:
    assert changes(recorded(shipped_fact), None, (), None, now, {}) == expected


@pytest.mark.parametrize(("shipped_fact", "now", "expected"), [
    (WAS, fact(), Decision(UNCHANGED)),
    (WAS, fact({TASKS: D2}), Decision(APPLY, (f"the agent's shipped {TASKS} changed",))),
    ("0.1.0", fact(), Decision(APPLY, (
        "an older agent recorded its shipped content only as version 0.1.0: applied once "
        "to record which shipped files the app reads",))),
])
def test_decide_reapplies_a_deploy_app_only_for_its_shipped_reads(
        shipped_fact: Any, now: Any, expected: Decision) -> None:
    previous = AppRecord(state="applied", last_attempt="ok", config_commit="a" * 40,
                         inputs=recorded(shipped_fact).to_dict())

    decision = decide(previous, Facts(host={**HOST, SHIPPED_FACT: now}), "a" * 40, None)

    assert decision == expected


def test_reads_in_shipped_are_relative_to_the_shipped_content() -> None:
    reads = Reads(read={"@shipped/playbooks/deploy.yml", "playbooks/web.yml"},
                  probed={"@shipped", "@shippedness"})

    assert reads.in_shipped(reads.read) == {"playbooks/deploy.yml"}
    assert reads.in_shipped(reads.probed) == {"."}
    assert reads.in_repo(reads.read) == {"playbooks/web.yml"}


@pytest.fixture
def content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "content"
    (root / "roles/web/tasks").mkdir(parents=True)
    (root / "roles/web/tasks/main.yml").write_text("- debug: {}\n")
    (root / "playbooks").mkdir()
    (root / "playbooks/deploy.yml").write_text("- hosts: all\n")
    monkeypatch.setattr(ansible_env, "SHIPPED", root)
    return root


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_record_hashes_reads_and_keeps_kinds_of_probes_and_names_of_listings(content):
    value = shipped.record({"playbooks/deploy.yml", "roles/gone.yml"},
                           {"roles/web/tasks", "roles/web/vars", "playbooks/deploy.yml"},
                           {"roles/web/tasks"})

    assert value["files"] == {"playbooks/deploy.yml": sha(content / "playbooks/deploy.yml"),
                              "roles/gone.yml": "missing", "roles/web/tasks": "dir",
                              "roles/web/vars": "missing"}
    assert set(value["listings"]) == {"roles/web/tasks"}
    assert shipped.parse(value) is not None


def test_current_looks_only_at_the_recorded_paths_and_reads_each_file_once(content,
                                                                         monkeypatch):
    value = shipped.record({"roles/web/tasks/main.yml"}, {"roles/web/vars"},
                           {"roles/web/tasks"})
    (content / "playbooks/deploy.yml").write_text("- hosts: localhost\n")  # not recorded
    hashed: list[str] = []
    digest = shipped.watch.digest

    def counted(path: str) -> str:
        hashed.append(path)
        return digest(path)

    monkeypatch.setattr(shipped.watch, "digest", counted)

    assert shipped.current([value, "0.1.0"]) == value
    assert shipped.current([value]) == value
    assert hashed == []  # the record already hashed it, and it has not changed since

    (content / "roles/web/tasks/main.yml").write_text("- debug: {msg: changed}\n")
    (content / "roles/web/tasks/extra.yml").write_text("")

    now = shipped.current([value])

    assert hashed == [str(content / "roles/web/tasks/main.yml")]
    assert plan_shipped.changes(value, now) == [
        "the agent's shipped roles/web/tasks/main.yml changed",
        "the entries of the agent's shipped roles/web/tasks/ changed"]


def test_current_takes_a_read_over_a_probe_of_the_same_path(content):
    probe = shipped.record((), {"playbooks/deploy.yml"}, ())
    read = shipped.record({"playbooks/deploy.yml"}, (), ())

    now = shipped.current([probe, read])

    assert now == read
    assert plan_shipped.changes(probe, now) == plan_shipped.changes(read, now) == []


def test_an_identical_copy_of_the_shipped_content_compares_equal(content, tmp_path,
                                                                 monkeypatch):
    value = shipped.record({"roles/web/tasks/main.yml", "playbooks/deploy.yml"},
                           {"roles/web/defaults"}, {"roles/web/tasks"})
    copy = tmp_path / "upgraded"
    shutil.copytree(content, copy)
    monkeypatch.setattr(ansible_env, "SHIPPED", copy)

    assert plan_shipped.changes(value, shipped.current([value])) == []
