"""What the debug log and the artifacts keep of a failure: redacted git command lines,
the ansible-playbook command line, and the newest failed run kept through rotation."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gitops_agent.execute.artifact import SUMMARY, command_line, rotate
from gitops_agent.git import SAFE_CONFIG
from gitops_agent.git_reason import command_line as git_command_line
from gitops_agent.git_reason import redact


def test_redact_removes_credentials_of_https_urls_and_passwords_of_others():
    assert redact("git push -- https://ops:hunter2@git.example.com/fleet.git HEAD") == \
        "git push -- https://***@git.example.com/fleet.git HEAD"
    assert redact("https://ghp_token123@github.com/o/r") == "https://***@github.com/o/r"
    assert redact("ssh://git:pw@host/x.git and ssh://git@host/y.git") == \
        "ssh://git:***@host/x.git and ssh://git@host/y.git"
    assert redact("git@host:ops/fleet.git /srv/x") == "git@host:ops/fleet.git /srv/x"


def test_git_command_line_drops_the_fixed_options_and_redacts():
    command = ["git", *SAFE_CONFIG, "ls-remote", "--", "https://u:secret@h/r.git"]

    assert git_command_line(command, SAFE_CONFIG) == "git ls-remote -- https://***@h/r.git"


def test_ansible_command_line_comes_from_the_command_artifact_without_its_environment(
        tmp_path):
    (tmp_path / "command").write_text(json.dumps({
        "command": ["ansible-playbook", "-i", "inv", "site yml"], "cwd": "/x",
        "env": {"SECRET": "s3cr3t"}}))

    assert command_line(tmp_path) == "ansible-playbook -i inv 'site yml'"
    assert "not recorded" in command_line(tmp_path / "missing")


def _run(artifacts: Path, name: str, status: str, age: int, check: bool = False) -> None:
    run = artifacts / name
    run.mkdir(parents=True)
    (run / SUMMARY).write_text(json.dumps({"status": status, "rc": 0 if status ==
                                           "successful" else 2, "check": check}))
    os.utime(run, (1_000_000 - age, 1_000_000 - age))


def test_rotate_keeps_the_newest_failed_run_besides_the_newest_ones(tmp_path):
    _run(tmp_path, "failed-old", "failed", 50)
    _run(tmp_path, "failed-new", "failed", 40)
    _run(tmp_path, "check-failed", "failed", 30, check=True)
    _run(tmp_path, "ok-1", "successful", 20)
    _run(tmp_path, "ok-2", "successful", 10)
    _run(tmp_path, "current", "successful", 0)

    rotate(tmp_path, 2, "current")

    assert sorted(path.name for path in tmp_path.iterdir()) == ["current", "failed-new", "ok-2"]


def test_rotate_after_a_failed_current_run_keeps_just_keep_runs(tmp_path):
    _run(tmp_path, "failed-old", "failed", 20)
    _run(tmp_path, "ok", "successful", 10)
    _run(tmp_path, "current", "timeout", 0)

    rotate(tmp_path, 1, "current")

    assert [path.name for path in tmp_path.iterdir()] == ["current"]
