"""One app's error is that app's: the others are applied, the report is pushed, and a
failed push never changes `run`'s exit code."""

from __future__ import annotations

from tests.helpers import cli, report, state


def test_an_exception_in_one_apps_journey_fails_that_app_only(world):
    world.app("web").app("other").config_repo.commit()
    (world.state_dir / "runs").mkdir(parents=True)
    (world.state_dir / "runs" / "web").write_text("not a directory\n")

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    apps = state(world.state_dir)["apps"]
    assert apps["web"]["state"] == "failed"
    assert apps["web"]["message"].startswith("internal error: ")
    assert apps["other"]["state"] == "applied"
    assert report(world.config_repo)["apps"]["web"]["state"] == "failed"


def test_a_status_push_that_breaks_oddly_does_not_change_the_exit_code(world):
    world.app("web").config_repo.commit()
    (world.state_dir / "repos").mkdir(parents=True)
    (world.state_dir / "repos" / "status.git").write_text("not a repo\n")

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert "status report not pushed" in done.stderr
    assert "Traceback" not in done.stderr
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"


def test_unreadable_suspensions_fail_closed_and_are_kept(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    assert cli("suspend", "web", "--reason", "disk swap", config=world.config_path
               ).returncode == 0
    suspensions = world.state_dir / "suspended.json"
    suspensions.write_text('{"web": {"reason": "disk sw')  # a torn write
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: changed}\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)
    refused = cli("resume", "web", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert "suspended.json is unreadable" in done.stderr
    assert report(world.config_repo)["apps"]["web"]["state"] == "suspended"
    assert '"changed"' not in (world.out / "web.json").read_text()
    assert (world.state_dir / "suspended.json.unreadable").exists()
    assert refused.returncode == 1 and "unreadable" in refused.stderr


def test_unreadable_state_is_kept_aside_and_every_app_applied(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    (world.state_dir / "state.json").write_text("{\"apps\": {\"web\": [1, 2")

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert "kept aside as state.json.unreadable" in done.stderr
    assert (world.state_dir / "state.json.unreadable").exists()
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"


def test_a_wrong_typed_record_re_applies_that_app_only(world):
    import json

    world.app("web").app("other").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    path = world.state_dir / "state.json"
    data = json.loads(path.read_text())
    data["apps"]["web"]["stats"] = "lots"
    path.write_text(json.dumps(data))

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert "the state of app web is unreadable (field stats is a str)" in done.stderr
    assert "applied" in done.stdout and "unchanged" in done.stdout
    apps = state(world.state_dir)["apps"]
    assert apps["web"]["state"] == "applied" and apps["other"]["state"] == "unchanged"


def test_the_leftover_temp_file_check_can_fail(tmp_path):
    from tests.helpers import temporary_files

    (tmp_path / "state.json").write_text("{}")
    assert temporary_files(tmp_path) == []
    (tmp_path / ".state.json.k2j3h4").write_text("half")
    (tmp_path / "runs" / "web" / "work" / "run-abc").mkdir(parents=True)

    assert temporary_files(tmp_path) == [".state.json.k2j3h4", "runs/web/work/run-abc"]


def test_app_vars_never_reach_the_command_line_or_the_artifacts(world):
    from tests.helpers import runs

    secret = "s3cr3t-password-value"
    world.app("web", f"playbook: playbooks/record.yml\nvars: {{greeting: {secret}}}\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert secret in (world.out / "web.json").read_text()  # the playbook got it
    (run,) = runs(world.state_dir, "web")
    for path in run.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_an_app_file_named_dot_dot_touches_nothing_outside_its_place(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    world.config_repo.write("apps/...yml", "playbook: playbooks/record.yml\n").commit()

    invalid = cli("run", config=world.config_path)
    world.config_repo.remove("apps/...yml").commit()
    after = cli("run", config=world.config_path)

    assert invalid.returncode == 2 and "must match" in invalid.stderr
    assert after.returncode == 0, after.stderr
    assert (world.state_dir / "state.json").exists()
    assert (world.state_dir / "repos" / "config" / "apps" / "web.yml").exists()
    assert list(state(world.state_dir)["apps"]) == ["web"]


def test_a_nul_in_a_source_url_is_that_apps_problem_only(world):
    world.app("web").app("odd", 'playbook: playbooks/record.yml\n'
                                'source: {url: "/srv/git/x.git\\0--upload-pack=touch"}\n')
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 2
    assert "refusing git URL" in done.stderr and "Traceback" not in done.stderr
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"
