"""run-playbook, status, artifacts and validate through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import cli, runs, state

BROKEN_SYNTAX = "- hosts: all\n  tasks:\n    - name: x\n      no_such_module_anywhere: {}\n"


def test_run_playbook_reruns_one_app_and_shows_ansible_output(world):
    world.app("web").app("other").config_repo.commit()
    cli("run", config=world.config_path)

    done = cli("run-playbook", "web", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert "TASK [Record the variables this run got]" in done.stdout
    assert "PLAY RECAP" in done.stdout
    assert len(runs(world.state_dir, "web")) == 2
    assert len(runs(world.state_dir, "other")) == 1


def test_run_playbook_check_mode_records_nothing(world):
    world.app("web").config_repo.commit()
    cli("run", config=world.config_path)
    before = state(world.state_dir)

    done = cli("run-playbook", "web", "--check", "--diff", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert "PLAY RECAP" in done.stdout
    assert state(world.state_dir)["apps"] == before["apps"]


def test_run_app_option_limits_the_pass(world):
    world.app("web").app("other").config_repo.commit()
    done = cli("run", "--app", "web", config=world.config_path)
    assert done.returncode == 0
    assert set(state(world.state_dir)["apps"]) == {"web"}


def test_status_shows_last_results_as_text_and_json(world):
    world.app("web").config_repo.commit()
    cli("run", config=world.config_path)

    text = cli("status", config=world.config_path)
    as_json = cli("status", "--json", config=world.config_path)

    assert text.returncode == 0 and as_json.returncode == 0
    assert "web" in text.stdout and "applied" in text.stdout
    document = json.loads(as_json.stdout)
    assert document["host"] == "web-01"
    assert document["apps"]["web"]["state"] == "applied"
    assert "digest" not in document["apps"]["web"]


def test_artifacts_lists_runs_and_shows_one_for_review(world):
    world.config_repo.write("playbooks/two.yml", """\
- hosts: all
  gather_facts: false
  tasks:
    - name: First step
      ansible.builtin.command: "true"
      changed_when: false
    - name: Second step fails
      ansible.builtin.fail: {msg: second step broke}
""")
    world.app("web", "playbook: playbooks/two.yml\n").config_repo.commit()
    cli("run", config=world.config_path)
    cli("run", config=world.config_path)
    run_ids = [path.name for path in runs(world.state_dir, "web")]

    listing = cli("artifacts", "web", config=world.config_path)
    listing_json = json.loads(cli("artifacts", "web", "--json", config=world.config_path).stdout)
    one = cli("artifacts", "web", run_ids[0][:8], config=world.config_path)
    one_json = json.loads(cli("artifacts", "web", run_ids[0], "--json",
                              config=world.config_path).stdout)

    assert listing.returncode == 0 and all(run_id in listing.stdout for run_id in run_ids)
    assert {run["run_id"] for run in listing_json} == set(run_ids)
    assert all(run["status"] == "failed" and run["config_commit"] for run in listing_json)
    assert one.returncode == 0
    assert "First step" in one.stdout and "Second step fails" in one.stdout
    assert "second step broke" in one.stdout and "stdout:" in one.stdout
    assert [task["status"] for task in one_json["tasks"]] == ["ok", "failed"]
    assert one_json["failed_tasks"][0]["msg"] == "second step broke"
    assert "PLAY RECAP" in Path(one_json["stdout"]).read_text()


def test_artifacts_are_rotated_and_private(world):
    world.configure(runner={"keep_artifacts": 2})
    world.app("web").config_repo.commit()
    for _ in range(4):
        cli("run", "--force", config=world.config_path)
    assert len(runs(world.state_dir, "web")) == 2
    assert (world.state_dir / "runs" / "web").stat().st_mode & 0o077 == 0


def test_artifacts_unknown_run_is_a_clear_error(world):
    world.app("web").config_repo.commit()
    cli("run", config=world.config_path)
    done = cli("artifacts", "web", "nosuchrun", config=world.config_path)
    assert done.returncode == 1 and "no kept run matches" in done.stderr


def test_validate_accepts_a_good_repo(world):
    world.app("web").app("api", "playbook: playbooks/record.yml\ndepends_on: [web]\n")
    done = cli("validate", str(world.config_repo.work))
    assert done.returncode == 0, done.stderr
    assert "2 app(s) valid" in done.stdout


def test_validate_reports_every_problem_with_file_and_line(world):
    work = world.config_repo.work
    world.app("typo", "playbook: playbooks/record.yml\nhostz: [web-*]\ntimeout: -1\n")
    world.app("missing", "playbook: playbooks/nope.yml\n")
    world.app("loop-a", "playbook: playbooks/record.yml\ndepends_on: [loop-b]\n")
    world.app("loop-b", "playbook: playbooks/record.yml\ndepends_on: [loop-a]\n")
    world.app("ghost", "playbook: playbooks/record.yml\ndepends_on: [nobody]\n")
    world.config_repo.write("playbooks/broken.yml", BROKEN_SYNTAX)
    world.app("broken", "playbook: playbooks/broken.yml\n")
    world.app("Bad_Name")

    done = cli("validate", str(work))

    assert done.returncode == 2
    err = done.stderr
    assert f"{work}/apps/typo.yml:2: hostz: unknown key" in err
    assert f"{work}/apps/typo.yml:3: timeout:" in err
    assert "apps/missing.yml:1: playbook: 'playbooks/nope.yml' does not exist" in err
    assert "depends_on cycle" in err and "unknown app(s): nobody" in err
    assert "playbooks/broken.yml: syntax check failed" in err
    assert "app name 'Bad_Name' must match" in err
    assert "Traceback" not in err


def test_validate_non_repo_directory_exits_2(tmp_path):
    done = cli("validate", str(tmp_path))
    assert done.returncode == 2 and "no apps/ directory" in done.stderr


def test_logs_under_systemd_have_no_timestamp_and_one_line_per_event(world):
    world.app("web").config_repo.commit()
    plain = cli("run", "--force", config=world.config_path)
    journal = cli("run", "--force", config=world.config_path,
                  env={"JOURNAL_STREAM": "8:12345", "INVOCATION_ID": "abc"})
    assert plain.returncode == 0 and journal.returncode == 0
    assert plain.stderr.splitlines()[0][:4].isdigit()  # a terminal gets the time
    lines = journal.stderr.splitlines()
    assert lines and all(line.startswith(("INFO ", "WARNING ", "ERROR ")) for line in lines)
    assert any(line.startswith("INFO web: applying") for line in lines)
