"""The `deploy:` shorthand end to end: the shipped playbook and roles, through the real CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.conftest import World
from tests.helpers import Remote, cli, report, runs, state


@dataclass
class Deploy:
    """One app deployed with `deploy:`: its source repo, where it goes, its command's log."""

    source: Remote
    dest: Path
    extra: Path  # a config file outside dest, in a directory the role must create
    log: Path  # one line per run of the app's command

    def ran(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


def make_deploy(world: World, tmp_path: Path, command: str | None = None) -> Deploy:
    """An app `web` syncing a source repo to dest, with two config files and a command."""
    source = Remote(tmp_path, "web-src")
    source.write("index.html", "<h1>v1</h1>\n").write("docs/guide.md", "# guide\n")
    source.write("bin/start.sh", "#!/bin/sh\necho started\n")
    source.write("app.conf", "the source's own copy, overridden by the config repo\n")
    (source.work / "bin/start.sh").chmod(0o755)
    source.commit("v1")
    deploy = Deploy(source, tmp_path / "srv" / "web", tmp_path / "etc" / "web" / "extra.ini",
                    tmp_path / "commands.log")
    command = command or f'/bin/sh -c "echo ran >> {deploy.log}"'
    world.config_repo.write("files/web/app.conf", "port = 8080\n")
    world.config_repo.write("files/web/extra.ini", "[extra]\n")
    world.app("web", f"""\
source: {{url: {source.url}}}
deploy:
  dest: {deploy.dest}
  files:
    - {{src: files/web/app.conf, dest: {deploy.dest}/app.conf, mode: "0640"}}
    - {{src: files/web/extra.ini, dest: {deploy.extra}, mode: "0600"}}
  commands: ['{command}']
""")
    world.config_repo.commit("deploy web")
    return deploy


def run(world: World, *args: str) -> None:
    done = cli("run", *args, config=world.config_path)
    assert done.returncode == 0, done.stdout + done.stderr


def changed(world: World) -> int:
    return report(world.config_repo)["apps"]["web"]["stats"]["changed"]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_deploy_first_apply_syncs_source_puts_files_and_runs_commands_once(world, tmp_path):
    deploy = make_deploy(world, tmp_path)

    run(world)

    files = sorted(str(path.relative_to(deploy.dest)) for path in deploy.dest.rglob("*"))
    assert files == ["app.conf", "bin", "bin/start.sh", "docs", "docs/guide.md", "index.html"]
    assert (deploy.dest / "index.html").read_text() == "<h1>v1</h1>\n"
    assert mode(deploy.dest / "bin/start.sh") == 0o755
    assert mode(deploy.dest / "index.html") == 0o644
    assert (deploy.dest / "app.conf").read_text() == "port = 8080\n"  # the repo's, not the source's
    assert mode(deploy.dest / "app.conf") == 0o640
    assert deploy.extra.read_text() == "[extra]\n" and mode(deploy.extra) == 0o600
    assert deploy.ran() == 1
    assert report(world.config_repo)["apps"]["web"]["state"] == "applied"
    assert changed(world) > 0


def test_deploy_unchanged_pass_runs_no_ansible_and_forced_pass_changes_nothing(world, tmp_path):
    deploy = make_deploy(world, tmp_path)
    run(world)
    runs_after_apply = runs(world.state_dir, "web")

    run(world)

    assert runs(world.state_dir, "web") == runs_after_apply  # no playbook run at all
    assert deploy.ran() == 1

    run(world, "--force")

    assert len(runs(world.state_dir, "web")) == len(runs_after_apply) + 1
    assert report(world.config_repo)["apps"]["web"]["state"] == "applied"
    assert changed(world) == 0
    assert deploy.ran() == 1  # nothing changed, so the command did not run


def test_deploy_config_file_change_runs_commands_exactly_once_more(world, tmp_path):
    deploy = make_deploy(world, tmp_path)
    run(world)

    world.config_repo.write("files/web/app.conf", "port = 9090\n").commit("move web")
    run(world)

    assert (deploy.dest / "app.conf").read_text() == "port = 9090\n"
    assert mode(deploy.dest / "app.conf") == 0o640
    assert changed(world) > 0
    assert deploy.ran() == 2

    run(world, "--force")

    assert changed(world) == 0
    assert deploy.ran() == 2


def test_deploy_source_change_syncs_deletions_and_runs_commands_once(world, tmp_path):
    deploy = make_deploy(world, tmp_path)
    run(world)

    deploy.source.write("index.html", "<h1>v2</h1>\n").remove("docs/guide.md").commit("v2")
    run(world)

    assert (deploy.dest / "index.html").read_text() == "<h1>v2</h1>\n"
    assert not (deploy.dest / "docs").exists()  # its only file left the source
    assert (deploy.dest / "app.conf").read_text() == "port = 8080\n"  # still the repo's
    assert not (deploy.dest / ".git").exists()
    assert changed(world) > 0
    assert deploy.ran() == 2


def test_deploy_failed_command_runs_again_at_the_next_pass_then_stops(world, tmp_path):
    ready = tmp_path / "ready"
    log = tmp_path / "commands.log"
    deploy = make_deploy(world, tmp_path, f'/bin/sh -c "test -e {ready} && echo ran >> {log}"')

    first = cli("run", config=world.config_path)

    assert first.returncode == 1
    assert report(world.config_repo)["apps"]["web"]["state"] == "failed"
    assert (deploy.dest / "index.html").exists() and deploy.ran() == 0

    ready.touch()
    run(world)  # the last apply failed, so the agent applies again: the command is owed

    assert report(world.config_repo)["apps"]["web"]["state"] == "applied"
    assert deploy.ran() == 1

    run(world, "--force")

    assert changed(world) == 0
    assert deploy.ran() == 1


def test_deploy_plan_shows_pending_changes_without_making_them(world, tmp_path):
    deploy = make_deploy(world, tmp_path)

    fresh = cli("plan", "--check", config=world.config_path)

    assert fresh.returncode == 3, fresh.stdout + fresh.stderr
    assert "first apply" in fresh.stdout and "would change" in fresh.stdout
    assert not deploy.dest.exists() and not deploy.extra.exists() and deploy.ran() == 0

    run(world)
    settled = cli("plan", "--check", config=world.config_path)

    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert "nothing to do" in settled.stdout
    assert deploy.ran() == 1
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"


def test_deploy_refuses_to_write_a_config_file_through_a_symlink_from_the_source(world,
                                                                                tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    source = Remote(tmp_path, "evil-src")
    source.write("index.html", "hi\n")
    (source.work / "conf").symlink_to(outside)  # committed as a symlink
    source.commit("a link out of dest")
    dest = tmp_path / "srv" / "evil"
    world.config_repo.write("files/app.ini", "[app]\n")
    world.app("evil", f"""\
source: {{url: {source.url}}}
deploy:
  dest: {dest}
  files:
    - {{src: files/app.ini, dest: {dest}/conf/app.ini, mode: "0600"}}
""")
    world.config_repo.commit("deploy evil")

    done = cli("run", config=world.config_path)

    assert done.returncode == 1
    assert not (outside / "app.ini").exists()
    record = state(world.state_dir)["apps"]["evil"]
    assert record["state"] == "failed" and "not symlinks" in record["message"]
