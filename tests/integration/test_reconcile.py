"""A pass end to end: real bare repos, real ansible-runner on localhost, the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import Remote, cli, git, report, runs, state


def recorded(world, app):
    return json.loads((world.out / f"{app}.json").read_text())


def test_run_first_pass_applies_every_app_with_spec_extra_vars(world, tmp_path):
    source = Remote(tmp_path, "billing-src")
    source_commit = source.write("app.txt", "v1\n").commit("v1")
    world.configure(labels={"env": "test", "role": "web"})
    world.app("billing", f"playbook: playbooks/record.yml\nvars: {{greeting: hello}}\n"
              f"source: {{url: {source.url}, ref: main}}\n")
    world.app("plain")
    config_commit = world.config_repo.commit("two apps")

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    billing = recorded(world, "billing")
    assert billing["app"] == "billing" and billing["host"] == "web-01"
    assert billing["labels"] == {"env": "test", "role": "web"}
    assert billing["config_commit"] == config_commit
    assert billing["config_dir"] == str(world.state_dir / "repos" / "config")
    assert billing["source_commit"] == source_commit
    assert billing["source_dir"] == str(world.state_dir / "repos" / "apps" / "billing")
    assert billing["greeting"] == "hello"
    assert (world.state_dir / "repos/apps/billing/app.txt").read_text() == "v1\n"
    plain = recorded(world, "plain")
    assert plain["source_commit"] is None and plain["source_dir"] is None
    assert {app["state"] for app in state(world.state_dir)["apps"].values()} == {"applied"}


def test_run_nothing_changed_runs_no_ansible_and_report_settles(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    first_output = (world.out / "web.json").read_text()
    runs_before = runs(world.state_dir, "web")

    second = cli("run", config=world.config_path)
    commits_after_second = world.config_repo.log("gitops-status/web-01")
    third = cli("run", config=world.config_path)

    assert second.returncode == 0 and third.returncode == 0
    assert runs(world.state_dir, "web") == runs_before  # no ansible-runner run at all
    assert (world.out / "web.json").read_text() == first_output
    assert "unchanged" in second.stdout
    assert report(world.config_repo)["apps"]["web"]["state"] == "unchanged"
    steady = world.config_repo.log("gitops-status/web-01")
    assert steady == commits_after_second  # no commit when nothing changed


def test_run_source_change_reapplies_only_that_app(world, tmp_path):
    one, two = Remote(tmp_path, "one-src"), Remote(tmp_path, "two-src")
    one.write("f", "1").commit()
    two.write("f", "1").commit()
    world.app("one", f"playbook: playbooks/record.yml\nsource: {{url: {one.url}}}\n")
    world.app("two", f"playbook: playbooks/record.yml\nsource: {{url: {two.url}}}\n")
    world.config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    two_runs = runs(world.state_dir, "two")

    new = one.write("f", "2").commit("bump one")
    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    apps = state(world.state_dir)["apps"]
    assert apps["one"]["state"] == "applied" and apps["one"]["source_commit"] == new
    assert apps["two"]["state"] == "unchanged"
    assert runs(world.state_dir, "two") == two_runs
    assert (world.state_dir / "repos/apps/one/f").read_text() == "2"


def test_run_role_change_reapplies_only_apps_using_that_role(world):
    for role in ("alpha", "beta"):
        world.config_repo.write(f"roles/{role}/tasks/main.yml",
                                f"- name: {role}\n  ansible.builtin.debug: {{msg: {role}}}\n")
        world.config_repo.write(f"playbooks/{role}.yml",
                                f"- hosts: all\n  gather_facts: false\n  roles: [{role}]\n")
        world.app(role, f"playbook: playbooks/{role}.yml\n")
    world.config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0

    world.config_repo.write("roles/beta/tasks/main.yml",
                            "- name: beta2\n  ansible.builtin.debug: {msg: beta2}\n")
    world.config_repo.write("README.md", "unrelated\n")
    world.config_repo.commit("change beta")
    done = cli("run", config=world.config_path)

    apps = state(world.state_dir)["apps"]
    assert done.returncode == 0, done.stderr
    assert apps["alpha"]["state"] == "unchanged"
    assert apps["beta"]["state"] == "applied"


def test_run_host_vars_change_reapplies_and_other_hosts_vars_do_not(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0

    world.config_repo.write("host_vars/db-07.yml", "x: 1\n").commit("other host")
    assert cli("run", config=world.config_path).returncode == 0
    assert state(world.state_dir)["apps"]["web"]["state"] == "unchanged"

    world.config_repo.write("host_vars/web-01.yml", "greeting: from-host-vars\n").commit()
    assert cli("run", config=world.config_path).returncode == 0
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"
    assert recorded(world, "web")["greeting"] == "from-host-vars"


@pytest.mark.parametrize("kind", ["branch", "tag", "annotated-tag", "full-sha", "short-sha"])
def test_run_source_ref_kinds_resolve_to_full_sha_and_never_loop(world, tmp_path, kind):
    source = Remote(tmp_path, "src")
    pinned = source.write("f", "pinned").commit("pinned")
    refs = {"branch": "release", "tag": "v1.0", "annotated-tag": "v1.1",
            "full-sha": pinned, "short-sha": pinned[:8]}
    if kind == "branch":
        source.branch("release")
    elif kind == "tag":
        source.tag("v1.0")
    elif kind == "annotated-tag":
        source.tag("v1.1", annotated=True)
    source.write("f", "later").commit("main moves on")
    world.app("app", f"playbook: playbooks/record.yml\n"
              f"source: {{url: {source.url}, ref: '{refs[kind]}'}}\n").config_repo.commit()

    first = cli("run", config=world.config_path)
    second = cli("run", config=world.config_path)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    apps = state(world.state_dir)["apps"]
    assert apps["app"]["source_commit"] == pinned
    assert apps["app"]["state"] == "unchanged"
    assert recorded(world, "app")["source_commit"] == pinned


def test_run_local_edits_in_checkouts_are_discarded_and_reapplied(world, tmp_path):
    source = Remote(tmp_path, "src")
    source.write("app.conf", "good\n").commit()
    world.app("app", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}}}\n")
    world.config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    checkout = world.state_dir / "repos" / "apps" / "app"
    (checkout / "app.conf").write_text("tampered\n")
    (checkout / "extra.txt").write_text("left behind\n")
    (world.state_dir / "repos" / "config" / "playbooks" / "record.yml").write_text("- bad\n")

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert (checkout / "app.conf").read_text() == "good\n"
    assert not (checkout / "extra.txt").exists()
    assert "discarding local changes" in done.stderr
    assert state(world.state_dir)["apps"]["app"]["state"] == "applied"


def test_run_force_reapplies_unchanged_apps(world):
    world.app("web").config_repo.commit()
    cli("run", config=world.config_path)
    before = len(runs(world.state_dir, "web"))

    done = cli("run", "--force", config=world.config_path)

    assert done.returncode == 0
    assert len(runs(world.state_dir, "web")) == before + 1


def test_noop_pass_never_imports_ansible_runner(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    probe = ("import sys\nfrom gitops_agent.cli import main\n"
             "try:\n    main(['run', '--config', sys.argv[1]])\nexcept SystemExit as done:\n"
             "    print('exit', done.code, 'ansible_runner' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe, str(world.config_path)],
                          capture_output=True, text=True, timeout=120)
    assert "exit 0 False" in done.stdout, done.stdout + done.stderr


def test_hooks_in_the_agents_checkouts_never_run(world, tmp_path):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    marker = tmp_path / "hook-ran"
    for hook in ("post-checkout", "reference-transaction", "pre-push", "post-merge"):
        path = world.state_dir / "repos" / "config" / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\ntouch {marker}\n")
        path.chmod(0o755)
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: again}\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"
    assert not marker.exists()


def test_edits_in_the_config_checkout_reapply_only_apps_using_those_files(world):
    world.config_repo.write("playbooks/other.yml", "- hosts: all\n  gather_facts: false\n"
                            "  tasks:\n    - ansible.builtin.debug: {msg: other}\n")
    world.app("web").app("other", "playbook: playbooks/other.yml\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    checkout = world.state_dir / "repos" / "config"
    (checkout / "playbooks" / "record.yml").write_text("- hosts: all\n  tasks: []\n")

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    apps = state(world.state_dir)["apps"]
    assert apps["web"]["state"] == "applied"  # its playbook was edited by hand
    assert apps["other"]["state"] == "unchanged"
    assert "record.yml" not in git("status", "--porcelain", cwd=checkout)
