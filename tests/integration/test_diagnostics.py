"""A failure names its cause (real ansible-runner runs through the CLI), the cause stays
findable (--debug, kept artifacts), and an app failing on the same inputs backs off."""

from __future__ import annotations

import json
import re

from tests.helpers import cli, report, runs, state

SECRET = "SENTINEL-SECRET-5150"
MISSING_BINARY = f"""\
- hosts: all
  gather_facts: false
  tasks:
    - name: Run the migration tool
      ansible.builtin.command:
        cmd: /nonexistent/tool --password {SECRET}
"""
SLOW = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Check the schema
      ansible.builtin.command: "true"
    - name: Wait for the migration
      ansible.builtin.command: sleep 60
"""
FAILING = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Start billing
      ansible.builtin.fail:
        msg: billing is {how}
"""
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def test_missing_binary_is_named_in_the_failed_task_and_run_output(world):
    world.config_repo.write("playbooks/migrate.yml", MISSING_BINARY)
    world.app("db", "playbook: playbooks/migrate.yml\n").config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    record = report(world.config_repo)["apps"]["db"]
    task = record["failed_tasks"][0]
    assert task["task"] == "Run the migration tool"
    assert "[Errno 2] No such file or directory: '/nonexistent/tool'" in task["msg"]
    assert "No such file or directory: '/nonexistent/tool'" in record["message"]
    assert "No such file or directory: '/nonexistent/tool'" in done.stdout
    assert SECRET not in json.dumps(record) + done.stdout + done.stderr  # its argv stays out


def test_timeout_names_the_task_that_was_running_and_the_setting(world):
    world.configure(runner={"timeout": 3})
    world.config_repo.write("playbooks/slow.yml", SLOW)
    world.app("db", "playbook: playbooks/slow.yml\n").config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    record = report(world.config_repo)["apps"]["db"]
    assert record["message"] == ("timed out in task 'Wait for the migration': killed after "
                                 "the 3s timeout (runner.timeout)")
    assert record["failed_tasks"] == [{
        "task": "Wait for the migration", "module": "ansible.builtin.command",
        "msg": "timed out: killed after the 3s timeout (runner.timeout)"}]
    assert "timed out in task 'Wait for the migration'" in done.stdout


def test_syntax_error_gives_the_exit_status_and_ansibles_reason(world):
    world.config_repo.write("playbooks/broken.yml", "- hosts: all\n  tasks: [\n")
    world.app("broken", "playbook: playbooks/broken.yml\n").config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    message = report(world.config_repo)["apps"]["broken"]["message"]
    assert message.startswith("ansible-playbook exited with status 4 and no task failed: "
                              "YAML parsing failed")
    assert message.endswith("(at broken.yml:3)")


def test_debug_logs_git_and_ansible_command_lines_without_credentials(world):
    world.configure(status={"url": f"https://ops:{SECRET}@127.0.0.1:9/status.git"})
    world.app("web").config_repo.commit()

    done = cli("--debug", "run", config=world.config_path)

    assert done.returncode == 0, done.stderr  # a failed push is only a warning
    log = done.stderr
    assert re.search(r"DEBUG git fetch .*refs/heads/main\S* \(in .*\): exit 0 in \d+\.\d\ds", log)
    assert re.search(r"DEBUG git .*https://\*\*\*@127\.0\.0\.1:9/status\.git.*: exit \d+ in ",
                     log)
    assert re.search(r"DEBUG web: ran ansible-playbook .*-i \S+/inventory \S+/playbooks/"
                     r"record\.yml in \d+\.\d\ds \(successful, exit 0\)", log)
    assert SECRET not in log + done.stdout
    assert SECRET not in (world.state_dir / "state.json").read_text()


def test_last_failed_runs_artifacts_survive_rotation(world):
    world.configure(runner={"keep_artifacts": 1})
    world.config_repo.write("playbooks/billing.yml", FAILING.format(how="down"))
    world.app("billing", "playbook: playbooks/billing.yml\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 1
    failed_run = state(world.state_dir)["apps"]["billing"]["run_id"]
    world.app("billing").config_repo.commit("use the working playbook")

    assert cli("run", config=world.config_path).returncode == 0
    assert cli("run", "--force", config=world.config_path).returncode == 0

    last_run = state(world.state_dir)["apps"]["billing"]["run_id"]
    assert [path.name for path in runs(world.state_dir, "billing")] == \
        sorted([failed_run, last_run])  # the first good run was rotated away
    listed = cli("artifacts", "billing", config=world.config_path)
    assert failed_run in listed.stdout and "billing is down" in listed.stdout
    shown = cli("artifacts", "billing", failed_run[:8], config=world.config_path)
    assert "failed: Start billing" in shown.stdout


def _hold_in_the_past(world) -> None:
    """Move the app's backoff into the past, as if its time had come."""
    path = world.state_dir / "state.json"
    data = json.loads(path.read_text())
    data["apps"]["billing"]["retry_at"] = "2000-01-01T00:00:00Z"
    path.write_text(json.dumps(data))


def _fail_twice(world) -> dict:
    world.config_repo.write("playbooks/billing.yml", FAILING.format(how="down"))
    world.app("billing", "playbook: playbooks/billing.yml\n").config_repo.commit()
    first = cli("run", config=world.config_path)
    assert first.returncode == 1 and "backoff" not in first.stdout
    second = cli("run", config=world.config_path)  # the first failure is retried at once
    assert second.returncode == 1
    assert len(runs(world.state_dir, "billing")) == 2
    return state(world.state_dir)["apps"]["billing"]


def test_backoff_holds_an_app_failing_on_the_same_inputs_until_retry_at(world):
    record = _fail_twice(world)
    assert record["failures"] == 2 and re.fullmatch(ISO, record["retry_at"])

    held = cli("run", config=world.config_path)

    assert held.returncode == 1
    assert len(runs(world.state_dir, "billing")) == 2  # not run again
    entry = report(world.config_repo)["apps"]["billing"]
    assert entry["state"] == "failed" and entry["run_id"] == record["run_id"]
    assert entry["retry_at"] == record["retry_at"]
    assert entry["message"].endswith(f"failed 2 times on the same inputs; next attempt after "
                                     f"{record['retry_at']} (backoff)")
    assert "billing is down" in entry["message"]
    assert "(backoff)" in held.stdout
    plan = cli("plan", config=world.config_path)
    assert re.search(r"billing\s+hold\s+failed 2 times on the same inputs", plan.stdout)

    _hold_in_the_past(world)
    due = cli("run", config=world.config_path)

    assert due.returncode == 1 and len(runs(world.state_dir, "billing")) == 3
    after = state(world.state_dir)["apps"]["billing"]
    assert after["failures"] == 3 and after["retry_at"] > record["retry_at"]


def test_backoff_ends_at_once_when_the_playbook_changes_or_run_playbook_asks(world):
    _fail_twice(world)
    world.config_repo.write("playbooks/billing.yml", FAILING.format(how="still down"))
    world.config_repo.commit("another try")

    changed = cli("run", config=world.config_path)

    assert changed.returncode == 1 and len(runs(world.state_dir, "billing")) == 3
    assert "since the last failure: playbooks/billing.yml changed" in changed.stderr
    record = state(world.state_dir)["apps"]["billing"]
    assert record["failures"] == 1 and record["retry_at"] is None  # a new count
    assert "retry_at" not in report(world.config_repo)["apps"]["billing"]
    cli("run", config=world.config_path)  # the retry fails again: held
    assert state(world.state_dir)["apps"]["billing"]["retry_at"] is not None
    assert len(runs(world.state_dir, "billing")) == 4

    asked = cli("run-playbook", "billing", config=world.config_path)

    assert asked.returncode == 1 and len(runs(world.state_dir, "billing")) == 5
    assert "billing is still down" in asked.stdout
    assert state(world.state_dir)["apps"]["billing"]["failures"] == 1
