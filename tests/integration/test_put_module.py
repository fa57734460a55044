"""gitops_put, the module (and action) the gitops_files role puts plain files with: real
ansible-playbook runs of the role on localhost."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from gitops_agent.execute import ansible_env

SECRET = "password = hunter2-do-not-log\n"
PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Put the files
      ansible.builtin.include_role:
        name: gitops_files
      vars:
        gitops_files_base_dir: "{{ repo }}"
        gitops_files_mark_file: "{{ mark }}"
        gitops_files_mark_content: "owed\\n"
        gitops_files_list:
          - {src: app.conf, dest: "{{ out }}/etc/deep/app.conf", mode: "0640"}
          - {src: app.conf, dest: "{{ out }}/linked.conf"}
          - {src: secret.conf, dest: "{{ out }}/secret.conf", mode: "0600"}
          - {src: app.conf, dest: "{{ out }}/old.conf", backup: true}
    - name: Tell what changed
      ansible.builtin.debug:
        msg: "gitops_files_changed={{ gitops_files_changed }}"
"""


def play(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    binaries = Path(sys.executable).parent
    environment = {**os.environ, "PATH": f"{binaries}:{os.environ['PATH']}",
                   "ANSIBLE_ROLES_PATH": str(ansible_env.SHIPPED / "roles"),
                   "ANSIBLE_NOCOLOR": "1", "HOME": str(tmp_path / "home"),
                   "PYTHONDONTWRITEBYTECODE": "1"}  # no __pycache__ in the shipped roles
    return subprocess.run(
        [str(binaries / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-e", f"repo={tmp_path / 'repo'} out={tmp_path / 'out'} mark={tmp_path / 'state/mark'}",
         "--vault-password-file", str(tmp_path / "vault-pass"), *options,
         str(tmp_path / "play.yml")],
        capture_output=True, text=True, timeout=180, env=environment, check=False)


def setup(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "app.conf").write_text("listen 8080\n")
    (repo / "secret.conf").write_text(SECRET)
    (tmp_path / "vault-pass").write_text("vault-pass\n")
    binaries = Path(sys.executable).parent
    subprocess.run([str(binaries / "ansible-vault"), "encrypt", "--vault-password-file",
                    str(tmp_path / "vault-pass"), str(repo / "secret.conf")],
                   check=True, capture_output=True, env={**os.environ, "HOME": str(tmp_path)})
    (tmp_path / "play.yml").write_text(PLAYBOOK)


def test_put_writes_through_no_link_decrypts_vault_backs_up_and_marks_first(tmp_path):
    setup(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.conf"  # a link at a dest must be replaced, not followed
    victim.write_text("not yours\n")
    (out / "linked.conf").symlink_to(victim)
    (out / "old.conf").write_text("old\n")

    first = play(tmp_path, "-vvv")

    assert first.returncode == 0, first.stdout + first.stderr
    assert "gitops_files_changed=True" in first.stdout
    deep = out / "etc/deep/app.conf"
    assert deep.read_text() == "listen 8080\n" and deep.stat().st_mode & 0o777 == 0o640
    assert (out / "etc").stat().st_mode & 0o777 == 0o755  # gitops_files_directory_mode
    assert not (out / "linked.conf").is_symlink() and victim.read_text() == "not yours\n"
    assert (out / "secret.conf").read_text() == SECRET
    assert (out / "secret.conf").stat().st_mode & 0o777 == 0o600
    backups = [path for path in out.iterdir() if path.name.startswith("old.conf.")]
    assert len(backups) == 1 and backups[0].read_text() == "old\n"
    assert (tmp_path / "state/mark").read_text() == "owed\n"
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert not [path for path in out.rglob(".*.gitops")], "a temporary file was left"
    encoded = base64.b64encode(SECRET.encode()).decode()
    assert "hunter2" not in first.stdout + first.stderr  # -vvv shows the module's args
    assert encoded not in first.stdout + first.stderr

    (tmp_path / "state/mark").unlink()
    again = play(tmp_path)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "changed=0" in again.stdout and "gitops_files_changed=False" in again.stdout
    assert not (tmp_path / "state/mark").exists()  # nothing changed: nothing owed

    deep.chmod(0o644)
    moded = play(tmp_path)

    assert "gitops_files_changed=True" in moded.stdout
    assert deep.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "state/mark").exists()  # a changed mode is a change too


def test_check_mode_reports_the_change_and_writes_nothing(tmp_path):
    setup(tmp_path)

    done = play(tmp_path, "--check")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "gitops_files_changed=True" in done.stdout
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "state").exists()


def test_a_directory_in_the_way_fails_with_its_path(tmp_path):
    setup(tmp_path)
    (tmp_path / "out/secret.conf").mkdir(parents=True)

    done = play(tmp_path)

    assert done.returncode != 0
    assert f"{tmp_path / 'out/secret.conf'} is a directory, not a file" in done.stdout


def test_a_changed_template_writes_the_mark_too(tmp_path):
    setup(tmp_path)
    (tmp_path / "repo/motd.j2").write_text("{{ greeting }}\n")
    (tmp_path / "play.yml").write_text(PLAYBOOK.replace(
        """          - {src: app.conf, dest: "{{ out }}/etc/deep/app.conf", mode: "0640"}
          - {src: app.conf, dest: "{{ out }}/linked.conf"}
          - {src: secret.conf, dest: "{{ out }}/secret.conf", mode: "0600"}
          - {src: app.conf, dest: "{{ out }}/old.conf", backup: true}
""", """          - {src: motd.j2, dest: "{{ out }}/new/motd"}
"""))
    mark = tmp_path / "state/mark"

    first = play(tmp_path, "-e", "greeting=hello")

    assert first.returncode == 0, first.stdout + first.stderr
    assert (tmp_path / "out/new/motd").read_text() == "hello\n"
    assert mark.read_text() == "owed\n" and mark.parent.stat().st_mode & 0o777 == 0o700

    mark.unlink()
    same = play(tmp_path, "-e", "greeting=hello")

    assert "gitops_files_changed=False" in same.stdout and not mark.exists()

    changed = play(tmp_path, "-e", "greeting=bye")

    assert "gitops_files_changed=True" in changed.stdout
    assert (tmp_path / "out/new/motd").read_text() == "bye\n" and mark.exists()
