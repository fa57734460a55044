"""The command line says what is true: check mode never says "applied", `plan` moves
nothing, suspend/resume know the host's apps, configure starts from placeholders, shell
completion, and the README's exit codes are the code's."""

from __future__ import annotations

import json

from tests.helpers import cli, state

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
