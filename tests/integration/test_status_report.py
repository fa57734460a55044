"""The status branch: SPEC §5 report, one commit per pass, concurrent hosts, other repos."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor

from tests.helpers import Remote, cli, git, report, state, write_config

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SHA = re.compile(r"^[0-9a-f]{40}$")
FAILING = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Fine step
      ansible.builtin.command: "true"
      changed_when: true
    - name: Restart billing
      ansible.builtin.fail:
        msg: billing did not come up
"""


def test_report_matches_spec_fields_for_applied_and_failed_apps(world, tmp_path):
    source = Remote(tmp_path, "src")
    source_commit = source.write("f", "1").commit()
    world.config_repo.write("playbooks/failing.yml", FAILING)
    world.app("billing", "playbook: playbooks/failing.yml\n")
    world.app("web", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}}}\n")
    config_commit = world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    document = report(world.config_repo)
    assert list(document) == ["host", "agent_version", "updated", "last_pass", "labels",
                              "config_commit", "summary", "apps"]
    assert document["host"] == "web-01" and document["agent_version"] == "0.1.0"
    assert ISO.match(document["updated"]) and document["config_commit"] == config_commit
    assert document["summary"] == {"apps": 2, "applied": 1, "unchanged": 0, "failed": 1,
                                   "removed": 0, "suspended": 0}
    web, billing = document["apps"]["web"], document["apps"]["billing"]
    assert list(web) == ["state", "source_commit", "config_commit", "started", "duration",
                         "stats", "failed_tasks", "run_id", "message"]
    assert web["state"] == "applied" and web["source_commit"] == source_commit
    assert web["config_commit"] == config_commit and ISO.match(web["started"])
    assert isinstance(web["duration"], float) and web["duration"] > 0
    assert web["stats"] == {"ok": 1, "changed": 1, "failed": 0, "skipped": 0, "unreachable": 0}
    assert web["failed_tasks"] == [] and SHA.match(web["config_commit"])
    assert (world.state_dir / "runs/web/artifacts" / web["run_id"]).is_dir()
    assert billing["state"] == "failed" and billing["source_commit"] is None
    assert billing["stats"]["failed"] == 1 and billing["stats"]["changed"] == 1
    assert billing["failed_tasks"] == [{"task": "Restart billing",
                                        "module": "ansible.builtin.fail",
                                        "msg": "billing did not come up"}]
    assert "Restart billing" in billing["message"]
    markdown = world.config_repo.read("gitops-status/web-01", "hosts/web-01.md")
    assert "| billing | **failed** |" in markdown and "| web | **applied** |" in markdown
    assert "## Failed tasks" in markdown and "billing did not come up" in markdown


def test_report_one_commit_per_pass_touching_only_this_hosts_files(world):
    world.app("web").config_repo.commit()
    before = world.config_repo.log("gitops-status/web-01")
    cli("run", config=world.config_path)
    after = world.config_repo.log("gitops-status/web-01")
    assert len(after) == len(before) + 1
    files = git("--git-dir", str(world.config_repo.bare), "show", "--name-only", "--format=",
                "gitops-status/web-01").split()
    assert sorted(files) == ["hosts/web-01.md", "hosts/web-01.yml"]
    assert world.config_repo.log("main")[0] != after[0]  # never on the config branch


def test_report_concurrent_hosts_on_a_shared_branch_all_land_without_force(world, tmp_path):
    world.app("web").config_repo.commit()
    hosts = [f"node-{index}" for index in range(5)]
    configs = [write_config(tmp_path / f"{host}.yml", world.config_repo.url,
                            tmp_path / f"state-{host}", host=host,
                            status={"branch": "gitops-status-all"}) for host in hosts]

    with ThreadPoolExecutor(len(hosts)) as pool:
        results = list(pool.map(lambda path: cli("run", config=path), configs))

    assert [result.returncode for result in results] == [0] * len(hosts), \
        [result.stderr for result in results]
    for host in hosts:
        assert report(world.config_repo, host, "gitops-status-all")["apps"]["web"][
            "state"] == "applied"
    history = world.config_repo.log("gitops-status-all")
    assert len(history) == len(hosts)  # linear: every host's commit kept, none forced over


def test_report_to_separate_status_repo_with_host_in_branch(world, tmp_path):
    status_repo = Remote(tmp_path, "status")
    world.configure(status={"url": status_repo.url, "branch": "status/{host}"})
    world.app("web").config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert report(status_repo, branch="status/web-01")["apps"]["web"]["state"] == "applied"
    assert world.config_repo.log("gitops-status/web-01") == []
    assert world.config_repo.log("status/web-01") == []


def test_report_push_failure_keeps_result_and_pushes_on_next_pass(world, tmp_path):
    status_repo = Remote(tmp_path, "status")
    world.configure(status={"url": status_repo.url})
    world.app("web").config_repo.commit()
    hidden = tmp_path / "status-away.git"
    shutil.move(status_repo.bare, hidden)

    first = cli("run", config=world.config_path)

    assert first.returncode == 0  # a failed push never changes the pass's result
    assert "status report not pushed" in first.stderr
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"
    pending = cli("status", config=world.config_path)
    assert "the report is not pushed yet" in pending.stdout
    shutil.move(hidden, status_repo.bare)
    second = cli("run", config=world.config_path)
    assert second.returncode == 0
    assert report(status_repo)["apps"]["web"]["state"] == "unchanged"
    assert state(world.state_dir)["push_error"] is None
    assert "not pushed" not in cli("status", config=world.config_path).stdout


def test_report_disabled_pushes_nothing(world):
    world.configure(status={"enabled": False})
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    assert world.config_repo.log("gitops-status/web-01") == []


def test_run_no_push_pushes_nothing(world):
    world.app("web").config_repo.commit()
    assert cli("run", "--no-push", config=world.config_path).returncode == 0
    assert world.config_repo.log("gitops-status/web-01") == []
