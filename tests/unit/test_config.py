"""config.load_agent_config, load_app, load_apps, selects and dependency_problems."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitops_agent.config import (
    DEFAULT_CONFIG_PATH,
    App,
    Health,
    Source,
    config_path,
    default_state_dir,
    dependency_problems,
    load_agent_config,
    load_app,
    load_apps,
    repo_file_problem,
    selects,
)
from gitops_agent.errors import EXIT_BAD_CONFIG, ConfigError

MINIMAL = "config_repo:\n  url: /srv/git/fleet.git\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def agent_config(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "etc" / "config.yml", text)


def problems_of(load, *args) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(*args)
    assert caught.value.exit_code == EXIT_BAD_CONFIG
    assert str(caught.value) == caught.value.problems[0]
    return caught.value.problems


# --- agent config: defaults ------------------------------------------------------------------


def test_load_agent_config_minimal_file_gets_every_default(tmp_path, monkeypatch):
    monkeypatch.setattr("gitops_agent.config.agent.socket.gethostname",
                        lambda: "web-07.example.com")
    monkeypatch.setattr("gitops_agent.config.agent.os.geteuid", lambda: 0)
    path = agent_config(tmp_path, MINIMAL)

    config = load_agent_config(path)

    assert config.path == path
    assert config.host == "web-07"
    assert config.labels == {}
    assert config.config_repo.url == "/srv/git/fleet.git"
    assert config.config_repo.branch == "main"
    assert config.config_repo.ssh_key is None
    assert config.config_repo.known_hosts is None
    assert config.config_repo.allowed_signers is None
    assert config.status.enabled is True
    assert config.status.url == "/srv/git/fleet.git"
    assert config.status.branch == "gitops-status/web-07"
    assert config.status.heartbeat == 900 and config.status.per_host
    assert config.metrics_textfile is None and config.notify == ()
    assert config.interval == 60
    assert config.splay == 0
    assert config.state_dir == Path("/var/lib/gitops-agent")
    assert (config.runner.workers, config.runner.timeout, config.runner.keep_artifacts) == (
        2, 1800, 20)
    assert config.runner.vault_password_file is None


def test_load_agent_config_short_hostname_without_domain_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr("gitops_agent.config.agent.socket.gethostname", lambda: "db-3")

    assert load_agent_config(agent_config(tmp_path, MINIMAL)).host == "db-3"


def test_load_agent_config_explicit_values_override_defaults(tmp_path):
    path = agent_config(tmp_path, """
        host:
          name: web-01
          labels: {env: prod, canary: true, tier: 2}
        config_repo:
          url: git@git.example.com:ops/fleet.git
          branch: production
          ssh_key: keys/id_ed25519
          known_hosts: /etc/gitops-agent/known_hosts
          verify: {allowed_signers: signers}
        status:
          enabled: false
          url: https://git.example.com/ops/status.git
          branch: status/{host}/{host}
        interval: 30
        splay: 5
        state_dir: ~/agent-state
        runner:
          workers: 4
          timeout: 600
          keep_artifacts: 3
          vault_password_file: vault.txt
    """)

    config = load_agent_config(path)

    base = path.parent.resolve()
    assert config.host == "web-01"
    assert config.labels == {"env": "prod", "canary": "true", "tier": "2"}
    assert config.config_repo.branch == "production"
    assert config.config_repo.ssh_key == str(base / "keys" / "id_ed25519")
    assert config.config_repo.known_hosts == "/etc/gitops-agent/known_hosts"
    assert config.config_repo.allowed_signers == str(base / "signers")
    assert config.status.enabled is False
    assert config.status.url == "https://git.example.com/ops/status.git"
    assert config.status.branch == "status/web-01/web-01"
    assert (config.interval, config.splay) == (30, 5)
    assert config.state_dir == Path.home() / "agent-state"
    assert (config.runner.workers, config.runner.timeout, config.runner.keep_artifacts) == (
        4, 600, 3)
    assert config.runner.vault_password_file == str(base / "vault.txt")


def test_load_agent_config_status_branch_host_uses_the_default_host_name(tmp_path, monkeypatch):
    monkeypatch.setattr("gitops_agent.config.agent.socket.gethostname", lambda: "vm-9.lan")
    path = agent_config(tmp_path, MINIMAL + "status: {branch: 'status-{host}'}\n")

    assert load_agent_config(path).status.branch == "status-vm-9"


def test_load_agent_config_null_status_url_means_the_config_repo(tmp_path):
    path = agent_config(tmp_path, MINIMAL + "status: {url: null}\n")

    assert load_agent_config(path).status.url == "/srv/git/fleet.git"


def test_default_state_dir_root_is_var_lib(monkeypatch):
    monkeypatch.setattr("gitops_agent.config.agent.os.geteuid", lambda: 0)

    assert default_state_dir() == Path("/var/lib/gitops-agent")


def test_default_state_dir_non_root_is_under_local_state(monkeypatch, tmp_path):
    monkeypatch.setattr("gitops_agent.config.agent.os.geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)

    assert default_state_dir() == tmp_path / ".local" / "state" / "gitops-agent"


def test_default_state_dir_non_root_follows_xdg_state_home(monkeypatch, tmp_path):
    monkeypatch.setattr("gitops_agent.config.agent.os.geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))

    assert default_state_dir() == tmp_path / "xdg" / "gitops-agent"


def test_load_agent_config_without_state_dir_uses_the_default(tmp_path, monkeypatch):
    monkeypatch.setattr("gitops_agent.config.agent.os.geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))

    config = load_agent_config(agent_config(tmp_path, MINIMAL))

    assert config.state_dir == tmp_path / "xdg" / "gitops-agent"


def test_config_path_explicit_wins_over_environment(monkeypatch):
    monkeypatch.setenv("GITOPS_AGENT_CONFIG", "/from/env.yml")

    assert config_path("/given.yml") == Path("/given.yml")


def test_config_path_environment_wins_over_default(monkeypatch):
    monkeypatch.setenv("GITOPS_AGENT_CONFIG", "/from/env.yml")

    assert config_path(None) == Path("/from/env.yml")


def test_config_path_nothing_given_is_etc(monkeypatch):
    monkeypatch.delenv("GITOPS_AGENT_CONFIG", raising=False)

    assert config_path(None) == DEFAULT_CONFIG_PATH == Path("/etc/gitops-agent/config.yml")


# --- agent config: errors --------------------------------------------------------------------


def test_load_agent_config_unknown_top_level_key_names_file_line_and_key(tmp_path):
    path = agent_config(tmp_path, MINIMAL + "intervall: 5\n")

    problems = problems_of(load_agent_config, path)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:3: intervall: unknown key (allowed: ")
    assert "interval" in problems[0]


def test_load_agent_config_unknown_nested_key_names_its_dotted_path(tmp_path):
    path = agent_config(tmp_path, """
        host:
          name: web-01
          lables: {env: prod}
        config_repo:
          url: /srv/git/fleet.git
    """)

    problems = problems_of(load_agent_config, path)

    assert problems == [f"{path}:3: host.lables: unknown key (allowed: labels, name)"]


def test_load_agent_config_every_problem_is_reported_at_once_in_line_order(tmp_path):
    path = agent_config(tmp_path, """
        host:
          lables: {}
        config_repo:
          url: /srv/git/fleet.git
          branch: main
          branch: dev
        intervall: 5
        runner:
          workers: 0
          timeout: soon
    """)

    problems = problems_of(load_agent_config, path)

    assert [problem.split(": ")[0] for problem in problems] == [
        f"{path}:2", f"{path}:6", f"{path}:7", f"{path}:9", f"{path}:10"]
    assert "host.lables: unknown key" in problems[0]
    assert problems[1].endswith("config_repo.branch: key given twice")
    assert "intervall: unknown key" in problems[2]
    assert problems[3].endswith("runner.workers: 0 is less than the minimum of 1")
    assert "runner.timeout" in problems[4] and "'soon' is not of type 'integer'" in problems[4]


def test_load_agent_config_missing_config_repo_is_required(tmp_path):
    path = agent_config(tmp_path, "host: {name: web-01}\n")

    assert problems_of(load_agent_config, path) == [
        f"{path}:1: (top level): 'config_repo' is required"]


def test_load_agent_config_empty_file_still_needs_config_repo(tmp_path):
    path = agent_config(tmp_path, "")

    assert problems_of(load_agent_config, path) == [
        f"{path}:1: (top level): 'config_repo' is required"]


def test_load_agent_config_not_a_mapping_is_refused(tmp_path):
    path = agent_config(tmp_path, "- config_repo\n")

    problems = problems_of(load_agent_config, path)

    assert problems == [f"{path}:1: (top level): ['config_repo'] is not of type 'object'"]


def test_load_agent_config_bad_yaml_gives_the_line(tmp_path):
    path = agent_config(tmp_path, """
        config_repo:
          url: /srv/git/fleet.git
        host:
          name: [web
        interval: 5
    """)

    with pytest.raises(ConfigError) as caught:
        load_agent_config(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:5: invalid YAML: ")
    assert caught.value.exit_code == EXIT_BAD_CONFIG


def test_load_agent_config_two_documents_are_refused(tmp_path):
    path = agent_config(tmp_path, MINIMAL + "---\ninterval: 5\n")

    with pytest.raises(ConfigError, match=r":3: invalid YAML: "):
        load_agent_config(path)


def test_load_agent_config_missing_file_says_so(tmp_path):
    path = tmp_path / "nope.yml"

    with pytest.raises(ConfigError, match=r"nope\.yml: no such file"):
        load_agent_config(path)


def test_load_agent_config_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "config.yml"
    path.write_bytes(b"config_repo:\n  url: /x\nhost: {name: \xff\xfe}\n")

    with pytest.raises(ConfigError):
        load_agent_config(path)


def test_load_agent_config_bad_host_name_is_refused(tmp_path):
    path = agent_config(tmp_path, MINIMAL + "host: {name: 'web 01'}\n")

    problems = problems_of(load_agent_config, path)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:3: host.name: 'web 01' does not match")


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/pwned", "-upload-pack=touch x",
                                 "http://git.example.com/fleet.git", "fd::17"])
def test_load_agent_config_unsafe_config_repo_url_is_refused_with_its_line(tmp_path, url):
    path = agent_config(tmp_path, f"interval: 5\nconfig_repo:\n  url: '{url}'\n")

    problems = problems_of(load_agent_config, path)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:3: config_repo.url: refusing git URL ")


def test_load_agent_config_unsafe_status_url_is_refused_with_its_line(tmp_path):
    path = agent_config(tmp_path, MINIMAL + "status:\n  url: 'ext::sh -c x'\n")

    problems = problems_of(load_agent_config, path)

    assert problems == [
        f"{path}:4: status.url: refusing git URL 'ext::sh -c x': it must be an ssh, https, "
        "file URL or a path"]


def test_load_agent_config_both_urls_unsafe_reports_both(tmp_path):
    path = agent_config(tmp_path, "config_repo: {url: 'ext::a'}\nstatus: {url: '-b'}\n")

    problems = problems_of(load_agent_config, path)

    assert [problem.split(": ")[1] for problem in problems] == ["config_repo.url", "status.url"]


def test_load_agent_config_schema_and_url_problems_are_reported_together(tmp_path):
    path = agent_config(tmp_path, "config_repo: {url: 'ext::sh -c x'}\nintervall: 5\n")

    problems = problems_of(load_agent_config, path)

    assert len(problems) == 2


# --- app files -------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    write(root / "playbooks" / "billing.yml", "- hosts: all\n  tasks: []\n")
    write(root / "playbooks" / "billing-remove.yml", "- hosts: all\n  tasks: []\n")
    return root


def app_file(root: Path, name: str, text: str) -> Path:
    return write(root / "apps" / f"{name}.yml", text)


SPEC_APP = """
    hosts: ["web-*"]
    labels: {role: web, canary: true}
    source:
      url: git@git.example.com:dev/billing.git
      ref: v1.4.2
    playbook: playbooks/billing.yml
    remove_playbook: playbooks/billing-remove.yml
    vars: {port: 8080}
    paths: ["files/billing/**"]
    watch: [/etc/billing/app.conf]
    depends_on: [postgres]
    suspend: false
    timeout: 600
    health:
      command: ["curl", "-fsS", "http://127.0.0.1:8080/health"]
      retries: 5
      delay: 2
    rollback: true
"""


def test_load_app_spec_example_is_loaded_into_typed_fields(repo):
    app = load_app(repo, app_file(repo, "billing", SPEC_APP))

    assert app == App(
        name="billing", file="apps/billing.yml", playbook="playbooks/billing.yml", deploy=None,
        hosts=("web-*",), labels={"role": "web", "canary": "true"},
        source=Source(url="git@git.example.com:dev/billing.git", ref="v1.4.2"),
        remove_playbook="playbooks/billing-remove.yml", vars={"port": 8080},
        paths=("files/billing/**",), watch=("/etc/billing/app.conf",), depends_on=("postgres",),
        suspend=False, timeout=600,
        health=Health(command=("curl", "-fsS", "http://127.0.0.1:8080/health"), retries=5,
                      delay=2),
        rollback=True,
    )


def test_load_app_minimal_file_gets_defaults(repo):
    app = load_app(repo, app_file(repo, "billing", "playbook: playbooks/billing.yml\n"))

    assert app.hosts == () and app.labels == {} and app.vars == {}
    assert app.source is None and app.health is None and app.timeout is None
    assert app.suspend is False and app.rollback is False
    assert app.depends_on == () and app.paths == () and app.watch == ()


def test_load_app_source_ref_defaults_to_main_and_health_to_five_retries(repo):
    app = load_app(repo, app_file(repo, "billing", """
        playbook: playbooks/billing.yml
        source: {url: https://git.example.com/dev/billing.git}
        health: {command: [/bin/true]}
    """))

    assert app.source == Source(url="https://git.example.com/dev/billing.git", ref="main")
    assert app.health == Health(command=("/bin/true",), retries=5, delay=2.0)


def test_load_app_deploy_instead_of_playbook_is_accepted(repo):
    write(repo / "files" / "billing" / "config.toml", "x = 1\n")
    app = load_app(repo, app_file(repo, "billing", """
        deploy:
          dest: /opt/billing
          files:
            - {src: files/billing/config.toml, dest: /opt/billing/config.toml, mode: "0640"}
          commands: ["systemctl restart billing"]
    """))

    assert app.playbook is None
    assert app.deploy is not None
    assert app.deploy["files"][0]["src"] == "files/billing/config.toml"


@pytest.mark.parametrize("text", [
    "playbook: playbooks/billing.yml\ndeploy: {dest: /opt/x}\n",
    "hosts: [web-01]\n",
    "",
])
def test_load_app_needs_exactly_one_of_playbook_or_deploy(repo, text):
    path = app_file(repo, "billing", text)

    assert problems_of(load_app, repo, path) == [
        f"{path}:1: (top level): give exactly one of `playbook:` or `deploy:`"]


def test_load_app_unknown_key_names_file_line_and_key(repo):
    path = app_file(repo, "billing", "playbook: playbooks/billing.yml\nhostz: [web-01]\n")

    problems = problems_of(load_app, repo, path)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:2: hostz: unknown key (allowed: ")


def test_load_app_unknown_nested_key_names_its_path(repo):
    path = app_file(repo, "billing", """
        playbook: playbooks/billing.yml
        health:
          command: [/bin/true]
          retry: 3
    """)

    problems = problems_of(load_app, repo, path)

    assert problems == [f"{path}:4: health.retry: unknown key (allowed: command, delay, retries)"]


def test_load_app_list_item_problem_names_its_index(repo):
    path = app_file(repo, "billing", "playbook: playbooks/billing.yml\nhosts:\n  - web-*\n  - 7\n")

    problems = problems_of(load_app, repo, path)

    assert problems == [f"{path}:4: hosts[1]: 7 is not of type 'string'"]


def test_load_app_duplicate_key_is_reported(repo):
    path = app_file(repo, "billing", "playbook: playbooks/billing.yml\nvars: {a: 1, a: 2}\n")

    problems = problems_of(load_app, repo, path)

    assert problems == [f"{path}:2: vars.a: key given twice"]


def test_load_app_bad_yaml_gives_the_line(repo):
    path = app_file(repo, "billing", "playbook: playbooks/billing.yml\nvars:\n  a: [1\nb: 2\n")

    with pytest.raises(ConfigError, match=r"billing\.yml:4: invalid YAML: "):
        load_app(repo, path)


@pytest.mark.parametrize("name", ["billing", "a", "0db", "my_app.v2-x", "a" * 63])
def test_load_app_valid_names_are_accepted(repo, name):
    app = load_app(repo, app_file(repo, name, "playbook: playbooks/billing.yml\n"))

    assert app.name == name
    assert app.file == f"apps/{name}.yml"


@pytest.mark.parametrize("name", ["Billing", "-billing", "_billing", ".billing", "bill ing",
                                  "billing+x", "a" * 64])
def test_load_app_invalid_names_are_refused(repo, name):
    path = app_file(repo, name, "playbook: playbooks/billing.yml\n")

    problems = problems_of(load_app, repo, path)

    assert problems == [
        f"{path}:1: app name {name!r} must match ^[a-z0-9][a-z0-9_.-]{{0,62}}$"]


@pytest.mark.parametrize("playbook", ["../x.yml", "playbooks/../../x.yml", "/etc/passwd"])
def test_load_app_playbook_outside_the_repo_is_refused(repo, playbook):
    path = app_file(repo, "billing", f"hosts: [web-01]\nplaybook: '{playbook}'\n")

    problems = problems_of(load_app, repo, path)

    assert problems == [
        f"{path}:2: playbook: {playbook!r} must be a path inside the config repo"]


def test_load_app_playbook_symlink_pointing_outside_is_refused(repo, tmp_path):
    write(tmp_path / "outside.yml", "- hosts: all\n")
    (repo / "playbooks" / "sneaky.yml").symlink_to(tmp_path / "outside.yml")
    path = app_file(repo, "billing", "playbook: playbooks/sneaky.yml\n")

    problems = problems_of(load_app, repo, path)

    assert problems == [
        f"{path}:1: playbook: 'playbooks/sneaky.yml' leads outside the config repo"]


def test_load_app_playbook_in_a_symlinked_directory_outside_is_refused(repo, tmp_path):
    write(tmp_path / "elsewhere" / "site.yml", "- hosts: all\n")
    (repo / "linked").symlink_to(tmp_path / "elsewhere")
    path = app_file(repo, "billing", "playbook: linked/site.yml\n")

    assert "leads outside the config repo" in problems_of(load_app, repo, path)[0]


def test_load_app_playbook_symlink_inside_the_repo_is_accepted(repo):
    (repo / "playbooks" / "alias.yml").symlink_to(repo / "playbooks" / "billing.yml")
    path = app_file(repo, "billing", "playbook: playbooks/alias.yml\n")

    assert load_app(repo, path).playbook == "playbooks/alias.yml"


@pytest.mark.parametrize("playbook", ["playbooks/missing.yml", "playbooks", "."])
def test_load_app_playbook_that_is_not_a_file_is_refused(repo, playbook):
    path = app_file(repo, "billing", f"playbook: '{playbook}'\n")

    problems = problems_of(load_app, repo, path)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:1: playbook: ")
    assert problems[0].endswith(("does not exist in the config repo",
                                 "leads outside the config repo"))


def test_load_app_remove_playbook_outside_the_repo_is_refused(repo):
    path = app_file(repo, "billing",
                    "playbook: playbooks/billing.yml\nremove_playbook: ../remove.yml\n")

    problems = problems_of(load_app, repo, path)

    assert problems == [
        f"{path}:2: remove_playbook: '../remove.yml' must be a path inside the config repo"]


@pytest.mark.parametrize("url", ["ext::sh -c touch% /tmp/pwned", "-upload-pack=touch x",
                                 "--upload-pack=x", "git://git.example.com/app.git"])
def test_load_app_unsafe_source_url_is_refused(repo, url):
    path = app_file(repo, "billing",
                    f"playbook: playbooks/billing.yml\nsource:\n  url: '{url}'\n")

    problems = problems_of(load_app, repo, path)

    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:3: source.url: refusing git URL ")


def test_load_app_depending_on_itself_is_refused_at_the_item_line(repo):
    path = app_file(repo, "billing",
                    "playbook: playbooks/billing.yml\ndepends_on:\n  - db\n  - billing\n")

    problems = problems_of(load_app, repo, path)

    assert problems == [f"{path}:4: depends_on[1]: an app cannot depend on itself"]


def test_load_app_every_problem_is_reported_at_once(repo):
    path = app_file(repo, "Bad", """
        playbook: ../x.yml
        remove_playbook: /etc/remove.yml
        source: {url: 'ext::sh'}
        depends_on: [Bad]
    """)

    problems = problems_of(load_app, repo, path)

    assert len(problems) == 5
    assert "app name 'Bad'" in problems[0]
    assert [problem.split(": ")[1] for problem in problems[1:]] == [
        "playbook", "remove_playbook", "source.url", "depends_on[0]"]


@pytest.mark.parametrize("src", ["../../etc/shadow", "/etc/shadow"])
def test_load_app_deploy_file_src_outside_the_repo_is_refused(repo, src):
    path = app_file(repo, "billing", f"""
        deploy:
          dest: /opt/billing
          files: [{{src: '{src}', dest: /opt/billing/x}}]
    """)

    with pytest.raises(ConfigError):
        load_app(repo, path)


def test_repo_file_problem_regular_file_inside_is_none(repo):
    assert repo_file_problem(repo, "playbooks/billing.yml") is None


# --- selects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("hosts", "expected"), [
    (None, True),
    ([], True),
    (["web-01"], True),
    (["web-*"], True),
    (["db-*", "web-0?"], True),
    (["web-[0-9]*"], True),
    (["db-*"], False),
    (["WEB-*"], False),
    (["web"], False),
])
def test_selects_host_globs(hosts, expected):
    assert selects(hosts, None, "web-01", {}) is expected


@pytest.mark.parametrize(("labels", "expected"), [
    ({}, True),
    ({"env": "prod"}, True),
    ({"env": "prod", "role": "web"}, True),
    ({"env": "dev"}, False),
    ({"env": "prod", "zone": "a"}, False),
    ({"canary": True}, True),
    ({"tier": 2}, True),
    ({"tier": "2"}, True),
])
def test_selects_labels_must_all_match(labels, expected):
    host_labels = {"env": "prod", "role": "web", "canary": "true", "tier": "2"}

    assert selects(None, labels, "web-01", host_labels) is expected


def test_selects_needs_both_hosts_and_labels_to_match():
    assert selects(["web-*"], {"env": "prod"}, "web-01", {"env": "prod"}) is True
    assert selects(["web-*"], {"env": "dev"}, "web-01", {"env": "prod"}) is False
    assert selects(["db-*"], {"env": "prod"}, "web-01", {"env": "prod"}) is False


def test_selects_is_lenient_on_malformed_values():
    assert selects("web-*", "env=prod", "web-01", {}) is True
    assert selects([3, None], None, "web-01", {}) is False


# --- load_apps -------------------------------------------------------------------------------


def test_load_apps_keeps_only_apps_that_select_this_host(repo):
    app_file(repo, "everywhere", "playbook: playbooks/billing.yml\n")
    app_file(repo, "web", "hosts: ['web-*']\nplaybook: playbooks/billing.yml\n")
    app_file(repo, "db", "hosts: ['db-*']\nplaybook: playbooks/billing.yml\n")
    app_file(repo, "prod", "labels: {env: prod}\nplaybook: playbooks/billing.yml\n")
    app_file(repo, "dev", "labels: {env: dev}\nplaybook: playbooks/billing.yml\n")
    write(repo / "apps" / "yaml-too.yaml", "playbook: playbooks/billing.yml\n")
    write(repo / "apps" / "notes.txt", "not an app\n")

    found = load_apps(repo, "web-01", {"env": "prod"})

    assert sorted(found.apps) == ["everywhere", "prod", "web", "yaml-too"]
    assert found.invalid == {}
    assert found.apps["yaml-too"].file == "apps/yaml-too.yaml"


def test_load_apps_invalid_app_for_this_host_is_set_aside_with_its_problem(repo):
    app_file(repo, "good", "playbook: playbooks/billing.yml\n")
    path = app_file(repo, "broken", "hosts: ['web-*']\nplaybook: playbooks/missing.yml\n")

    found = load_apps(repo, "web-01", {})

    assert list(found.apps) == ["good"]
    assert found.invalid == {
        "broken": f"{path}:2: playbook: 'playbooks/missing.yml' does not exist in the config repo"}


def test_load_apps_invalid_app_for_other_hosts_is_ignored(repo):
    app_file(repo, "elsewhere", "hosts: ['db-*']\nplaybook: playbooks/missing.yml\n")
    app_file(repo, "other-labels", "labels: {env: dev}\nplaybok: playbooks/billing.yml\n")

    found = load_apps(repo, "web-01", {"env": "prod"})

    assert found.apps == {}
    assert found.invalid == {}


def test_load_apps_unparsable_app_file_is_set_aside(repo):
    app_file(repo, "garbled", "hosts: ['db-*'\nplaybook: [\n")

    found = load_apps(repo, "web-01", {})

    assert list(found.invalid) == ["garbled"]
    assert "invalid YAML" in found.invalid["garbled"]


def test_load_apps_app_file_that_is_not_a_mapping_is_set_aside(repo):
    app_file(repo, "listed", "- playbook: playbooks/billing.yml\n")

    found = load_apps(repo, "web-01", {})

    assert list(found.invalid) == ["listed"]


def test_load_apps_without_apps_dir_is_empty(tmp_path):
    found = load_apps(tmp_path, "web-01", {})

    assert found.apps == {} and found.invalid == {}


# --- dependency_problems ---------------------------------------------------------------------


def apps_with(**depends: list[str]) -> dict[str, App]:
    return {name: App(name=name, file=f"apps/{name}.yml", playbook="p.yml", deploy=None,
                      depends_on=tuple(needs)) for name, needs in depends.items()}


def test_dependency_problems_valid_graph_has_none():
    assert dependency_problems(apps_with(web=["db", "cache"], cache=["db"], db=[])) == {}


def test_dependency_problems_unknown_names_are_listed():
    problems = dependency_problems(apps_with(web=["db", "queue", "cache"], cache=[]))

    assert problems == {"web": "depends_on names unknown app(s): db, queue"}


def test_dependency_problems_cycle_marks_every_member_with_the_cycle():
    problems = dependency_problems(apps_with(a=["b"], b=["c"], c=["a"], free=[]))

    assert problems == {name: "depends_on cycle: a -> b -> c -> a" for name in "abc"}


def test_dependency_problems_two_app_cycle_is_found_from_either_end():
    problems = dependency_problems(apps_with(web=["db"], db=["web"]))

    assert set(problems) == {"db", "web"}
    assert all(problem.startswith("depends_on cycle: ") for problem in problems.values())


def test_dependency_problems_self_cycle_is_found():
    assert dependency_problems(apps_with(loop=["loop"])) == {
        "loop": "depends_on cycle: loop -> loop"}


def test_dependency_problems_unknown_and_cycle_are_both_reported():
    problems = dependency_problems(apps_with(a=["b", "ghost"], b=["a"]))

    assert set(problems) == {"a", "b"}
    assert problems["b"] == "depends_on cycle: a -> b -> a"


def test_notify_bare_on_key_means_on_not_true(tmp_path):
    """YAML 1.1 reads a bare `on:` as the boolean true; SPEC §2 writes it bare."""
    path = tmp_path / "agent.yml"
    path.write_text(textwrap.dedent("""\
        config_repo: {url: /srv/git/fleet.git}
        state_dir: /tmp/x
        notify:
          - url: https://hooks.example.com/T000/B000/xyz
            on: [failed, recovered]
          - {url: "http://127.0.0.1:8080/hook"}
    """))

    config = load_agent_config(path)

    assert [target.on for target in config.notify] == [
        ("failed", "recovered"), ("failed", "rolled_back", "drifted", "recovered", "stale")]
    assert config.notify[1].timeout == 5


@pytest.mark.parametrize("text", [
    "notify:\n  on: [failed]\n",  # a mapping where a list belongs, with a bool key
    "yes: 1\n",
    "notify:\n  - {url: 'ftp://x', on: [sometimes]}\n",
])
def test_odd_keys_and_values_are_one_clear_error_not_a_crash(tmp_path, text):
    path = tmp_path / "agent.yml"
    path.write_text("config_repo: {url: /srv/git/fleet.git}\nstate_dir: /tmp/x\n" + text)

    with pytest.raises(ConfigError) as raised:
        load_agent_config(path)

    assert str(raised.value).startswith(f"{path}:")


def test_a_bad_webhook_url_is_named_but_never_shown(tmp_path):
    path = tmp_path / "agent.yml"
    path.write_text("config_repo: {url: /srv/git/fleet.git}\nstate_dir: /tmp/x\n"
                    "notify: [{url: 'htps://hooks.example.com/T000/B000/SECRETXYZ'}]\n")

    with pytest.raises(ConfigError) as raised:
        load_agent_config(path)

    assert "notify[0].url: must be an http:// or https:// URL" in str(raised.value)
    assert "SECRETXYZ" not in str(raised.value)
