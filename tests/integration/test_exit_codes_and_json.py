"""`status` exit codes (0 ok, 1 failed, 4 stale) and `--json` of run, run-playbook and
validate, through the real command line."""

from __future__ import annotations

import json
import shutil
import time

from tests.helpers import FAILING_PLAYBOOK as FAILING
from tests.helpers import cli, state


def test_status_exits_0_when_every_app_is_fine_and_says_not_stale(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0

    text = cli("status", config=world.config_path)
    as_json = cli("status", "--json", config=world.config_path)

    assert text.returncode == 0 and "stale" not in text.stdout
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert document["stale"] is False and document["last_pass"] == state(
        world.state_dir)["last_pass"]


def test_status_exits_4_without_a_pass_within_two_intervals(world):
    world.configure(interval=1)
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    time.sleep(2.5)  # two intervals and a bit, with no pass

    text = cli("status", config=world.config_path)
    as_json = cli("status", "--json", config=world.config_path)

    assert text.returncode == 4, text.stderr
    assert "stale: no pass within 2s" in text.stdout
    assert as_json.returncode == 4 and json.loads(as_json.stdout)["stale"] is True


def test_status_before_any_pass_is_stale(world):
    done = cli("status", config=world.config_path)
    assert done.returncode == 4 and "no results yet" in done.stdout


def test_status_exits_1_for_a_failed_app_and_failed_wins_over_stale(world):
    world.configure(interval=1)
    world.config_repo.write("playbooks/failing.yml", FAILING)
    world.app("web").app("billing", "playbook: playbooks/failing.yml\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 1

    fresh = cli("status", config=world.config_path)
    time.sleep(2.5)
    stale = cli("status", "--json", config=world.config_path)

    assert fresh.returncode == 1, fresh.stderr
    assert stale.returncode == 1  # failed wins over stale
    document = json.loads(stale.stdout)
    assert document["stale"] is True and document["apps"]["billing"]["state"] == "failed"


def test_status_exits_1_when_the_last_pass_failed_before_any_app(world, tmp_path):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    before = state(world.state_dir)["last_pass"]
    shutil.move(world.config_repo.bare, tmp_path / "away.git")
    time.sleep(1.1)  # the failed pass's time differs from the good one's

    down = cli("run", "--json", config=world.config_path)
    status = cli("status", config=world.config_path)

    assert down.returncode == 1 and down.stdout == ""  # an error: one line on stderr
    assert down.stderr.strip().splitlines()[-1].startswith("gitops-agent: error: cannot reach")
    assert status.returncode == 1 and "the last pass failed" in status.stdout
    after = state(world.state_dir)
    assert after["last_pass"] > before and after["updated"] == before


def test_run_json_document_and_exit_code(world):
    world.config_repo.write("playbooks/failing.yml", FAILING)
    world.app("web").app("billing", "playbook: playbooks/failing.yml\n")
    world.app("typo", "playbook: playbooks/record.yml\nhostz: [web-*]\n").config_repo.commit()

    done = cli("run", "--json", config=world.config_path)

    assert done.returncode == 2, done.stderr  # an invalid app file
    document = json.loads(done.stdout)
    assert set(document) == {"exit_code", "config_commit", "apps", "invalid", "pushed"}
    assert document["exit_code"] == 2 and document["pushed"] is True
    assert document["config_commit"] == world.config_repo.log("main")[0]
    assert document["apps"]["web"]["state"] == "applied"
    assert document["apps"]["web"]["run_id"]
    assert document["apps"]["billing"]["state"] == "failed"
    assert "Restart billing" in document["apps"]["billing"]["message"]
    assert document["apps"]["typo"]["state"] == "failed"
    assert "hostz" in document["invalid"]["typo"]


def test_run_playbook_json_keeps_ansible_output_off_stdout(world):
    world.app("web").config_repo.commit()

    done = cli("run-playbook", "web", "--json", config=world.config_path)

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # nothing but the document
    assert document["exit_code"] == 0 and document["apps"]["web"]["state"] == "applied"
    assert "PLAY RECAP" not in done.stdout


def test_validate_json_valid_and_invalid(world, tmp_path):
    work = world.config_repo.work
    world.app("web")

    good = cli("validate", str(work), "--json", "--host", "web-01")
    world.app("typo", "playbook: playbooks/nope.yml\nhostz: [web-*]\n")
    bad = cli("validate", str(work), "--json")
    not_a_repo = cli("validate", str(tmp_path / "empty"), "--json")

    assert good.returncode == 0, good.stderr
    document = json.loads(good.stdout)
    assert document["valid"] is True and document["problems"] == []
    assert document["apps"] == ["web"] and document["hosts"] == {"web-01": ["web"]}
    assert bad.returncode == 2 and bad.stderr == ""
    problems = json.loads(bad.stdout)["problems"]
    assert json.loads(bad.stdout)["valid"] is False
    assert any("hostz: unknown key" in problem for problem in problems)
    assert not_a_repo.returncode == 2 and not_a_repo.stdout == ""
    assert not_a_repo.stderr.count("\n") == 1 and "no apps/ directory" in not_a_repo.stderr
