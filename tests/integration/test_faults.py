"""Faults are tested, not hoped about: failures, timeouts, locks, bad input, lost remotes."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.helpers import SLEEPER, Remote, cli, git, report, runs, state

FAILING = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Break on purpose
      ansible.builtin.command: sh -c 'echo broken >&2; exit 3'
"""


def test_failed_playbook_exits_1_and_is_retried_next_pass(world):
    world.config_repo.write("playbooks/failing.yml", FAILING)
    world.app("broken", "playbook: playbooks/failing.yml\n").app("fine").config_repo.commit()

    first = cli("run", config=world.config_path)
    second = cli("run", config=world.config_path)

    assert first.returncode == 1 and second.returncode == 1
    record = state(world.state_dir)["apps"]["broken"]
    assert record["state"] == "failed"
    assert record["failed_tasks"][0]["task"] == "Break on purpose"
    assert "rc=3" in record["failed_tasks"][0]["msg"] and "broken" in record["message"]
    assert len(runs(world.state_dir, "broken")) == 2  # retried although git did not change
    assert len(runs(world.state_dir, "fine")) == 1
    assert state(world.state_dir)["apps"]["fine"]["state"] == "unchanged"


def test_playbook_past_its_timeout_is_killed_and_failed(world):
    world.config_repo.write("playbooks/sleeper.yml", SLEEPER)
    world.app("slow", "playbook: playbooks/sleeper.yml\ntimeout: 3\n").config_repo.commit()
    started = time.monotonic()

    done = cli("run", config=world.config_path)

    assert time.monotonic() - started < 40
    assert done.returncode == 1
    record = report(world.config_repo)["apps"]["slow"]
    assert record["state"] == "failed" and "3s timeout" in record["message"]


def test_second_run_while_lock_held_exits_75(world):
    world.app("web").config_repo.commit()
    world.state_dir.mkdir()
    with open(world.state_dir / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        done = cli("run", config=world.config_path)
    assert done.returncode == 75
    assert "another gitops-agent run holds" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (world.state_dir / "state.json").exists()


def test_sigterm_mid_playbook_cancels_cleanly_and_next_pass_reapplies(world):
    world.config_repo.write("playbooks/sleeper.yml", SLEEPER)
    world.app("slow", "playbook: playbooks/sleeper.yml\n").config_repo.commit()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    process = subprocess.Popen([sys.executable, "-m", "gitops_agent", "run", "--config",
                                str(world.config_path)], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list((world.state_dir / "runs" / "slow").glob("artifacts/*/job_events/*")):
        assert time.monotonic() < deadline, "the playbook never started"
        time.sleep(0.2)
    time.sleep(1)
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)

    assert time.monotonic() - stopped < 20
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    record = state(world.state_dir)["apps"]["slow"]
    assert record["state"] == "failed" and "canceled" in record["message"]
    assert report(world.config_repo)["apps"]["slow"]["state"] == "failed"


def test_bad_agent_config_is_one_line_with_file_line_key_and_exit_2(world):
    world.config_path.write_text(world.config_path.read_text() + "intervl: 30\n")
    done = cli("run", config=world.config_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert str(world.config_path) in lines[0] and "intervl" in lines[0]
    assert re.search(r"agent\.yml:\d+:", lines[0])


def test_broken_yaml_and_missing_config_exit_2(world, tmp_path):
    world.config_path.write_text("host: [unclosed\n")
    broken = cli("run", config=world.config_path)
    missing = cli("run", config=tmp_path / "nope.yml")
    assert broken.returncode == 2 and "invalid YAML" in broken.stderr
    assert missing.returncode == 2 and "nope.yml: no such file" in missing.stderr
    assert "Traceback" not in broken.stderr + missing.stderr


def test_invalid_app_never_stops_valid_ones(world):
    world.app("good")
    world.app("typo", "playbook: playbooks/record.yml\nvar: {a: 1}\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 2
    assert "apps/typo.yml:2: var: unknown key" in done.stderr
    assert "Traceback" not in done.stderr
    document = report(world.config_repo)
    assert document["apps"]["good"]["state"] == "applied"
    assert document["apps"]["typo"]["state"] == "failed"
    assert "invalid app file" in document["apps"]["typo"]["message"]


def test_playbooks_outside_the_config_repo_never_run(world, tmp_path):
    outside = tmp_path / "outside.yml"
    marker = tmp_path / "ran-outside"
    outside.write_text(f"- hosts: all\n  gather_facts: false\n  tasks:\n"
                       f"    - ansible.builtin.file: {{path: {marker}, state: touch}}\n")
    world.config_repo.write("apps/absolute.yml", f"playbook: {outside}\n")
    world.config_repo.write("apps/dotdot.yml", "playbook: ../../outside.yml\n")
    (world.config_repo.work / "playbooks").mkdir(exist_ok=True)
    (world.config_repo.work / "playbooks" / "link.yml").symlink_to(outside)
    world.config_repo.write("apps/linked.yml", "playbook: playbooks/link.yml\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 2
    assert not marker.exists()
    for name in ("absolute", "dotdot", "linked"):
        assert report(world.config_repo)["apps"][name]["state"] == "failed"
        assert runs(world.state_dir, name) == []


def test_ext_urls_are_refused_and_run_nothing(world, tmp_path):
    marker = tmp_path / "pwned"
    world.app("evil", f"playbook: playbooks/record.yml\n"
              f"source: {{url: 'ext::sh -c touch% {marker}'}}\n").config_repo.commit()
    done = cli("run", config=world.config_path)
    assert done.returncode == 2 and "refusing git URL" in done.stderr
    assert not marker.exists()

    world.configure(config_repo={"url": f"ext::sh -c touch% {marker}"})
    direct = cli("run", config=world.config_path)
    assert direct.returncode == 2 and "refusing git URL" in direct.stderr
    assert not marker.exists()


def test_no_log_secret_never_reaches_report_logs_or_git(world):
    secret = "SENTINEL-SECRET-90210"
    world.config_repo.write("playbooks/secret.yml", f"""\
- hosts: all
  gather_facts: false
  tasks:
    - name: Use the password
      ansible.builtin.command: sh -c 'echo {secret}; echo {secret} >&2; exit 1'
      no_log: true
""")
    world.app("secretive", "playbook: playbooks/secret.yml\n").config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    assert secret not in done.stdout + done.stderr
    record = report(world.config_repo)["apps"]["secretive"]
    assert record["failed_tasks"][0]["msg"] == "output hidden by no_log"
    status_history = git("--git-dir", str(world.config_repo.bare), "log", "-p",
                         "gitops-status/web-01")
    assert secret not in status_history
    assert secret not in (world.state_dir / "state.json").read_text()
    status_json = cli("status", "--json", config=world.config_path)
    assert secret not in status_json.stdout


def test_corrupt_state_is_treated_as_unknown_and_recovers(world):
    world.app("web").config_repo.commit()
    cli("run", config=world.config_path)
    (world.state_dir / "state.json").write_text('{"apps": {"web": [truncated')

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert "unreadable" in done.stderr
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"
    assert len(runs(world.state_dir, "web")) == 2


def test_force_pushed_config_repo_is_followed(world):
    world.app("web").config_repo.commit("first")
    assert cli("run", config=world.config_path).returncode == 0
    git("checkout", "-q", "--orphan", "rewritten", cwd=world.config_repo.work)
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: new}\n")
    rewritten = world.config_repo.commit("history rewritten")  # pushed with -f over main

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert state(world.state_dir)["apps"]["web"]["config_commit"] == rewritten
    assert json.loads((world.out / "web.json").read_text())["greeting"] == "new"


def test_unreachable_config_repo_errors_clearly_and_keeps_state(world, tmp_path):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    saved = (world.state_dir / "state.json").read_bytes()
    away = tmp_path / "away.git"
    shutil.move(world.config_repo.bare, away)

    down = cli("run", config=world.config_path)
    status = cli("status", config=world.config_path)

    assert down.returncode == 1
    assert down.stderr.strip().splitlines()[-1].startswith(
        "gitops-agent: error: cannot reach the config repo")
    assert "Traceback" not in down.stderr
    kept = json.loads(saved)
    now = state(world.state_dir)
    assert now["apps"] == kept["apps"] and now["config_commit"] == kept["config_commit"]
    assert now["error"].startswith("cannot reach the config repo")
    assert "the last pass failed: cannot reach the config repo" in status.stdout
    shutil.move(away, world.config_repo.bare)
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: back}\n")
    world.config_repo.commit("while it was down")
    again = cli("run", config=world.config_path)
    assert again.returncode == 0, again.stderr
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"
    assert state(world.state_dir)["error"] is None


def test_unreachable_config_repo_is_in_the_report_of_a_separate_status_repo(world, tmp_path):
    status_repo = Remote(tmp_path, "status")
    world.configure(status={"url": status_repo.url})
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    shutil.move(world.config_repo.bare, tmp_path / "away.git")

    down = cli("run", config=world.config_path)

    assert down.returncode == 1
    document = yaml.safe_load(status_repo.read("gitops-status/web-01", "hosts/web-01.yml"))
    assert document["error"].startswith("cannot reach the config repo")
    assert document["apps"]["web"]["state"] == "applied"  # the last results stay
    markdown = status_repo.read("gitops-status/web-01", "hosts/web-01.md")
    assert "The last pass failed:" in markdown


def test_unreachable_source_repo_fails_that_app_only(world, tmp_path):
    world.app("lost", f"playbook: playbooks/record.yml\nsource: {{url: {tmp_path}/nowhere.git}}\n")
    world.app("fine").config_repo.commit()
    done = cli("run", config=world.config_path)
    assert done.returncode == 1
    apps = report(world.config_repo)["apps"]
    assert apps["fine"]["state"] == "applied"
    assert apps["lost"]["state"] == "failed"
    assert "cannot reach the source repo" in apps["lost"]["message"]


def test_unknown_app_name_is_a_usage_error(world):
    world.app("web").config_repo.commit()
    done = cli("run", "--app", "nosuch", config=world.config_path)
    assert done.returncode == 2 and "no app named nosuch" in done.stderr
