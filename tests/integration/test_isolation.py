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
