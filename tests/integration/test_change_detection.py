"""Change detection end to end: recorded reads, `plan`, watch digests, and the faults
that must end in a full apply rather than a silent skip."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tests.helpers import Remote, cli, put_playbook, put_task, runs, state

READS = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Write the motd from a template
      ansible.builtin.template:
        src: templates/motd.j2
        dest: "{{ out_dir }}/{{ gitops_app }}.motd"
"""
WATCHED = put_playbook("Copy the watched file", '"{{ out_dir }}/{{ gitops_app }}.copy"',
                       '"{{ lookup(\'file\', watched, rstrip=false) }}"')
HANDLER = ("- hosts: all\n  gather_facts: false\n  tasks:\n"
           + put_task("Change something", '"{{ out_dir }}/handler.conf"', '"{{ version }}\\n"')
           + "      notify: Restart the service\n"
           "    - name: Fail later in the play\n"
           "      ansible.builtin.fail: {msg: broken}\n"
           "      when: fail_now | default(false)\n"
           "  handlers:\n"
           + put_task("Restart the service", '"{{ out_dir }}/restarted-{{ version }}"',
                      '"restarted\\n"'))
BUILD = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Make the build directory
      ansible.builtin.file: {path: "{{ gitops_source_dir }}/build", state: directory}
    - name: Build into the source checkout (an ignored directory)
      ansible.builtin.copy:
        dest: "{{ gitops_source_dir }}/build/output.bin"
        content: "built\\n"
"""
VANISH = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Remove the read trace under the agent's feet
      ansible.builtin.file:
        path: "{{ lookup('env', 'GITOPS_TRACE_FILE') }}"
        state: absent
"""


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under `root` (symlinks as their target) with its content digest."""
    found: dict[str, str] = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            relative = str(path.relative_to(root))
            if path.is_symlink():
                found[relative] = "-> " + os.readlink(path)
            else:
                found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_plan_names_the_changed_input_and_leaves_state_and_checkouts_untouched(world, tmp_path):
    source = Remote(tmp_path, "site-src")
    source.write("index.html", "v1\n").commit("v1")
    world.config_repo.write("playbooks/motd.yml", READS)
    world.config_repo.write("playbooks/templates/motd.j2", "hello v1\n")
    world.app("motd", "playbook: playbooks/motd.yml\n")
    world.app("site", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}}}\n")
    world.config_repo.commit("two apps")
    assert cli("run", config=world.config_path).returncode == 0

    quiet = cli("plan", config=world.config_path)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "nothing to do" in quiet.stdout

    world.config_repo.write("playbooks/templates/motd.j2", "hello v2\n")
    world.config_repo.write("playbooks/templates/unused.j2", "nobody reads me\n")
    world.config_repo.commit("new motd")
    source.write("index.html", "v2\n").commit("v2")
    before = tree_digest(world.state_dir)

    pending = cli("plan", config=world.config_path)
    as_json = cli("plan", "--json", config=world.config_path)

    assert pending.returncode == 3, pending.stdout + pending.stderr
    assert "playbooks/templates/motd.j2 changed" in pending.stdout
    assert "source moved to" in pending.stdout
    decisions = {row["app"]: row for row in json.loads(as_json.stdout)["apps"]}
    assert decisions["motd"]["decision"] == "apply"
    assert decisions["motd"]["reasons"] == ["playbooks/templates/motd.j2 changed"]
    assert decisions["site"]["decision"] == "apply"
    assert tree_digest(world.state_dir) == before  # state, checkouts, objects: untouched

    applied = cli("run", config=world.config_path)
    assert applied.returncode == 0, applied.stderr
    assert (world.out / "motd.motd").read_text() == "hello v2\n"


def test_plan_check_shows_what_would_change_without_changing_it(world):
    world.config_repo.write("playbooks/motd.yml", READS)
    world.config_repo.write("playbooks/templates/motd.j2", "hello v1\n")
    world.app("motd", "playbook: playbooks/motd.yml\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    world.config_repo.write("playbooks/templates/motd.j2", "hello v2\n").commit()
    before = tree_digest(world.state_dir)

    checked = cli("plan", "--check", config=world.config_path)

    assert checked.returncode == 3, checked.stdout + checked.stderr
    assert "1 task(s) would change: Write the motd from a template" in checked.stdout
    assert "+hello v2" in checked.stdout  # Ansible's diff
    assert (world.out / "motd.motd").read_text() == "hello v1\n"
    assert tree_digest(world.state_dir) == before


def test_plan_before_any_run_needs_no_state_and_exits_3(world):
    world.app("web").config_repo.commit()

    first = cli("plan", config=world.config_path)

    assert first.returncode == 3, first.stdout + first.stderr
    assert "first apply" in first.stdout
    assert not (world.state_dir / "state.json").exists()
    assert not (world.state_dir / "repos" / "config").exists()


def test_watched_file_edited_while_no_agent_ran_is_applied_at_the_next_run(world, tmp_path):
    watched = tmp_path / "app.conf"
    watched.write_text("v1\n")
    world.config_repo.write("playbooks/watched.yml", WATCHED)
    world.app("conf", f"playbook: playbooks/watched.yml\nwatch: [{watched}]\n"
              f"vars: {{watched: {watched}}}\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    quiet = cli("run", config=world.config_path)
    assert "unchanged" in quiet.stdout

    watched.write_text("v2, edited by hand\n")
    planned = cli("plan", config=world.config_path)
    again = cli("run", config=world.config_path)

    assert planned.returncode == 3 and f"watched file {watched} changed" in planned.stdout
    assert again.returncode == 0, again.stderr
    assert "applied" in again.stdout
    assert (world.out / "conf.copy").read_text() == "v2, edited by hand\n"


def test_handlers_notified_before_a_failure_still_run(world):
    world.config_repo.write("playbooks/handler.yml", HANDLER)
    world.app("svc", "playbook: playbooks/handler.yml\n"
              "vars: {version: v2, fail_now: true}\n").config_repo.commit()

    failed = cli("run", config=world.config_path)

    assert failed.returncode == 1
    assert (world.out / "handler.conf").read_text() == "v2\n"
    assert (world.out / "restarted-v2").exists()  # the retry would not notify it again


def test_build_output_ignored_in_the_source_checkout_does_not_reapply(world, tmp_path):
    source = Remote(tmp_path, "built-src")
    source.write(".gitignore", "build/\n").write("main.c", "int main;\n").commit()
    world.config_repo.write("playbooks/build.yml", BUILD)
    world.app("built", f"playbook: playbooks/build.yml\nsource: {{url: {source.url}}}\n")
    world.config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    runs_before = runs(world.state_dir, "built")

    second = cli("run", config=world.config_path)

    assert second.returncode == 0, second.stderr
    assert runs(world.state_dir, "built") == runs_before
    assert (world.state_dir / "repos/apps/built/build/output.bin").exists()


def test_lost_trace_is_said_and_the_app_is_applied_again(world):
    world.config_repo.write("playbooks/vanish.yml", VANISH)
    world.app("vanish", "playbook: playbooks/vanish.yml\n").config_repo.commit()

    first = cli("run", config=world.config_path)
    second = cli("run", config=world.config_path)

    assert first.returncode == 0, first.stderr
    assert "the read tracer did not load" in first.stderr
    assert state(world.state_dir)["apps"]["vanish"]["inputs"] is None
    assert "what its last apply read is not known" in second.stderr
    assert len(runs(world.state_dir, "vanish")) == 2


def test_state_from_an_older_version_means_one_full_apply(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    path = world.state_dir / "state.json"
    data = json.loads(path.read_text())
    data["version"] = 1
    for record in data["apps"].values():
        record.pop("inputs")
        record["digest"] = record["good_digest"] = "d" * 64
    path.write_text(json.dumps(data))

    upgraded = cli("run", config=world.config_path)
    settled = cli("run", config=world.config_path)

    assert upgraded.returncode == 0, upgraded.stderr
    assert "from another version of the agent" in upgraded.stderr
    assert "applied" in upgraded.stdout
    assert len(runs(world.state_dir, "web")) == 2
    assert "unchanged" in settled.stdout


def test_unparsable_playbook_fails_clearly_and_is_retried(world):
    world.config_repo.write("playbooks/broken.yml", "- hosts: all\n  tasks: [\n")
    world.app("broken", "playbook: playbooks/broken.yml\n").config_repo.commit()

    first = cli("run", config=world.config_path)
    second = cli("run", config=world.config_path)

    assert first.returncode == 1 and second.returncode == 1
    assert "Traceback" not in first.stderr
    assert "retry: the last run failed" in second.stderr
    assert len(runs(world.state_dir, "broken")) == 2


def test_watched_file_the_playbook_writes_itself_settles_and_does_not_loop(world, tmp_path):
    managed = tmp_path / "managed.conf"
    world.config_repo.write("playbooks/manage.yml", """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Manage the watched file
      ansible.builtin.copy: {dest: "{{ managed }}", content: "wanted\\n"}
""")
    world.app("managed", f"playbook: playbooks/manage.yml\nwatch: [{managed}]\n"
              f"vars: {{managed: {managed}}}\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0

    settling = cli("run", config=world.config_path)  # the file it wrote is now the state
    second = cli("run", config=world.config_path)
    managed.write_text("edited by hand\n")
    healed = cli("run", config=world.config_path)

    assert "applied" in settling.stdout and "watched file" in settling.stderr
    assert "unchanged" in second.stdout, second.stdout + second.stderr
    assert "applied" in healed.stdout
    assert managed.read_text() == "wanted\n"


def test_tracer_error_inside_the_playbook_run_is_said_and_fails_safe(world):
    world.config_repo.write("playbooks/filter_plugins/poke.py", """\
import os


class Weird:
    def __fspath__(self):
        raise RuntimeError("a path that cannot be named")


class FilterModule:
    def filters(self):
        def poke(value):
            try:
                os.stat(Weird())
            except Exception:
                pass
            return value

        return {"poke": poke}
""")
    world.config_repo.write("playbooks/poke.yml", put_playbook(
        "Use the odd filter", '"{{ out_dir }}/poke.txt"', '"{{ \'poked\' | poke }}\\n"'))
    world.app("poke", "playbook: playbooks/poke.yml\n").config_repo.commit()

    first = cli("run", config=world.config_path)
    second = cli("run", config=world.config_path)

    assert first.returncode == 0, first.stderr
    assert (world.out / "poke.txt").read_text() == "poked\n"  # the run itself went on
    assert "the read tracer failed: RuntimeError: a path that cannot be named" in first.stderr
    assert "what its last apply read is not known" in second.stderr
    assert len(runs(world.state_dir, "poke")) == 2


SYMLINKED = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Render the current template
      ansible.builtin.template:
        src: templates/current.j2
        dest: "{{ out_dir }}/linked.txt"
""" + put_task("Say the group's colour", '"{{ out_dir }}/colour.txt"',
                 '"{{ colour | default(\'none\') }}\\n"')


def test_files_reached_through_symlinks_in_the_repo_are_inputs(world):
    repo = world.config_repo
    repo.write("playbooks/linked.yml", SYMLINKED)
    repo.write("playbooks/templates/v1.j2", "version one\n")
    (repo.work / "playbooks/templates/current.j2").symlink_to("v1.j2")
    repo.write("inventories/prod/group_vars/all.yml",
               (repo.work / "group_vars/all.yml").read_text() + "colour: blue\n")
    (repo.work / "group_vars/all.yml").unlink()
    (repo.work / "group_vars").rmdir()
    (repo.work / "group_vars").symlink_to("inventories/prod/group_vars")
    world.app("linked", "playbook: playbooks/linked.yml\n").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    assert (world.out / "colour.txt").read_text() == "blue\n"

    repo.write("playbooks/templates/v1.j2", "version two\n").commit("edit the link's target")
    first = cli("run", config=world.config_path)
    text = (repo.work / "inventories/prod/group_vars/all.yml").read_text()
    repo.write("inventories/prod/group_vars/all.yml", text.replace("blue", "red")).commit()
    second = cli("run", config=world.config_path)

    assert "applied" in first.stdout, first.stdout + first.stderr
    assert (world.out / "linked.txt").read_text() == "version two\n"
    assert "applied" in second.stdout, second.stdout + second.stderr
    assert (world.out / "colour.txt").read_text() == "red\n"


def test_an_ansible_cfg_added_to_the_repo_reapplies(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0

    world.config_repo.write("ansible.cfg", "[defaults]\nforce_handlers = False\n").commit()
    planned = cli("plan", config=world.config_path)

    assert planned.returncode == 3 and "ansible.cfg appeared" in planned.stdout


def test_only_apps_that_use_shipped_content_record_the_shipped_files_read(world, tmp_path):
    target = tmp_path / "deployed"
    world.config_repo.write("files/motd", "hello\n")
    world.app("plain")
    world.app("shipped", f"deploy:\n  files:\n    - {{src: files/motd, dest: {target}/motd}}\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    apps = state(world.state_dir)["apps"]
    read = apps["shipped"]["inputs"]["facts"]["shipped content"]["files"]
    assert read["playbooks/deploy.yml"] not in ("missing", "file", "dir")
    assert read["roles/gitops_files/tasks/main.yml"] not in ("missing", "file", "dir")
    assert "shipped content" not in apps["plain"]["inputs"]["facts"]
    assert apps["shipped"]["inputs"]["files"]["files/motd"] != "missing"


def test_the_tracer_keeps_shutil_rmtree_symlink_safe(tmp_path):
    import subprocess
    import sys

    from gitops_agent.execute import tracing

    environment = {**os.environ, **tracing.environment(tmp_path / "trace", tmp_path, {})}
    probe = "import shutil, sys; print(shutil._use_fd_functions, 'sitecustomize' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True,
                          text=True, check=True)

    assert done.stdout.split() == ["True", "True"]


GC_PROBE = """\
import gc

from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [",".join(str(value) for value in gc.get_threshold())]
"""
GC_PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Record the collector's threshold of this run's ansible-playbook
      ansible.builtin.debug:
        msg: "{{ lookup('ansible.builtin.pipe', 'echo ' ~ lookup('gc_threshold') ~ ' > '
                 ~ out_dir ~ '/gc-' ~ (ansible_check_mode | string)) }}"
"""


def test_the_runs_python_collects_garbage_every_10000_objects_traced_or_not(world):
    """trace/sitecustomize.py sets the threshold in ansible-playbook (here its forked
    worker, where lookups run) for applies, which are traced, and check runs, which are
    not; CPython's default is 700."""
    world.config_repo.write("playbooks/lookup_plugins/gc_threshold.py", GC_PROBE)
    world.config_repo.write("playbooks/gc.yml", GC_PLAYBOOK)
    world.app("gc", "playbook: playbooks/gc.yml\n").config_repo.commit()

    stray = world.root / "stray-trace"  # a tracer's variables in the agent's environment

    applied = cli("run", config=world.config_path)
    checked = cli("run-playbook", "gc", "--check", config=world.config_path,
                  env={"GITOPS_TRACE_FILE": str(stray), "GITOPS_TRACE_ROOTS": f"{world.root}\t"})

    assert applied.returncode == 0 and checked.returncode == 0, applied.stderr + checked.stderr
    assert (world.out / "gc-False").read_text().strip() == "10000,10,10"
    assert (world.out / "gc-True").read_text().strip() == "10000,10,10"
    assert not stray.exists()  # a check run is not traced
