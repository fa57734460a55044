"""App lifecycle: removal, ordering, suspend, drift and self-heal, health and rollback."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import Remote, cli, git, put_playbook, report, runs, state


def mark(what: str) -> str:
    return put_playbook(f"Mark {what}", f'"{{{{ out_dir }}}}/{{{{ gitops_app }}}}.{what}"',
                        '"{{ gitops_config_commit }} {{ lookup(\'pipe\', \'date +%s%N\') }}\\n"')


# The timestamps and the pause come from pipe lookups (no module run: this is localhost).
TIMED = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Note the start
      ansible.builtin.debug:
        msg: "{{ lookup('pipe', 'date +%s%N > ' ~ (out_dir ~ '/' ~ gitops_app ~ '.start')|quote) }}"
    - name: Take a moment
      ansible.builtin.debug:
        msg: "{{ lookup('pipe', 'sleep ' ~ (pause | default(0) | float)) }}"
    - name: Fail when told to
      ansible.builtin.fail: {msg: told to fail}
      when: fail | default(false)
    - name: Note the end
      ansible.builtin.debug:
        msg: "{{ lookup('pipe', 'date +%s%N > ' ~ (out_dir ~ '/' ~ gitops_app ~ '.end')|quote) }}"
"""
RELEASE = put_playbook("Publish the release status", '"{{ out_dir }}/{{ gitops_app }}.status"',
                       '"{{ lookup(\'file\', gitops_source_dir ~ \'/status\', rstrip=false) }}"')
MANAGED = put_playbook("Manage the config file", '"{{ out_dir }}/managed.conf"', '"wanted\\n"')
NO_CHECK_MODE = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Needs a real run
      ansible.builtin.command: "true"
      register: probe
      changed_when: false
      check_mode: false
    - name: Breaks in check mode
      ansible.builtin.assert: {that: [not ansible_check_mode]}
"""


def times(world, app, what):
    return int((world.out / f"{app}.{what}").read_text().split()[-1])


# --- removal ----------------------------------------------------------------------------

def test_removed_app_runs_its_remove_playbook_once_and_is_forgotten(world):
    world.config_repo.write("playbooks/mark-apply.yml", mark("applied"))
    world.config_repo.write("playbooks/mark-remove.yml", mark("removed"))
    world.app("old", "playbook: playbooks/mark-apply.yml\n"
              "remove_playbook: playbooks/mark-remove.yml\n").app("keep").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    assert (world.state_dir / "runs" / "old").is_dir()

    world.config_repo.remove("apps/old.yml").remove("playbooks/mark-remove.yml")
    world.config_repo.commit("retire old, and its remove playbook with it")
    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert (world.out / "old.removed").exists()  # run from the last commit that had it
    assert report(world.config_repo)["apps"]["old"]["state"] == "removed"
    assert "old" not in state(world.state_dir)["apps"]
    assert not (world.state_dir / "runs" / "old").exists()
    again = cli("run", config=world.config_path)
    assert again.returncode == 0
    assert "old" not in report(world.config_repo)["apps"]


def test_app_no_longer_selecting_host_without_remove_playbook_is_forgotten(world, tmp_path):
    source = Remote(tmp_path, "src")
    source.write("f", "1").commit()
    world.app("web", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}}}\n")
    world.config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0

    world.app("web", f"hosts: [db-*]\nplaybook: playbooks/record.yml\n"
              f"source: {{url: {source.url}}}\n").config_repo.commit("move to db hosts")
    done = cli("run", config=world.config_path)

    assert done.returncode == 0
    assert "no remove_playbook" in done.stderr
    assert report(world.config_repo)["apps"]["web"]["state"] == "removed"
    assert not (world.state_dir / "repos" / "apps" / "web").exists()


def test_failing_remove_playbook_stays_failed_and_is_retried(world):
    world.config_repo.write("playbooks/remove.yml", TIMED)
    world.app("old", "playbook: playbooks/record.yml\nremove_playbook: playbooks/remove.yml\n"
              "vars: {fail: true}\n").config_repo.commit()
    cli("run", config=world.config_path)
    world.config_repo.remove("apps/old.yml").commit("retire")

    first = cli("run", config=world.config_path)
    second = cli("run", config=world.config_path)

    assert first.returncode == 1 and second.returncode == 1
    record = state(world.state_dir)["apps"]["old"]
    assert record["state"] == "failed" and "remove playbook failed" in record["message"]
    assert len([run for run in runs(world.state_dir, "old")]) == 3  # apply + 2 removals
    world.config_repo.write("playbooks/remove.yml", mark("removed"))
    world.config_repo.commit("fix the remove playbook")
    third = cli("run", config=world.config_path)
    assert third.returncode == 0, third.stderr
    assert report(world.config_repo)["apps"]["old"]["state"] == "removed"


# --- ordering ---------------------------------------------------------------------------

def test_dependency_chain_runs_in_order_and_failure_blocks_the_rest(world):
    world.config_repo.write("playbooks/timed.yml", TIMED)
    world.app("base", "playbook: playbooks/timed.yml\n")
    world.app("middle", "playbook: playbooks/timed.yml\ndepends_on: [base]\n")
    world.app("top", "playbook: playbooks/timed.yml\ndepends_on: [middle]\n")
    world.config_repo.commit()

    assert cli("run", config=world.config_path).returncode == 0
    assert times(world, "base", "end") < times(world, "middle", "start")
    assert times(world, "middle", "end") < times(world, "top", "start")

    world.app("base", "playbook: playbooks/timed.yml\nvars: {fail: true}\n")
    world.app("top", "playbook: playbooks/timed.yml\ndepends_on: [middle]\nvars: {x: 1}\n")
    world.config_repo.commit("break the base")
    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    apps = report(world.config_repo)["apps"]
    assert apps["base"]["state"] == "failed"
    assert apps["top"]["state"] == "blocked"
    assert "dependency middle failed" in apps["top"]["message"]
    assert len(runs(world.state_dir, "top")) == 1  # not attempted


def test_independent_apps_run_in_parallel_up_to_workers(world):
    world.configure(runner={"workers": 2})
    world.config_repo.write("playbooks/timed.yml", TIMED)
    world.app("one", "playbook: playbooks/timed.yml\nvars: {pause: 3}\n")
    world.app("two", "playbook: playbooks/timed.yml\nvars: {pause: 3}\n")
    world.config_repo.commit()

    assert cli("run", config=world.config_path).returncode == 0
    assert times(world, "one", "start") < times(world, "two", "end")
    assert times(world, "two", "start") < times(world, "one", "end")


def test_dependency_cycle_is_an_error_naming_the_apps_and_blocks_dependents(world):
    world.app("a", "playbook: playbooks/record.yml\ndepends_on: [b]\n")
    world.app("b", "playbook: playbooks/record.yml\ndepends_on: [a]\n")
    world.app("c", "playbook: playbooks/record.yml\ndepends_on: [a]\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 2
    assert "depends_on cycle: a -> b -> a" in done.stderr
    apps = report(world.config_repo)["apps"]
    assert apps["a"]["state"] == apps["b"]["state"] == "failed"
    assert apps["c"]["state"] == "blocked"
    assert runs(world.state_dir, "c") == []


# --- suspend ----------------------------------------------------------------------------

def test_suspend_and_resume_on_the_host(world):
    world.app("web").config_repo.commit()
    cli("run", config=world.config_path)

    suspended = cli("suspend", "web", "--reason", "disk swap tonight", config=world.config_path)
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: new}\n")
    world.config_repo.commit()
    paused = cli("run", config=world.config_path)

    assert suspended.returncode == 0 and paused.returncode == 0
    record = report(world.config_repo)["apps"]["web"]
    assert record["state"] == "suspended"
    assert record["suspended"]["reason"] == "disk swap tonight"
    assert "@" in record["suspended"]["by"] and record["suspended"]["at"]
    assert "disk swap tonight" in world.config_repo.read("gitops-status/web-01", "hosts/web-01.md")
    assert json.loads((world.out / "web.json").read_text())["greeting"] is None
    status_json = json.loads(cli("status", "--json", config=world.config_path).stdout)
    assert status_json["apps"]["web"]["suspended"]["reason"] == "disk swap tonight"

    assert cli("resume", "web", config=world.config_path).returncode == 0
    resumed = cli("run", config=world.config_path)
    assert resumed.returncode == 0
    assert report(world.config_repo)["apps"]["web"]["state"] == "applied"
    assert json.loads((world.out / "web.json").read_text())["greeting"] == "new"


def test_suspend_true_in_the_app_file(world):
    world.app("web", "playbook: playbooks/record.yml\nsuspend: true\n").config_repo.commit()
    done = cli("run", config=world.config_path)
    assert done.returncode == 0
    record = report(world.config_repo)["apps"]["web"]
    assert record["state"] == "suspended" and "apps/web.yml" in record["suspended"]["reason"]
    assert runs(world.state_dir, "web") == []


def test_suspend_needs_a_reason_and_a_valid_name(world):
    assert cli("suspend", "web", "--reason", " ", config=world.config_path).returncode == 2
    assert cli("suspend", "../x", "--reason", "r", config=world.config_path).returncode == 2


# --- drift ------------------------------------------------------------------------------

def test_plan_is_about_git_and_drift_is_for_the_drift_check(world):
    world.config_repo.write("playbooks/managed.yml", MANAGED)
    world.app("conf", "playbook: playbooks/managed.yml\n").config_repo.commit()
    cli("run", config=world.config_path)
    (world.out / "managed.conf").write_text("edited by hand\n")

    planned = cli("plan", config=world.config_path)
    drift = cli("run", "--drift-check", config=world.config_path)

    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "nothing to do" in planned.stdout  # nothing changed in git
    assert drift.returncode == 0
    assert report(world.config_repo)["apps"]["conf"]["state"] == "drifted"
    assert (world.out / "managed.conf").read_text() == "edited by hand\n"  # check mode only


def test_drift_check_reports_drifted_then_self_heal_reapplies(world):
    world.config_repo.write("playbooks/managed.yml", MANAGED)
    world.app("conf", "playbook: playbooks/managed.yml\n").config_repo.commit()
    cli("run", config=world.config_path)
    (world.out / "managed.conf").write_text("edited by hand\n")

    drift = cli("run", "--drift-check", config=world.config_path)
    later = cli("run", config=world.config_path)

    assert drift.returncode == 0 and later.returncode == 0
    record = report(world.config_repo)["apps"]["conf"]
    assert record["state"] == "drifted"
    assert record["drifted_tasks"] == ["Manage the config file"]
    assert (world.out / "managed.conf").read_text() == "edited by hand\n"

    world.configure(drift={"self_heal": True})
    healed = cli("run", "--drift-check", config=world.config_path)
    assert healed.returncode == 0
    assert (world.out / "managed.conf").read_text() == "wanted\n"
    assert report(world.config_repo)["apps"]["conf"]["state"] == "applied"
    quiet = cli("run", "--drift-check", config=world.config_path)
    assert quiet.returncode == 0
    assert report(world.config_repo)["apps"]["conf"]["state"] == "unchanged"


def test_playbook_without_check_mode_support_is_reported_not_drifted(world):
    world.config_repo.write("playbooks/nocheck.yml", NO_CHECK_MODE)
    world.app("special", "playbook: playbooks/nocheck.yml\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0

    drift = cli("run", "--drift-check", config=world.config_path)
    world.app("special", "playbook: playbooks/nocheck.yml\nvars: {v: 2}\n").config_repo.commit()
    planned = cli("plan", "--check", config=world.config_path)

    assert drift.returncode == 0
    record = report(world.config_repo)["apps"]["special"]
    assert record["state"] == "unchanged"
    assert "check mode failed, so drift cannot be checked" in record["message"]
    assert planned.returncode == 1, planned.stdout + planned.stderr
    assert "cannot tell" in planned.stdout


# --- consistency ------------------------------------------------------------------------

def test_source_checkout_moved_by_hand_is_put_back_and_reapplied(world, tmp_path):
    source = Remote(tmp_path, "src")
    old = source.write("f", "1").commit()
    new = source.write("f", "2").commit()
    world.app("app", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}}}\n")
    world.config_repo.commit()
    cli("run", config=world.config_path)
    checkout = world.state_dir / "repos" / "apps" / "app"
    git("fetch", "-q", source.url, old, cwd=checkout)
    git("checkout", "-q", "--detach", old, cwd=checkout)

    done = cli("run", config=world.config_path)

    assert done.returncode == 0
    assert git("rev-parse", "HEAD", cwd=checkout) == new
    assert state(world.state_dir)["apps"]["app"]["state"] == "applied"


# --- health and rollback ----------------------------------------------------------------

def _release_world(world, tmp_path, rollback: bool):
    source = Remote(tmp_path, "release-src")
    good = source.write("status", "healthy\n").commit("v1")
    world.config_repo.write("playbooks/release.yml", RELEASE)
    status_file = world.out / "svc.status"
    world.app("svc", f"playbook: playbooks/release.yml\nsource: {{url: {source.url}}}\n"
              f"health: {{command: [grep, -qx, healthy, '{status_file}'], retries: 1, "
              f"delay: 0.1}}\nrollback: {str(rollback).lower()}\n")
    world.config_repo.commit()
    first = cli("run", config=world.config_path)
    assert first.returncode == 0, first.stderr
    return source, good, status_file


def test_failed_health_check_rolls_back_to_the_last_good_revision(world, tmp_path):
    source, good, status_file = _release_world(world, tmp_path, rollback=True)
    config_commit = state(world.state_dir)["apps"]["svc"]["config_commit"]
    bad = source.write("status", "broken\n").commit("v2")

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    record = report(world.config_repo)["apps"]["svc"]
    assert record["state"] == "rolled_back"
    assert record["source_commit"] == bad
    assert record["restored"]["source_commit"] == good
    assert record["restored"]["config_commit"] == config_commit
    assert record["failed_tasks"][0]["task"] == "health check"
    assert status_file.read_text() == "healthy\n"  # the good release is back in place
    runs_after_rollback = len(runs(world.state_dir, "svc"))

    again = cli("run", config=world.config_path)
    assert again.returncode == 1  # still reported, not retried with the same revisions
    assert len(runs(world.state_dir, "svc")) == runs_after_rollback
    assert report(world.config_repo)["apps"]["svc"]["state"] == "rolled_back"

    fixed = source.write("status", "healthy\n").commit("v3")
    healed = cli("run", config=world.config_path)
    assert healed.returncode == 0
    assert report(world.config_repo)["apps"]["svc"]["source_commit"] == fixed


def test_failed_apply_rolls_back_config_revision_too(world, tmp_path):
    _, good, status_file = _release_world(world, tmp_path, rollback=True)
    good_config = state(world.state_dir)["apps"]["svc"]["config_commit"]
    world.config_repo.write("playbooks/release.yml", RELEASE + """\
    - name: A new step that breaks
      ansible.builtin.fail: {msg: new step broke}
""")
    world.config_repo.commit("break the playbook")

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    record = report(world.config_repo)["apps"]["svc"]
    assert record["state"] == "rolled_back"
    assert record["failed_tasks"][0]["msg"] == "new step broke"
    assert record["restored"] == {"config_commit": good_config, "source_commit": good,
                                  "run_id": record["restored"]["run_id"]}
    assert "rolled back" in world.config_repo.read("gitops-status/web-01", "hosts/web-01.md")
    assert status_file.read_text() == "healthy\n"


def test_without_rollback_a_failed_health_check_stays_failed(world, tmp_path):
    source, _, status_file = _release_world(world, tmp_path, rollback=False)
    source.write("status", "broken\n").commit("v2")
    done = cli("run", config=world.config_path)
    assert done.returncode == 1
    record = report(world.config_repo)["apps"]["svc"]
    assert record["state"] == "failed" and "health check failed" in record["message"]
    assert status_file.read_text() == "broken\n"


def test_run_playbook_retries_a_rolled_back_revision(world, tmp_path):
    source, _, _ = _release_world(world, tmp_path, rollback=True)
    source.write("status", "broken\n").commit("v2")
    cli("run", config=world.config_path)
    before = len(runs(world.state_dir, "svc"))
    done = cli("run-playbook", "svc", config=world.config_path)
    assert done.returncode == 1
    assert len(runs(world.state_dir, "svc")) == before + 2  # the retry, and its rollback


def test_state_dir_paths_stay_as_documented(world):
    world.app("web").config_repo.commit()
    cli("run", config=world.config_path)
    for path in ("state.json", "lock", "repos/config", "runs/web/artifacts"):
        assert (world.state_dir / Path(path)).exists(), path
