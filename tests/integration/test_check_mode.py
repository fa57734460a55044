"""Check mode tells the truth and moves nothing: `run-playbook --check` and `plan --check`
say "would change" or "no change", never "applied", and read copies of the revisions,
so the agent's own checkouts stay where the last pass left them."""

from __future__ import annotations

import json
from pathlib import Path

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


COPY_SOURCE = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Put the page in place
      ansible.builtin.copy:
        src: "{{ gitops_source_dir }}/index.html"
        dest: "{{ out_dir }}/index.html"
        mode: "0644"
"""


def test_run_playbook_check_leaves_the_agents_checkouts_where_they_are(world, tmp_path):
    source = Remote(tmp_path, "site-src")
    first = source.write("index.html", "v1\n").commit("v1")
    world.config_repo.write("playbooks/copy.yml", COPY_SOURCE)
    world.app("site", f"playbook: playbooks/copy.yml\nsource: {{url: {source.url}}}\n")
    world.config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    checkouts = [world.state_dir / "repos" / "apps" / "site", world.state_dir / "repos" / "config"]
    before = [_checkout_snapshot(path) for path in checkouts]
    assert before[0][0] == first
    source.write("index.html", "v2\n").write("new.txt", "new\n").commit("v2")
    world.app("site", f"playbook: playbooks/copy.yml\nsource: {{url: {source.url}}}\n"
              "vars: {greeting: hi}\n").config_repo.commit()

    checked = cli("run-playbook", "site", "--check", "--json", config=world.config_path)

    assert checked.returncode == 0, checked.stderr
    site = json.loads(checked.stdout)["apps"]["site"]
    assert (site["state"], site["would_change"]) == ("would_change", ["Put the page in place"])
    assert [_checkout_snapshot(path) for path in checkouts] == before
    assert (world.out / "index.html").read_text() == "v1\n"
    assert list((world.state_dir / "tmp").iterdir()) == []  # its copies are gone
    assert cli("run", config=world.config_path).returncode == 0  # a pass moves them
    assert (world.out / "index.html").read_text() == "v2\n"
