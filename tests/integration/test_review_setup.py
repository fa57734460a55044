"""Review of `gitops-agent setup`, `run-playbook --check` and the deploy mark, as an
operator or an attacker would meet them: real repos, real processes (an unprivileged
user, SIGKILL at each rename), real files. Each test proved a defect before its fix."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_agent.config import load_agent_config
from tests.conftest import World
from tests.helpers import Remote, cli
from tests.systemd_verify import needs

REPO = Path(__file__).resolve().parents[2]
CONFIG = "etc/gitops-agent/config.yml"
KEY = "etc/gitops-agent/id_ed25519"
UNIT = "etc/systemd/system/gitops-agent.service"


def setup(root: Path, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return cli("setup", "--root", str(root), *args, timeout=60, env=env)


def one_error(done: subprocess.CompletedProcess[str], code: int) -> str:
    """The one line on stderr of a command that failed with `code`."""
    assert done.returncode == code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0], done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Remote:
    remote = Remote(tmp_path_factory.mktemp("fleet"), "fleet")
    remote.write("apps/a.yml", "playbook: p.yml\n").commit()
    return remote


# --- flags and values -------------------------------------------------------------------


def test_setup_refuses_the_global_config_option_and_warns_of_the_variable(
        tmp_path: Path, fleet: Remote) -> None:
    root = tmp_path / "root"
    done = subprocess.run([sys.executable, "-m", "gitops_agent", "--config", str(tmp_path / "x"),
                           "setup", "--root", str(root), "--config-url", fleet.url],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "setup takes no --config: it writes /etc/gitops-agent/config.yml" in one_error(done, 2)
    assert not root.exists()
    done = setup(root, "--config-url", fleet.url, "--config", str(tmp_path / "x"))
    assert "setup takes no --config: it writes /etc/gitops-agent/config.yml" in one_error(done, 2)
    assert not root.exists()
    default = setup(root, "--config-url", fleet.url, "--config", "/etc/gitops-agent/config.yml",
                    "--dry-run")
    assert default.returncode == 0, default.stderr  # the one file it writes: every verb
    assert not root.exists()                        # takes --config (SPEC §6)

    elsewhere = str(tmp_path / "agent.yml")
    done = setup(root, "--config-url", fleet.url, env={"GITOPS_AGENT_CONFIG": elsewhere})
    assert done.returncode == 0, done.stderr
    assert (f"warning: GITOPS_AGENT_CONFIG={elsewhere} is left aside: setup writes "
            "/etc/gitops-agent/config.yml") in done.stderr
    assert (root / CONFIG).is_file() and not Path(elsewhere).exists()


SECRET = "s3cr$t@pass"


@pytest.mark.parametrize("args", [
    ["--config-url", f"https://bob:{SECRET}@git.example.test/ops/fleet .git"],
    ["--config-url", "/srv/fleet.git", "--status-url", f"ssh://bob:{SECRET}@h/x`id`.git"],
])
def test_a_refused_url_is_shown_without_its_credentials(tmp_path: Path, args: list[str]) -> None:
    done = setup(tmp_path / "root", *args, "--debug")
    assert done.returncode == 2, done.stderr
    assert "refusing git URL" in done.stderr and "***@" in done.stderr
    assert "s3cr" not in done.stdout + done.stderr and "pass" not in done.stderr


@pytest.mark.parametrize(("args", "says"), [
    (["--host-name", "web-01\n"], "--host-name 'web-01\\n': use letters"),
    (["--host-name", "web-01\nstate_dir: /tmp"], "use letters"),
    (["--branch", "main\n"], "--branch 'main\\n' is not a branch name"),
])
def test_a_newline_in_a_value_is_refused_and_nothing_written(
        tmp_path: Path, fleet: Remote, args: list[str], says: str) -> None:
    root = tmp_path / "root"
    assert says in one_error(setup(root, "--config-url", fleet.url, *args), 2)
    assert not root.exists()


def test_the_agent_config_refuses_a_host_name_with_a_final_newline(tmp_path: Path) -> None:
    """The schema's `$` is ECMA's (the end of the text), not Python's."""
    path = tmp_path / "agent.yml"
    path.write_text('host: {name: "web-01\\n"}\nconfig_repo: {url: /srv/fleet.git}\n')
    done = cli("status", config=path)
    assert "host.name: 'web-01\\n' does not match" in one_error(done, 2)


def test_a_directory_where_the_config_belongs_is_one_line(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / CONFIG).mkdir(parents=True)
    line = one_error(setup(root), 1)
    assert line == f"gitops-agent: error: {root / CONFIG} is not a regular file: move it away first"


def test_a_root_that_only_leads_to_slash_is_refused(tmp_path: Path, fleet: Remote) -> None:
    """A link to / (left in /tmp by anyone) would set up and start this host for real."""
    link = tmp_path / "image"
    link.symlink_to("/")
    done = setup(link, "--dry-run", "--config-url", fleet.url)  # a dry run: this host, if not
    assert f"--root {link} leads to /: give --root / (or none)" in one_error(done, 2)
    script = subprocess.run(["bash", str(REPO / "install/install.sh"), "--root", str(link),
                             "--dry-run"], capture_output=True, text=True, timeout=60)
    assert script.returncode == 2 and f"--root {link} leads to /" in script.stderr


def test_output_to_a_reader_that_went_away_is_no_error(tmp_path: Path, fleet: Remote) -> None:
    """`gitops-agent setup --dry-run | head -1`: no "internal error: BrokenPipeError"."""
    command = [sys.executable, "-m", "gitops_agent", "setup", "--root", str(tmp_path / "root"),
               "--dry-run", "--config-url", fleet.url]
    done = subprocess.run(["bash", "-c", '"$@" | true', "-", *command], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.stderr == ""


# --- an unprivileged user -----------------------------------------------------------------


def as_nobody() -> list[str]:
    """A command prefix that runs the agent's code as user nobody (a Python it can read)."""
    setpriv = needs("setpriv", "util-linux")
    path = f"{REPO}:{sysconfig.get_paths()['purelib']}"
    prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "env",
              "HOME=/nonexistent", f"PYTHONPATH={path}"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/{version}"):
        probe = subprocess.run([*prefix, python, "-c", "import click, yaml, gitops_agent.cli"],
                               capture_output=True, timeout=60)
        if probe.returncode == 0:
            return [*prefix, python]
    pytest.skip(f"no {version} that user nobody can run here")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A temp dir every user may enter (pytest's own are root's only)."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to set up as root and then look as nobody")
    path = Path(tempfile.mkdtemp(prefix="gitops-agent-review-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_a_non_root_dry_run_on_a_root_only_config_is_one_clear_line(
        open_dir: Path, fleet: Remote) -> None:
    root = open_dir / "root"
    assert setup(root, "--config-url", fleet.url).returncode == 0
    (root / "etc/gitops-agent").chmod(0o755)  # the config itself stays 0600 root's
    for _ in range(2):
        done = subprocess.run([*as_nobody(), "-m", "gitops_agent", "setup", "--root", str(root),
                               "--dry-run"], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert one_error(done, 1) == (
            f"gitops-agent: error: {root / CONFIG}: Permission denied (setup reads and writes "
            "files of root: run it as root)")
        (root / "etc/gitops-agent").chmod(0o700)  # and as installed: not even to be seen


# --- nothing half-done --------------------------------------------------------------------


def leftovers(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob(".*"))


def test_a_run_killed_at_each_rename_leaves_whole_files_and_a_rerun_tidies_up(
        tmp_path: Path, fleet: Remote) -> None:
    """SIGKILL at the Nth rename(2): config, public key, private key, known_hosts, unit."""
    strace = needs("strace", "strace")
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for number in range(1, 6):
        root = tmp_path / f"root-{number}"
        killed = subprocess.run(
            [strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2",
             "-e", f"inject=rename,renameat,renameat2:signal=KILL:when={number}",
             sys.executable, "-m", "gitops_agent", "setup", "--root", str(root),
             "--config-url", fleet.url], capture_output=True, text=True, timeout=60,
            env=environment, stdin=subprocess.DEVNULL)
        assert killed.returncode != 0, (number, killed.stdout)
        if (root / CONFIG).exists():
            load_agent_config(root / CONFIG)  # whole, or not there
        assert not (root / KEY).exists() or (root / f"{KEY}.pub").exists()
        if (root / UNIT).exists():
            assert (root / UNIT).read_text() == (REPO / "install/systemd" / UNIT.split("/")[-1]
                                                 ).read_text()

        again = setup(root, "--config-url", fleet.url)

        assert again.returncode == 0, (number, again.stdout, again.stderr)
        assert leftovers(root) == [], (number, again.stdout)
        derived = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(root / KEY)],
                                 capture_output=True, text=True, check=True).stdout
        assert derived.split()[:2] == (root / f"{KEY}.pub").read_text().split()[:2]


def test_a_second_setup_while_one_runs_is_refused_and_the_key_pair_stays_whole(
        tmp_path: Path, fleet: Remote) -> None:
    """Run A is held 2 s at its 2nd rename (the new public key); run B starts meanwhile."""
    strace = needs("strace", "strace")
    root = tmp_path / "root"
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with subprocess.Popen(
            [strace, "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat,renameat2",
             "-e", "inject=rename,renameat,renameat2:delay_enter=2000000:when=2",
             sys.executable, "-m", "gitops_agent", "setup", "--root", str(root),
             "--config-url", fleet.url], env=environment, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL) as first:
        for _ in range(100):
            if list((root / "etc/gitops-agent").glob(".keygen-*/key.pub")):
                break
            time.sleep(0.05)
        second = setup(root, "--config-url", fleet.url)
        out, err = first.communicate(timeout=60)

    assert first.returncode == 0, out + err
    assert "another gitops-agent setup is running here" in one_error(second, 1)
    derived = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(root / KEY)],
                             capture_output=True, text=True, check=True).stdout
    assert derived.split()[:2] == (root / f"{KEY}.pub").read_text().split()[:2]
    assert leftovers(root) == []


def test_a_dry_run_writes_nothing_anywhere(tmp_path: Path, fleet: Remote) -> None:
    """Not in the root, the home dir or the temp dir, for a new root and a set-up one."""
    home, scratch, root = tmp_path / "home", tmp_path / "tmp", tmp_path / "root"
    home.mkdir()
    scratch.mkdir()
    environment = {"HOME": str(home), "TMPDIR": str(scratch)}
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("git.example.test ssh-ed25519 "
                           "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    dry = setup(root, "--dry-run", "--config-url", fleet.url, "--known-hosts-file",
                str(known_hosts), env=environment)
    assert dry.returncode == 0, dry.stderr
    assert not root.exists() and list(home.iterdir()) == list(scratch.iterdir()) == []

    assert setup(root, "--config-url", fleet.url).returncode == 0
    (root / KEY).chmod(0o644)
    (root / "etc/gitops-agent/.config.yml.left0ver").write_text("half")
    before = {str(path): (path.lstat().st_mode, path.lstat().st_mtime_ns)
              for path in [root, *root.rglob("*")]}
    dry = setup(root, "--dry-run", "--mode", "timer", "--known-hosts-file", str(known_hosts),
                env=environment)
    assert dry.returncode == 0, dry.stderr
    assert "would fix" in dry.stdout and "would remove" in dry.stdout
    assert {str(path): (path.lstat().st_mode, path.lstat().st_mtime_ns)
            for path in [root, *root.rglob("*")]} == before
    assert list(home.iterdir()) == list(scratch.iterdir()) == []


# --- units systemd-analyze verify rejects ----------------------------------------------------


@pytest.fixture
def whole_root(tmp_path: Path) -> Path:
    """A root that is a whole system for systemd-analyze (its own units, /bin/kill), without
    the venv the units run: so verify rejects them."""
    needs("systemd-analyze", "systemd")
    if not Path("/usr/lib/systemd/system/multi-user.target").exists():
        pytest.skip("no systemd unit files on this host to verify against")
    root = tmp_path / "root"
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/bin").mkdir()
    shutil.copy2("/usr/bin/kill", root / "usr/bin/kill")
    for name in ("bin", "lib", "sbin"):
        (root / name).symlink_to(f"usr/{name}")
    return root


def test_units_that_verify_rejects_are_not_installed_and_a_rerun_checks_again(
        whole_root: Path, fleet: Remote) -> None:
    root = whole_root
    for args in (["--config-url", fleet.url], []):
        done = setup(root, *args)
        assert done.returncode == 1, done.stdout
        assert "systemd-analyze verify failed for gitops-agent.service (not installed)" in \
            done.stderr and "is not executable" in done.stderr
        assert not (root / UNIT).exists() and "enable" not in done.stdout
    agent = root / "opt/gitops-agent/bin/gitops-agent"
    agent.parent.mkdir(parents=True)
    agent.write_text("#!/bin/sh\n")
    agent.chmod(0o755)
    assert setup(root).returncode == 0
    agent.unlink()  # a switch of mode that verify rejects keeps the working mode's unit

    done = setup(root, "--mode", "timer")

    assert done.returncode == 1 and "(not installed)" in done.stderr
    assert sorted(path.name for path in (root / "etc/systemd/system").iterdir()) == [
        "gitops-agent.service"]


# --- run-playbook --check and plan --check: copies, never the agent's checkouts -------------


def tree_of(path: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under `path` (.git included): mode, mtime, content or link target."""
    found = {}
    for entry in sorted(path.rglob("*")) if path.exists() else ():
        info = entry.lstat()
        content = (os.readlink(entry).encode() if entry.is_symlink() else
                   entry.read_bytes() if entry.is_file() else b"")
        found[str(entry.relative_to(path))] = (info.st_mode, info.st_mtime_ns, content)
    return found


@pytest.fixture
def deployed(world: World, tmp_path: Path) -> tuple[World, Remote, Path]:
    """App `web` with `deploy:` (a source synced to dest, a config file, a command), applied
    once; then its source moves on (a commit the agent's checkout does not have yet, with
    an absolute symlink and an export-ignore attribute) and its config file changes."""
    source = Remote(tmp_path, "web-src")
    source.write("index.html", "v1\n").commit("v1")
    dest, log = tmp_path / "srv/web", tmp_path / "commands.log"
    world.config_repo.write("files/web.conf", "port = 1\n")
    world.app("web", f"""\
source: {{url: {source.url}}}
deploy:
  dest: {dest}
  files: [{{src: files/web.conf, dest: {dest}/web.conf, mode: "0640"}}]
  commands: ['/bin/sh -c "echo ran >> {log}"']
""").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    source.write("index.html", "v2\n").write("tests/t.txt", "kept\n")
    source.write(".gitattributes", "tests/ export-ignore\n")
    (source.work / "passwd").symlink_to("/etc/passwd")
    source.commit("v2")
    world.config_repo.write("files/web.conf", "port = 2\n").commit()
    return world, source, dest


def test_check_of_a_deploy_app_reads_copies_and_writes_nothing_in_state_or_dest(
        deployed: tuple[World, Remote, Path], tmp_path: Path) -> None:
    world, _, dest = deployed
    state_dir = world.state_dir
    watched = {name: tree_of(state_dir / name) for name in ("repos", "deploy-pending")}
    watched["dest"] = tree_of(dest)

    done = cli("run-playbook", "web", "--check", "--json", config=world.config_path)

    assert done.returncode == 0, done.stdout + done.stderr
    web = json.loads(done.stdout)["apps"]["web"]
    assert web["state"] == "would_change", web
    assert {name: tree_of(state_dir / name) for name in ("repos", "deploy-pending")} | {
        "dest": tree_of(dest)} == watched
    assert list((state_dir / "tmp").iterdir()) == []
    assert (tmp_path / "commands.log").read_text() == "ran\n"  # the first apply's run only

    before, in_dest = tree_of(state_dir), tree_of(dest)  # plan --check: not even artifacts
    planned = cli("plan", "--check", "--json", config=world.config_path)
    assert planned.returncode == 3, planned.stdout + planned.stderr
    (row,) = json.loads(planned.stdout)["apps"]
    assert row["check"]["ok"] and row["check"]["state"] == "would_change", row
    assert tree_of(state_dir) == before and tree_of(dest) == in_dest


SLOW_CHECK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Take a long time, in check mode too
      ansible.builtin.shell: "touch {{ out_dir }}/started; exec sleep 120"
      check_mode: false
"""


def test_sigterm_mid_check_removes_its_copies_and_leaves_no_checkout_or_process(
        world: World, tmp_path: Path) -> None:
    source = Remote(tmp_path, "slow-src")
    source.write("index.html", "v1\n").commit()
    world.config_repo.write("playbooks/slow.yml", SLOW_CHECK)
    world.app("slow", f"playbook: playbooks/slow.yml\nsource: {{url: {source.url}}}\n")
    world.config_repo.commit()
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with subprocess.Popen([sys.executable, "-m", "gitops_agent", "run-playbook", "slow",
                           "--check", "--config", str(world.config_path)], env=environment,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          stdin=subprocess.DEVNULL) as process:
        started = world.out / "started"
        for _ in range(600):
            if started.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        assert started.exists(), process.communicate()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode != 0, out + err
    assert "Traceback" not in err
    assert list((world.state_dir / "tmp").iterdir()) == []  # its copies are gone
    assert stat.S_IMODE(world.state_dir.stat().st_mode) == 0o700  # as a pass makes it
    kept = {path.name for path in world.state_dir.iterdir()}
    assert kept <= {"lock", "tmp", "runs"}, kept  # no checkout, no state: check records nothing
    left = subprocess.run(["pgrep", "-f", f"touch {world.out}/started"], capture_output=True)
    assert left.returncode == 1, left.stdout  # nothing it started is left running


def test_a_copy_of_a_commit_has_the_files_a_checkout_has(tmp_path: Path) -> None:
    """Absolute symlinks and export-ignore paths too (git archive refused the one and
    left out the other), and the repo it is read from is not written."""
    from gitops_agent import git_objects

    source = Remote(tmp_path, "src")
    source.write("tests/t.txt", "kept\n").write(".gitattributes", "tests/ export-ignore\n")
    (source.work / "passwd").symlink_to("/etc/passwd")
    sha = source.commit()
    before = tree_of(source.bare)

    copy = git_objects.export(source.bare, sha, tmp_path / "copy")

    assert tree_of(copy).keys() == {".gitattributes", "passwd", "tests", "tests/t.txt"}
    assert os.readlink(copy / "passwd") == "/etc/passwd"
    assert tree_of(source.bare) == before and sorted(os.listdir(tmp_path)) == [
        "copy", "src-work", "src.git"]


# --- the deploy sync's pending mark ----------------------------------------------------------


def family(pid: int) -> list[int]:
    """`pid` and every process under it (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += parents.get(found[-1], [])
    return found


def test_a_deploy_killed_after_a_config_file_is_in_place_still_owes_its_commands(
        world: World, tmp_path: Path) -> None:
    """The service killed whole (OOM, power) between a config file put in place and the
    pending mark: the next pass must still run the commands."""
    log, conf = tmp_path / "commands.log", tmp_path / "web.conf"
    world.config_repo.write("files/web.conf", "port = 1\n")
    world.app("web", f"""\
deploy:
  files: [{{src: files/web.conf, dest: {conf}, mode: "0640"}}]
  commands: ['/bin/sh -c "echo ran >> {log}"']
""").config_repo.commit()
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with subprocess.Popen([sys.executable, "-m", "gitops_agent", "run", "--config",
                           str(world.config_path)], env=environment, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as agent:
        while not conf.exists() and agent.poll() is None:
            time.sleep(0.005)
        for pid in family(agent.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert conf.read_text() == "port = 1\n" and not log.exists()  # killed before the commands

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text() == "ran\n"
    assert not (world.state_dir / "deploy-pending/web").exists()
    assert not (world.state_dir / "deploy-running/web").exists()


@pytest.mark.parametrize(("where", "says"), [
    ("dest/.pending", "must be outside src and dest"),       # the sync would delete it
    ("dest-link/.pending", "must be outside src and dest"),  # the same, through a link
    ("src/.pending", "must be outside src and dest"),        # it would be synced
    ("state", "must name a file, not a directory"),
    ("state/pending/", "must name a file, not a directory"),
])
def test_a_mark_the_sync_would_lose_or_cannot_write_is_refused_before_any_change(
        tmp_path: Path, where: str, says: str) -> None:
    from tests.integration.test_deploy_module import make_source, sync

    src, dest = make_source(tmp_path), tmp_path / "dest"
    (tmp_path / "state").mkdir()
    (tmp_path / "dest-link").symlink_to("dest")

    done = sync(tmp_path, src, dest, mark_file=f"{tmp_path}/{where}", mark_content="c k")

    assert done["failed"] and says in done["msg"], done
    assert not dest.exists() and list((tmp_path / "state").iterdir()) == []


# --- examples/fleet-install ----------------------------------------------------------------


def test_fleet_install_never_shows_a_config_url_token_even_when_the_install_fails(
        tmp_path: Path) -> None:
    """Its install task's command line holds the URL: Ansible printed it with a failure."""
    root = tmp_path / "root"
    script = root / "usr/local/src/gitops-agent/install/install.sh"
    script.parent.mkdir(parents=True)
    shutil.copy2(REPO / "install/install.sh", script)  # fails at once: a bad --version
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[gitops_agents]\nweb-01 ansible_connection=local "
                         f"ansible_python_interpreter={sys.executable}\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-v", "-i", str(inventory),
         str(REPO / "examples/fleet-install/install.yml"),
         "--start-at-task", "Install the agent and run gitops-agent setup",
         "-e", f"gitops_agent_root={root}", "-e", f"gitops_agent_keys_dir={tmp_path}/keys",
         "-e", f"gitops_agent_config_url=https://bob:{SECRET}@git.example.test/fleet.git",
         "-e", "gitops_agent_version=latest"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    assert done.returncode == 2, done.stdout
    assert "s3cr" not in done.stdout + done.stderr
    assert "install.sh exited 2: install.sh: --version 'latest' is not a version" in done.stdout


# --- install/install.sh ---------------------------------------------------------------------


def install(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "install/install.sh"), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={**os.environ, "TMPDIR": str(root.parent)})


def test_install_uninstalls_what_a_failed_install_left(tmp_path: Path) -> None:
    """A venv pip could not install the agent into: no setup to call, the venv goes."""
    root = tmp_path / "root"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "opt/gitops-agent")],
                   check=True, timeout=60)
    done = install(root, "--uninstall")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (root / "opt/gitops-agent").exists()
    assert "a failed install?" in done.stdout


def test_install_dry_run_hides_a_password_holding_an_at(tmp_path: Path) -> None:
    done = install(tmp_path / "root", "--dry-run", "--config-url",
                   f"https://bob:{SECRET}@git.example.test/fleet.git")
    assert done.returncode == 0, done.stderr
    assert "would run: gitops-agent setup --dry-run --config-url https://***@git.example.test" \
        in done.stdout and "s3cr" not in done.stdout + done.stderr
