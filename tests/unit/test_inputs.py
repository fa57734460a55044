"""inputs.app_patterns / app_digest on small config repos built as plain files."""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.config import App
from gitops_agent.inputs import app_digest, app_patterns

HOST = "web-01"
FACTS = {"app": "billing", "host": HOST, "labels": {}, "source_commit": None}


class Repo:
    """A config repo checkout as plain files; `entries` stands in for the git tree."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, path: str, text: str = "x: 1\n") -> Repo:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return self

    def entries(self) -> dict[str, str]:
        return {
            str(path.relative_to(self.root)): hashlib.sha1(path.read_bytes()).hexdigest()
            for path in sorted(self.root.rglob("*")) if path.is_file()
        }

    def patterns(self, app: App, host: str = HOST) -> tuple[set[str], set[str], tuple[str, ...]]:
        return app_patterns(self.root, app, host)

    def digest(self, app: App, host: str = HOST, facts: dict[str, Any] | None = None) -> str:
        return app_digest(self.entries(), self.patterns(app, host), facts or FACTS)

    def inputs(self, app: App, host: str = HOST) -> set[str]:
        """Every repo file that the app's patterns select."""
        files, prefixes, globs = self.patterns(app, host)
        return {path for path in self.entries()
                if path in files or any(path.startswith(prefix) for prefix in prefixes)
                or any(fnmatch.fnmatchcase(path, glob) for glob in globs)}


def make_app(name: str = "billing", playbook: str | None = "playbooks/billing.yml",
             **more: Any) -> App:
    return App(name=name, file=f"apps/{name}.yml", playbook=playbook,
               deploy=more.pop("deploy", None), **more)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "config")
    repo.write("apps/billing.yml", "playbook: playbooks/billing.yml\n")
    repo.write("apps/other.yml", "playbook: playbooks/other.yml\n")
    repo.write("playbooks/other.yml", "- hosts: all\n  roles: [unrelated]\n")
    repo.write("roles/unrelated/tasks/main.yml", "- ansible.builtin.debug: {msg: hi}\n")
    return repo


PLAY_WITH_ROLES = """
- hosts: all
  roles:
    - web
    - role: db
      vars: {port: 5432}
"""


# --- what is followed ------------------------------------------------------------------------


def test_app_patterns_app_file_and_playbook_are_inputs(repo):
    repo.write("playbooks/billing.yml", "- hosts: all\n  tasks: []\n")

    assert {"apps/billing.yml", "playbooks/billing.yml"} <= repo.inputs(make_app())
    assert "apps/other.yml" not in repo.inputs(make_app())
    assert "playbooks/other.yml" not in repo.inputs(make_app())


def test_app_patterns_roles_list_names_and_dicts_are_whole_role_directories(repo):
    repo.write("playbooks/billing.yml", PLAY_WITH_ROLES)
    repo.write("roles/web/tasks/main.yml", "- ansible.builtin.debug: {msg: web}\n")
    repo.write("roles/web/templates/site.conf.j2", "listen {{ port }}\n")
    repo.write("roles/db/tasks/main.yml", "[]\n")
    repo.write("roles/db/defaults/main.yml", "port: 1\n")

    _, prefixes, _ = repo.patterns(make_app())

    assert {"roles/web/", "roles/db/"} <= prefixes
    assert "roles/unrelated/" not in prefixes
    assert {"roles/web/templates/site.conf.j2", "roles/db/defaults/main.yml"} <= repo.inputs(
        make_app())


def test_app_patterns_role_next_to_the_playbook_is_found(repo):
    repo.write("playbooks/billing.yml", "- hosts: all\n  roles: [local]\n")
    repo.write("playbooks/roles/local/tasks/main.yml", "[]\n")

    _, prefixes, _ = repo.patterns(make_app())

    assert "playbooks/roles/local/" in prefixes


@pytest.mark.parametrize("key", ["include_role", "import_role", "ansible.builtin.include_role",
                                 "ansible.builtin.import_role"])
def test_app_patterns_include_and_import_role_are_followed(repo, key):
    repo.write("playbooks/billing.yml",
               f"- hosts: all\n  tasks:\n    - name: Use it\n      {key}:\n        name: web\n")
    repo.write("roles/web/tasks/main.yml", "[]\n")

    _, prefixes, _ = repo.patterns(make_app())

    assert "roles/web/" in prefixes


def test_app_patterns_role_meta_dependencies_are_followed_transitively(repo):
    repo.write("playbooks/billing.yml", "- hosts: all\n  roles: [web]\n")
    repo.write("roles/web/tasks/main.yml", "[]\n")
    repo.write("roles/web/meta/main.yml", "dependencies:\n  - role: common\n")
    repo.write("roles/common/tasks/main.yml", "[]\n")
    repo.write("roles/common/meta/main.yml", "dependencies: [base]\n")
    repo.write("roles/base/tasks/main.yml", "[]\n")

    _, prefixes, _ = repo.patterns(make_app())

    assert {"roles/web/", "roles/common/", "roles/base/"} <= prefixes
    assert "roles/unrelated/" not in prefixes


def test_app_patterns_role_tasks_include_other_roles(repo):
    repo.write("playbooks/billing.yml", "- hosts: all\n  roles: [web]\n")
    repo.write("roles/web/tasks/main.yml",
               "- ansible.builtin.import_role: {name: tls}\n"
               "- ansible.builtin.include_tasks: extra.yml\n")
    repo.write("roles/web/tasks/extra.yml", "- ansible.builtin.include_role: {name: logs}\n")
    repo.write("roles/tls/tasks/main.yml", "[]\n")
    repo.write("roles/logs/tasks/main.yml", "[]\n")

    _, prefixes, _ = repo.patterns(make_app())

    assert {"roles/web/", "roles/tls/", "roles/logs/"} <= prefixes


def test_app_patterns_import_playbook_is_followed_with_its_roles(repo):
    repo.write("playbooks/billing.yml", "- ansible.builtin.import_playbook: common.yml\n"
                                        "- import_playbook: ../site/base.yml\n")
    repo.write("playbooks/common.yml", "- hosts: all\n  roles: [web]\n")
    repo.write("site/base.yml", "- hosts: all\n  tasks: []\n")
    repo.write("roles/web/tasks/main.yml", "[]\n")

    files, prefixes, _ = repo.patterns(make_app())

    assert {"playbooks/common.yml", "site/base.yml"} <= files
    assert "roles/web/" in prefixes


def test_app_patterns_import_playbook_cycle_terminates(repo):
    repo.write("playbooks/billing.yml", "- import_playbook: loop.yml\n")
    repo.write("playbooks/loop.yml", "- import_playbook: billing.yml\n")

    files, _, _ = repo.patterns(make_app())

    assert {"playbooks/billing.yml", "playbooks/loop.yml"} <= files


@pytest.mark.parametrize("key", ["include_tasks", "import_tasks", "ansible.builtin.include_tasks",
                                 "ansible.builtin.import_tasks"])
def test_app_patterns_task_includes_are_followed_from_the_playbook_dir(repo, key):
    repo.write("playbooks/billing.yml", f"- hosts: all\n  tasks:\n    - {key}: tasks/setup.yml\n")
    repo.write("playbooks/tasks/setup.yml", "- ansible.builtin.include_tasks: more.yml\n")
    repo.write("playbooks/tasks/more.yml", "[]\n")
    repo.write("playbooks/tasks/unused.yml", "[]\n")

    inputs = repo.inputs(make_app())

    assert {"playbooks/tasks/setup.yml", "playbooks/tasks/more.yml"} <= inputs
    assert "playbooks/tasks/unused.yml" not in inputs


def test_app_patterns_task_include_given_as_file_mapping_is_followed(repo):
    repo.write("playbooks/billing.yml",
               "- hosts: all\n  tasks:\n    - include_tasks: {file: tasks/setup.yml}\n")
    repo.write("playbooks/tasks/setup.yml", "[]\n")

    files, _, _ = repo.patterns(make_app())

    assert "playbooks/tasks/setup.yml" in files


def test_app_patterns_vars_files_and_include_vars_are_inputs(repo):
    repo.write("playbooks/billing.yml",
               "- hosts: all\n  vars_files: [vars/common.yml]\n"
               "  tasks:\n    - ansible.builtin.include_vars: vars/more.yml\n")
    repo.write("playbooks/vars/common.yml")
    repo.write("playbooks/vars/more.yml")
    repo.write("playbooks/vars/unused.yml")

    inputs = repo.inputs(make_app())

    assert {"playbooks/vars/common.yml", "playbooks/vars/more.yml"} <= inputs
    assert "playbooks/vars/unused.yml" not in inputs


def test_app_patterns_src_files_next_to_the_playbook_are_inputs(repo):
    repo.write("playbooks/billing.yml",
               "- hosts: all\n  tasks:\n"
               "    - ansible.builtin.copy: {src: app.conf, dest: /etc/app.conf}\n"
               "    - ansible.builtin.template: {src: site.j2, dest: /etc/site}\n")
    repo.write("playbooks/files/app.conf")
    repo.write("playbooks/templates/site.j2")
    repo.write("playbooks/files/unused.conf")

    inputs = repo.inputs(make_app())

    assert {"playbooks/files/app.conf", "playbooks/templates/site.j2"} <= inputs
    assert "playbooks/files/unused.conf" not in inputs


@pytest.mark.parametrize("spelling", ["{{ gitops_config_dir }}", "{{gitops_config_dir}}"])
def test_app_patterns_gitops_config_dir_paths_are_repo_relative(repo, spelling):
    repo.write("playbooks/billing.yml",
               "- hosts: all\n  vars_files:\n"
               f"    - \"{spelling}/vars/shared.yml\"\n"
               "  tasks:\n    - ansible.builtin.copy:\n"
               f"        src: \"{spelling}/files/billing/app.conf\"\n"
               "        dest: /etc/app.conf\n")
    repo.write("files/billing/app.conf")
    repo.write("files/billing/unused.conf")
    repo.write("vars/shared.yml")

    files, prefixes, _ = repo.patterns(make_app())

    assert {"files/billing/app.conf", "vars/shared.yml"} <= files
    assert "files/billing/unused.conf" not in repo.inputs(make_app())
    assert "" not in prefixes


def test_app_patterns_gitops_config_dir_src_inside_a_role_is_repo_relative(repo):
    repo.write("playbooks/billing.yml", "- hosts: all\n  roles: [web]\n")
    repo.write("roles/web/tasks/main.yml",
               "- ansible.builtin.copy:\n"
               "    src: \"{{ gitops_config_dir }}/files/web.conf\"\n"
               "    dest: /etc/web.conf\n")
    repo.write("files/web.conf")

    files, _, _ = repo.patterns(make_app())

    assert "files/web.conf" in files


def test_app_patterns_templated_reference_makes_the_playbook_dir_an_input(repo):
    repo.write("playbooks/billing.yml",
               "- hosts: all\n  tasks:\n    - include_tasks: \"{{ flavour }}.yml\"\n")
    repo.write("playbooks/debian.yml", "[]\n")

    _, prefixes, _ = repo.patterns(make_app())

    assert "playbooks/" in prefixes
    assert "playbooks/debian.yml" in repo.inputs(make_app())


def test_app_patterns_templated_reference_in_a_role_makes_the_role_an_input(repo):
    repo.write("playbooks/billing.yml", "- hosts: all\n  roles: [web]\n")
    repo.write("roles/web/tasks/main.yml",
               "- ansible.builtin.template: {src: \"{{ name }}.j2\", dest: /etc/x}\n")

    _, prefixes, _ = repo.patterns(make_app())

    assert "roles/web/" in prefixes
    assert "playbooks/" not in prefixes
    assert "" not in prefixes


def test_app_patterns_vault_and_other_tags_do_not_stop_the_scan(repo):
    repo.write("playbooks/billing.yml", """
- hosts: all
  vars:
    password: !vault |
      $ANSIBLE_VAULT;1.1;AES256
      6162636465
    raw: !unsafe "{{ not templated }}"
    listed: !custom [a, b]
  roles: [web]
""")
    repo.write("roles/web/tasks/main.yml", "[]\n")

    files, prefixes, _ = repo.patterns(make_app())

    assert "playbooks/billing.yml" in files
    assert "roles/web/" in prefixes


def test_app_patterns_broken_yaml_file_is_still_an_input(repo):
    repo.write("playbooks/billing.yml", "- hosts: all\n  tasks: [\n")

    files, _, _ = repo.patterns(make_app())

    assert "playbooks/billing.yml" in files


def test_app_patterns_reference_outside_the_repo_is_ignored(repo, tmp_path):
    (tmp_path / "outside.yml").write_text("[]\n")
    repo.write("playbooks/billing.yml",
               "- hosts: all\n  tasks:\n    - include_tasks: ../../outside.yml\n")

    files, _, _ = repo.patterns(make_app())

    assert not any("outside" in path for path in files)


def test_app_patterns_missing_references_are_not_inputs(repo):
    repo.write("playbooks/billing.yml",
               "- hosts: all\n  roles: [nowhere]\n  tasks:\n    - include_tasks: missing.yml\n")

    files, prefixes, _ = repo.patterns(make_app())

    assert "playbooks/missing.yml" not in files
    assert "roles/nowhere/" not in prefixes


def test_app_patterns_host_vars_only_for_this_host(repo):
    repo.write("playbooks/billing.yml", "- hosts: all\n  tasks: []\n")
    repo.write("host_vars/web-01.yml")
    repo.write("host_vars/web-01/extra.yml")
    repo.write("host_vars/web-011.yml")
    repo.write("host_vars/web-02.yml")
    repo.write("host_vars/web-02/extra.yml")
    repo.write("playbooks/host_vars/web-01.yml")
    repo.write("playbooks/host_vars/localhost.yml")

    inputs = repo.inputs(make_app())

    # Beside the playbook, ansible loads host_vars of the inventory name, localhost.
    assert {"host_vars/web-01.yml", "host_vars/web-01/extra.yml",
            "playbooks/host_vars/localhost.yml"} <= inputs
    assert not {"host_vars/web-011.yml", "host_vars/web-02.yml",
                "host_vars/web-02/extra.yml", "playbooks/host_vars/web-01.yml"} & inputs


def test_app_patterns_group_vars_are_inputs(repo):
    repo.write("playbooks/billing.yml", "- hosts: all\n  tasks: []\n")
    repo.write("group_vars/all.yml")
    repo.write("group_vars/web/main.yml")
    repo.write("playbooks/group_vars/all.yml")

    assert {"group_vars/all.yml", "group_vars/web/main.yml",
            "playbooks/group_vars/all.yml"} <= repo.inputs(make_app())


def test_app_patterns_paths_globs_are_returned(repo):
    app = make_app(paths=("files/billing/**", "extra/*.txt"))

    _, _, globs = repo.patterns(app)

    assert globs == ("files/billing/**", "extra/*.txt")


def test_app_patterns_deploy_files_are_inputs(repo):
    repo.write("files/billing/config.toml")
    app = make_app(playbook=None, deploy={
        "dest": "/opt/billing",
        "files": [{"src": "files/billing/config.toml", "dest": "/opt/billing/config.toml"}],
    })

    files, _, _ = repo.patterns(app)

    assert {"apps/billing.yml", "files/billing/config.toml"} <= files


# --- the digest ------------------------------------------------------------------------------


@pytest.fixture
def billing(repo: Repo) -> Repo:
    repo.write("playbooks/billing.yml", PLAY_WITH_ROLES
               + "  vars_files: [vars/billing.yml]\n"
               + "  tasks:\n    - ansible.builtin.copy: {src: billing.conf, dest: /etc/b}\n")
    repo.write("playbooks/vars/billing.yml")
    repo.write("playbooks/files/billing.conf")
    repo.write("roles/web/tasks/main.yml", "[]\n")
    repo.write("roles/web/meta/main.yml", "dependencies: [common]\n")
    repo.write("roles/common/tasks/main.yml", "[]\n")
    repo.write("roles/db/tasks/main.yml", "[]\n")
    repo.write("group_vars/all.yml")
    repo.write("host_vars/web-01.yml")
    repo.write("files/billing/static.txt")
    return repo


def test_app_digest_is_stable_for_the_same_tree(billing):
    assert billing.digest(make_app()) == billing.digest(make_app())
    assert len(billing.digest(make_app())) == 64


@pytest.mark.parametrize("path", [
    "roles/unrelated/tasks/main.yml",
    "playbooks/other.yml",
    "apps/other.yml",
    "host_vars/web-02.yml",
    "files/other/readme.txt",
    "playbooks/files/unused.conf",
    "README.md",
])
def test_app_digest_unrelated_change_keeps_the_digest(billing, path):
    before = billing.digest(make_app())

    billing.write(path, "changed: true\n")

    assert billing.digest(make_app()) == before


@pytest.mark.parametrize("path", [
    "apps/billing.yml",
    "playbooks/billing.yml",
    "playbooks/vars/billing.yml",
    "playbooks/files/billing.conf",
    "roles/web/tasks/main.yml",
    "roles/web/templates/new.j2",
    "roles/common/tasks/main.yml",
    "roles/db/tasks/main.yml",
    "group_vars/all.yml",
    "group_vars/web.yml",
    "host_vars/web-01.yml",
])
def test_app_digest_change_to_a_used_file_changes_the_digest(billing, path):
    before = billing.digest(make_app())

    billing.write(path, "changed: true\n")

    assert billing.digest(make_app()) != before


def test_app_digest_paths_glob_change_changes_the_digest(billing):
    app = make_app(paths=("files/billing/**",))
    before = billing.digest(app)

    billing.write("files/billing/deep/new.txt", "new\n")

    assert billing.digest(app) != before
    assert billing.digest(make_app()) == billing.digest(make_app())


def test_app_digest_removed_file_changes_the_digest(billing):
    before = billing.digest(make_app())

    (billing.root / "roles/common/tasks/main.yml").unlink()

    assert billing.digest(make_app()) != before


def test_app_digest_facts_change_the_digest(billing):
    base = billing.digest(make_app())

    assert billing.digest(make_app(), facts={**FACTS, "source_commit": "a" * 40}) != base
    assert billing.digest(make_app(), facts={**FACTS, "labels": {"env": "prod"}}) != base


def test_app_digest_facts_key_order_does_not_matter(billing):
    reordered = dict(reversed(list(FACTS.items())))

    assert billing.digest(make_app(), facts=reordered) == billing.digest(make_app())


def test_app_digest_other_host_sees_its_own_host_vars(billing):
    billing.write("host_vars/web-02.yml", "mine: true\n")
    before = billing.digest(make_app(), host="web-02")

    billing.write("host_vars/web-01.yml", "changed: true\n")

    assert billing.digest(make_app(), host="web-02") == before


def test_app_digest_only_uses_the_given_entries():
    entries = {"apps/a.yml": "1", "roles/x/tasks/main.yml": "2", "other.txt": "3"}
    patterns = ({"apps/a.yml"}, {"roles/x/"}, ("*.md",))

    digest = app_digest(entries, patterns, {})

    assert digest == app_digest({**entries, "other.txt": "changed"}, patterns, {})
    assert digest != app_digest({**entries, "roles/x/tasks/main.yml": "9"}, patterns, {})
    assert digest != app_digest({**entries, "NEWS.md": "4"}, patterns, {})


def test_app_digest_templated_gitops_config_dir_path_ignores_unrelated_roles(repo):
    repo.write("playbooks/billing.yml",
               "- hosts: all\n  tasks:\n    - ansible.builtin.template:\n"
               "        src: \"{{ gitops_config_dir }}/files/{{ site }}.conf.j2\"\n"
               "        dest: /etc/site.conf\n")
    before = repo.digest(make_app())

    repo.write("roles/unrelated/tasks/main.yml", "- ansible.builtin.debug: {msg: changed}\n")

    assert repo.digest(make_app()) == before
