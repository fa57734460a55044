"""The command line says what is true: check mode never says "applied", `plan` moves
nothing, suspend/resume know the host's apps, configure starts from placeholders, shell
completion, and the README's exit codes are the code's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitops_agent.config.template import render
from tests.helpers import Remote, cli, git, state

FIXED_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Write the greeting
      ansible.builtin.copy:
        dest: "{{ out_dir }}/greeting.txt"
        content: "{{ greeting | default('hello') }}\\n"
"""


def test_run_playbook_check_says_would_change_never_applied(world):
    world.config_repo.write("playbooks/fixed.yml", FIXED_PLAYBOOK)
    world.app("site", "playbook: playbooks/fixed.yml\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    before = state(world.state_dir)

    settled = cli("run-playbook", "site", "--check", config=world.config_path)
    assert settled.returncode == 0, settled.stderr
    assert "site                     no change    nothing would change" in settled.stdout
    world.app("site", "playbook: playbooks/fixed.yml\nvars: {greeting: hi}\n")
    world.config_repo.commit()
    text = cli("run-playbook", "site", "--check", config=world.config_path)
    as_json = cli("run-playbook", "site", "--check", "--json", config=world.config_path)

    assert text.returncode == 0, text.stderr
    assert "site                     would change 1 task(s) would change: Write the greeting" \
        in text.stdout
    assert "applied" not in text.stdout + text.stderr + settled.stdout + settled.stderr
    document = json.loads(as_json.stdout)
    assert document["check"] is True
    assert document["apps"]["site"]["state"] == "would_change"
    assert document["apps"]["site"]["would_change"] == ["Write the greeting"]
    assert "applied" not in as_json.stdout
    assert state(world.state_dir)["apps"] == before["apps"]
    assert (world.out / "greeting.txt").read_text() == "hello\n"


def test_plan_check_says_would_change_never_applied(world):
    world.config_repo.write("playbooks/fixed.yml", FIXED_PLAYBOOK)
    world.app("site", "playbook: playbooks/fixed.yml\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    world.app("site", "playbook: playbooks/fixed.yml\nvars: {greeting: hi}\n")
    world.config_repo.commit()

    text = cli("plan", "--check", config=world.config_path)
    as_json = cli("plan", "--check", "--json", config=world.config_path)

    assert text.returncode == 3, text.stderr
    assert "check      1 task(s) would change: Write the greeting" in text.stdout
    assert "applied" not in text.stdout + text.stderr
    check = json.loads(as_json.stdout)["apps"][0]["check"]
    assert check == {"ok": True, "state": "would_change", "would_change": ["Write the greeting"],
                     "message": "1 task(s) would change: Write the greeting"}


def _checkout_snapshot(path: Path) -> tuple[str, str, dict[str, str]]:
    files = {str(file.relative_to(path)): file.read_text() for file in sorted(path.rglob("*"))
             if file.is_file() and ".git" not in file.relative_to(path).parts}
    return git("rev-parse", "HEAD", cwd=path), git("status", "--porcelain", cwd=path), files


def test_plan_leaves_the_source_checkout_where_it_is(world, tmp_path):
    source = Remote(tmp_path, "site-src")
    first = source.write("index.html", "v1\n").commit("v1")
    world.app("site", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}}}\n")
    world.config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    checkout = world.state_dir / "repos" / "apps" / "site"
    before = _checkout_snapshot(checkout)
    assert before[0] == first
    moved = source.write("index.html", "v2\n").write("new.txt", "new\n").commit("v2")

    planned = cli("plan", config=world.config_path)
    checked = cli("plan", "--check", config=world.config_path)

    assert planned.returncode == 3 and checked.returncode == 3, planned.stderr + checked.stderr
    assert f"source moved to {moved[:12]}" in planned.stdout
    assert _checkout_snapshot(checkout) == before


def test_suspend_and_resume_refuse_an_app_this_host_does_not_have(world):
    world.app("web").app("db").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0

    misspelled = cli("suspend", "wbe", "--reason", "disk swap", config=world.config_path)
    resumed = cli("resume", "wbe", config=world.config_path)

    for done in (misspelled, resumed):
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.strip().splitlines() == [
            "gitops-agent: error: host web-01 has no app 'wbe'; it has: db, web"]
    assert not (world.state_dir / "suspended.json").exists()
    (world.state_dir / "state.json").unlink()  # the config checkout's app files still say
    assert cli("suspend", "db", "--reason", "r", config=world.config_path).returncode == 0
    assert list(json.loads((world.state_dir / "suspended.json").read_text())) == ["db"]


def test_suspend_before_any_pass_says_the_host_has_no_apps_yet(world):
    done = cli("suspend", "web", "--reason", "r", config=world.config_path)
    assert done.returncode == 2
    assert "has no app 'web'; it has none yet (no pass has run here)" in done.stderr
    assert not (world.state_dir / "suspended.json").exists()


def test_resume_an_app_whose_app_file_is_gone(world):
    world.state_dir.mkdir()
    (world.state_dir / "suspended.json").write_text(
        '{"old": {"reason": "r", "by": "ops@web-01", "at": "2026-01-01T00:00:00Z"}}')
    done = cli("resume", "old", config=world.config_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((world.state_dir / "suspended.json").read_text()) == {}


def _editor(tmp_path: Path, script: str) -> dict[str, str]:
    path = tmp_path / "editor.sh"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return {"EDITOR": str(path), "VISUAL": str(path)}


def test_configure_starts_from_placeholders_not_live_looking_values(tmp_path):
    target = tmp_path / "etc" / "config.yml"
    seen = tmp_path / "seen.yml"
    done = cli("configure", config=target, env=_editor(tmp_path, f'cp "$1" {seen}'))

    assert done.returncode == 0, done.stderr
    assert f"{target}: nothing changed: not saved" in done.stdout
    assert not target.exists()
    text = seen.read_text()
    assert "  url: @CONFIG_URL@" in text and "# REQUIRED." in text
    live = [line for line in text.splitlines()
            if not line.lstrip().startswith("#") and ("web-01" in line or "example" in line)]
    assert live == []


def test_configure_names_a_placeholder_left_with_file_and_line(tmp_path):
    target = tmp_path / "config.yml"
    line = render().splitlines().index("  url: @CONFIG_URL@") + 1
    done = cli("configure", config=target, env=_editor(
        tmp_path, "sed -i 's/^interval: 60/interval: 30/' \"$1\""))

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{target}:{line}: url: @CONFIG_URL@ is a placeholder: write the config repo's git "
        "URL there", f"{target}: not written (the edit was invalid)"]
    assert not target.exists()


def test_configure_shows_every_problem_with_file_and_line_and_keeps_the_file(world, tmp_path):
    before = world.config_path.read_text()
    done = cli("configure", config=world.config_path, env=_editor(
        tmp_path, "printf 'interval: -5\\nsplay: soon\\n' >> \"$1\""))

    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert any(line.startswith(f"{world.config_path}:") and "interval: -5 is less than" in line
               for line in lines), done.stderr
    assert any(line.startswith(f"{world.config_path}:") and "splay: 'soon'" in line
               for line in lines), done.stderr
    assert world.config_path.read_text() == before


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_clicks_script_for_each_shell(shell, tmp_path):
    done = cli("completion", shell)

    assert done.returncode == 0, done.stderr
    assert "gitops-agent" in done.stdout and "_GITOPS_AGENT_COMPLETE" in done.stdout
    if shell == "bash":
        script = tmp_path / "gitops-agent.bash"
        script.write_text(done.stdout)
        checked = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_completion_answers_the_shell_with_the_commands():
    done = cli(env={"COMP_WORDS": "gitops-agent su", "COMP_CWORD": "1",
                    "_GITOPS_AGENT_COMPLETE": "bash_complete"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["plain,suspend"]
