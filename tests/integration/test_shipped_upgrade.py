"""An upgrade of the agent re-applies only the apps whose shipped files (`deploy:`) changed.

A real `deploy:` app and an app with its own playbook are applied by the real CLI; the
upgrade is then simulated in-process: a new version number only, or the shipped content
moved to a copy with one file edited (ansible_env.SHIPPED is where every part looks).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

import gitops_agent
from gitops_agent.config import load_agent_config
from gitops_agent.execute import ansible_env
from gitops_agent.pass_ import Options, Pass, PassResult
from gitops_agent.plan import APPLY, UNCHANGED
from tests.conftest import World
from tests.helpers import runs, state
from tests.integration.test_deploy import Deploy, make_deploy, run

READ_BY_DEPLOY = "roles/gitops_files/tasks/main.yml"
NOT_READ = "roles/gitops_health/tasks/main.yml"  # only for an app with a health check


@pytest.fixture
def deployed(world: World, tmp_path: Path) -> Deploy:
    deploy = make_deploy(world, tmp_path)
    world.app("plain").config_repo.commit("an app with its own playbook")
    run(world)
    assert deploy.ran() == 1
    return deploy


def run_pass(world: World) -> PassResult:
    result = Pass(load_agent_config(world.config_path), Options(push=False)).run()
    assert result.exit_code == 0, result.records
    return result


def decisions(result: PassResult) -> dict[str, tuple[str, tuple[str, ...]]]:
    assert result.plan is not None
    return {name: (decision.action, decision.reasons)
            for name, decision in sorted(result.plan.decisions.items())}


def shipped_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped content copied (links resolved, as an installed agent has it), and
    made the agent's."""
    copy = tmp_path / "upgraded-content"
    shutil.copytree(ansible_env.SHIPPED, copy)
    monkeypatch.setattr(ansible_env, "SHIPPED", copy)
    return copy


def test_apps_record_the_shipped_files_their_runs_read(world, deployed):
    apps = state(world.state_dir)["apps"]

    read = apps["web"]["inputs"]["facts"]["shipped content"]["files"]
    assert READ_BY_DEPLOY in read and "playbooks/deploy.yml" in read
    assert NOT_READ not in read
    assert "shipped content" not in apps["plain"]["inputs"]["facts"]


def test_a_new_version_with_identical_shipped_content_reapplies_nothing(
        world, deployed, monkeypatch):
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "gitops_agent" and \
                getattr(module, "__version__", None) == gitops_agent.__version__:
            monkeypatch.setattr(module, "__version__", "99.0.0")
    before = runs(world.state_dir, "web")

    result = run_pass(world)

    assert decisions(result) == {"plain": (UNCHANGED, ()), "web": (UNCHANGED, ())}
    assert runs(world.state_dir, "web") == before and deployed.ran() == 1


def test_a_changed_shipped_file_reapplies_just_the_apps_that_read_it(
        world, deployed, tmp_path, monkeypatch):
    copy = shipped_copy(tmp_path, monkeypatch)

    assert decisions(run_pass(world)) == {"plain": (UNCHANGED, ()), "web": (UNCHANGED, ())}

    with (copy / NOT_READ).open("a") as stream:
        stream.write("# a change no run read\n")

    assert decisions(run_pass(world)) == {"plain": (UNCHANGED, ()), "web": (UNCHANGED, ())}

    with (copy / READ_BY_DEPLOY).open("a") as stream:
        stream.write("# reworded in the new release\n")
    before = runs(world.state_dir, "web")

    result = run_pass(world)

    assert decisions(result) == {
        "plain": (UNCHANGED, ()),
        "web": (APPLY, (f"the agent's shipped {READ_BY_DEPLOY} changed",))}
    assert result.records["web"].state == "applied"
    assert len(runs(world.state_dir, "web")) == len(before) + 1
    assert deployed.ran() == 1  # nothing it deploys changed: its command does not run
    assert decisions(run_pass(world)) == {"plain": (UNCHANGED, ()), "web": (UNCHANGED, ())}


def test_state_of_an_older_agent_reapplies_deploy_apps_once(world, deployed):
    path = world.state_dir / "state.json"
    data = json.loads(path.read_text())
    data["apps"]["web"]["inputs"]["facts"]["shipped content"] = "0.0.9"
    path.write_text(json.dumps(data))

    first = run_pass(world)

    assert decisions(first) == {"plain": (UNCHANGED, ()), "web": (APPLY, (
        "an older agent recorded its shipped content only as version 0.0.9: applied once to "
        "record which shipped files the app reads",))}
    assert first.records["web"].state == "applied"
    assert decisions(run_pass(world)) == {"plain": (UNCHANGED, ()), "web": (UNCHANGED, ())}
