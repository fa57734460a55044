"""`gitops-agent setup` for real, into temp roots (--root): the config it writes validates,
the units pass `systemd-analyze verify`, the deploy key has the right modes, and the
first pass with that config succeeds; a re-run changes nothing, --dry-run writes nothing,
and access to an ssh config repo is checked against sshd on loopback."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from gitops_agent.config import load_agent_config
from tests.helpers import Remote, cli, free_port, keygen, start_sshd
from tests.systemd_verify import needs, verify_problems

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "install" / "systemd"
CONFIG = "etc/gitops-agent/config.yml"
KEY = "etc/gitops-agent/id_ed25519"


def setup(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli("setup", "--root", str(root), *args, timeout=60)


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file and directory under `root`: mode, mtime and content."""
    found = {}
    for path in sorted([root, *root.rglob("*")]):
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        found[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns, content)
    return found


def first_pass(root: Path) -> subprocess.CompletedProcess[str]:
    """`gitops-agent run` with the config setup wrote, in a mount namespace where the root's
    /etc and /var/lib lie over the host's (overlays: the agent sees /etc/gitops-agent and
    writes /var/lib/gitops-agent into the root, and nothing of this host changes)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("the first pass at the installed paths needs root and unshare")
    work = root.parent / "overlay-work"
    work.mkdir()
    script = (f"mount -t overlay overlay -o lowerdir={root}/etc:/etc /etc && "
              f"mount -t overlay overlay -o lowerdir=/var/lib,upperdir={root}/var/lib,"
              f"workdir={work} /var/lib && "
              f'exec "$0" -m gitops_agent run --config /etc/gitops-agent/config.yml')
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr.decode().strip()}")
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["unshare", "-m", "sh", "-c", script, sys.executable],
                          capture_output=True, text=True, timeout=120, env=environment,
                          stdin=subprocess.DEVNULL)


@dataclass
class SetUp:
    root: Path
    remote: Remote
    out: Path
    first: subprocess.CompletedProcess[str]


@pytest.fixture
def set_up(tmp_path: Path) -> SetUp:
    """setup --root with flags, against a local bare config repo with one app."""
    needs("ssh-keygen", "openssh-client")
    out = tmp_path / "out"
    out.mkdir()
    remote = Remote(tmp_path, "fleet")
    remote.write("apps/hello.yml", "playbook: playbooks/hello.yml\n")
    remote.write("playbooks/hello.yml", f"""\
- hosts: all
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.copy:
        dest: {out}/hello.txt
        content: "hello from {{{{ gitops_host }}}}\\n"
""").commit()
    root = tmp_path / "root"
    first = setup(root, "--config-url", f"file://{remote.bare}", "--branch", "main",
                  "--host-name", "web-01")
    return SetUp(root, remote, out, ok(first))


def test_setup_writes_a_valid_config_a_key_and_units_and_the_first_pass_succeeds(
        set_up: SetUp, tmp_path: Path) -> None:
    root = set_up.root
    config_file = root / CONFIG
    config = load_agent_config(config_file)
    assert (config.host, config.config_repo.url, config.config_repo.branch) == (
        "web-01", f"file://{set_up.remote.bare}", "main")
    assert config.config_repo.ssh_key == "/etc/gitops-agent/id_ed25519"
    assert config.state_dir == Path("/var/lib/gitops-agent")
    modes = {path: stat.S_IMODE((root / path).stat().st_mode) for path in (
        "etc/gitops-agent", CONFIG, KEY, f"{KEY}.pub", "etc/gitops-agent/known_hosts",
        "var/lib/gitops-agent", "etc/systemd/system/gitops-agent.service")}
    assert modes == {"etc/gitops-agent": 0o700, CONFIG: 0o600, KEY: 0o600, f"{KEY}.pub": 0o644,
                     "etc/gitops-agent/known_hosts": 0o644, "var/lib/gitops-agent": 0o700,
                     "etc/systemd/system/gitops-agent.service": 0o644}
    public = (root / f"{KEY}.pub").read_text().strip()
    assert public.startswith("ssh-ed25519 ") and public.endswith(" gitops-agent@web-01")
    derived = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(root / KEY)],
                             capture_output=True, text=True, check=True).stdout
    assert derived.split()[:2] == public.split()[:2]  # no passphrase
    assert public in set_up.first.stdout
    assert "works: branch main is at" in set_up.first.stdout
    assert f"systemctl --root={root} enable gitops-agent.service" in set_up.first.stdout
    unit = root / "etc/systemd/system/gitops-agent.service"
    assert unit.read_text() == (UNITS / "gitops-agent.service").read_text()
    assert verify_problems(root, ["gitops-agent.service"], tmp_path, stub_agent=True) == ""

    done = first_pass(root)

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^hello\s+applied", done.stdout, re.M), done.stdout
    assert (set_up.out / "hello.txt").read_text() == "hello from web-01\n"
    assert (root / "var/lib/gitops-agent/state.json").exists()
    report = yaml.safe_load(set_up.remote.read("gitops-status/web-01", "hosts/web-01.yml"))
    assert report["apps"]["hello"]["state"] == "applied"


def test_setup_again_changes_nothing(set_up: SetUp) -> None:
    before = snapshot(set_up.root)

    again = ok(setup(set_up.root, "--config-url", "/elsewhere.git"))

    assert snapshot(set_up.root) == before
    block = again.stdout.split("\n\n")[0].splitlines()[1:]  # one line an item
    items = [line.split()[0] for line in block if not line.startswith("   ")]
    assert items and set(items) == {"unchanged"}, again.stdout
    assert "(--config-url left it as it is" in again.stdout


def test_timer_mode_replaces_the_daemon_units_and_passes_verify(set_up: SetUp,
                                                                tmp_path: Path) -> None:
    unit_dir = set_up.root / "etc/systemd/system"
    out = ok(setup(set_up.root, "--mode", "timer")).stdout
    assert f"removed      {unit_dir}/gitops-agent.service" in out
    assert sorted(path.name for path in unit_dir.iterdir()) == [
        "gitops-agent-run.service", "gitops-agent-run.timer"]
    assert f"systemctl --root={set_up.root} enable gitops-agent-run.timer" in out
    units = ["gitops-agent-run.service", "gitops-agent-run.timer"]
    assert verify_problems(set_up.root, units, tmp_path, stub_agent=True) == ""
    again = ok(setup(set_up.root)).stdout  # without --mode: stays a timer
    assert "timer mode" in again and "removed" not in again


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    remote = Remote(tmp_path, "fleet")
    remote.write("apps/a.yml", "playbook: p.yml\n").commit()
    root = tmp_path / "root"
    done = ok(setup(root, "--dry-run", "--config-url", remote.url))
    assert not root.exists()
    assert f"would create {root}/etc/gitops-agent/config.yml (mode 0600)" in done.stdout
    assert "would create" in done.stdout and "created" not in done.stdout
    root.mkdir()
    ok(setup(root, "--dry-run", "--config-url", remote.url, "--mode", "timer"))
    assert list(root.iterdir()) == []


def test_missing_config_url_without_a_terminal_is_one_line_and_writes_nothing(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    done = setup(root, "--host-name", "web-01")
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [
        "gitops-agent: error: --config-url is missing: give the config repo's git URL (there "
        "is no terminal to ask on); nothing was written"]
    assert done.stdout == ""
    assert not root.exists()


@pytest.mark.parametrize(("args", "says"), [
    (["--config-url", "ext::sh -c id"], "--config-url: refusing git URL"),
    (["--config-url", "/r.git", "--host-name", "web 01"], "--host-name 'web 01': use letters"),
    (["--config-url", "/r.git", "--branch", "-x"], "--branch '-x' is not a branch name"),
    (["--config-url", "/r.git", "--git-host", "h:99999"], "--git-host 'h:99999' is not HOST"),
    (["--check", "--mode", "timer"], "--check does not take --mode"),
    (["--purge"], "--purge goes with --uninstall"),
])
def test_bad_values_are_one_line_exit_2_and_write_nothing(tmp_path: Path, args: list[str],
                                                          says: str) -> None:
    root = tmp_path / "root"
    done = setup(root, *args)
    assert done.returncode == 2, done
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr
    assert not root.exists()


def test_an_invalid_existing_config_is_reported_with_lines_and_kept(set_up: SetUp) -> None:
    config = set_up.root / CONFIG
    text = config.read_text().replace("interval: 60", "interval: soon")
    config.write_text(text + "colour: blue\n")
    done = setup(set_up.root)
    assert done.returncode == 2
    line = text.splitlines().index("interval: soon") + 1
    assert f"{config}:{line}: interval: 'soon' is not of type 'integer'" in done.stderr
    assert re.search(rf"^{config}:\d+: .*colour", done.stderr, re.M), done.stderr
    assert config.read_text() == text + "colour: blue\n"


def test_uninstall_keeps_config_key_and_state_and_purge_removes_them(set_up: SetUp) -> None:
    root = set_up.root
    out = ok(setup(root, "--uninstall")).stdout
    assert not (root / "etc/systemd/system/gitops-agent.service").exists()
    assert (root / CONFIG).exists() and (root / KEY).exists()
    assert "kept" in out and "--purge removes it" in out
    ok(setup(root, "--uninstall", "--purge"))
    assert not (root / "etc/gitops-agent").exists()
    assert not (root / "var/lib/gitops-agent").exists()
    assert "nothing to remove" in ok(setup(root, "--uninstall")).stdout


# --- the access check against sshd on loopback ----------------------------------------------


@dataclass
class Sshd:
    port: int
    authorized_keys: Path
    fingerprint: str


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    binary = needs("sshd", "openssh-server")
    if os.geteuid() != 0:
        pytest.skip("sshd on loopback needs root to log in as root")
    root = tmp_path_factory.mktemp("sshd")
    host_key = root / "host_key"
    keygen(host_key, "host")
    authorized = root / "authorized_keys"
    authorized.write_text("")
    process, port = start_sshd(binary, root, host_key,
                               f"AuthorizedKeysFile {authorized}\nPidFile none\n"
                               "KbdInteractiveAuthentication no\n"
                               "PermitRootLogin prohibit-password\n")
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", f"{host_key}.pub"], check=True,
                                 capture_output=True, text=True).stdout.split()[1]
    try:
        yield Sshd(port, authorized, fingerprint)
    finally:
        process.terminate()
        process.wait(timeout=10)


def docs_key_check() -> str:
    """The key-check command of docs/install.md, as written there."""
    text = (REPO / "docs" / "install.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    found = [block for block in blocks if "GIT_SSH_COMMAND" in block and "ls-remote" in block]
    assert len(found) == 1, found
    return textwrap.dedent(found[0]).strip()


def test_access_is_checked_with_the_deploy_key_and_the_agent_starts_only_then(
        sshd: Sshd, tmp_path: Path) -> None:
    remote = Remote(tmp_path, "fleet")
    remote.write("apps/a.yml", "playbook: p.yml\n").commit()
    url = f"ssh://root@127.0.0.1:{sshd.port}{remote.bare}"
    root = tmp_path / "root"

    first = setup(root, "--config-url", url, "--host-name", "web-01")

    assert first.returncode == 3, first.stdout + first.stderr
    assert sshd.fingerprint in first.stdout
    known_hosts = (root / "etc/gitops-agent/known_hosts").read_text()
    assert known_hosts.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert "failed: the git host refused the ssh key" in first.stdout
    said = " ".join(first.stdout.split())
    assert (f"Next: add this key as a read-only deploy key of {url} (and write access for the "
            "status branch gitops-status/web-01: status is pushed to it") in said
    assert "enable" not in first.stdout  # not started: its first pass would fail
    assert setup(root, "--check").returncode == 3

    sshd.authorized_keys.write_text((root / f"{KEY}.pub").read_text())
    checked = ok(setup(root, "--check"))
    again = ok(setup(root))

    assert f"git ls-remote {url} works: branch main is at" in checked.stdout
    assert f"unchanged    host key(s) of [127.0.0.1]:{sshd.port}" in again.stdout
    assert f"systemctl --root={root} enable gitops-agent.service" in again.stdout
    command = docs_key_check().removeprefix("sudo ")
    command = command.replace("/etc/gitops-agent", f"{root}/etc/gitops-agent")
    command = command.replace("git@git.example.com:ops/fleet.git", url)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refs/heads/main" in done.stdout


def test_an_unreachable_git_host_is_one_line(tmp_path: Path) -> None:
    port = free_port()
    done = setup(tmp_path / "root", "--config-url", f"ssh://git@127.0.0.1:{port}/fleet.git")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"gitops-agent: error: ssh-keyscan got no host key from 127.0.0.1 port {port}: give "
        "--git-host HOST:PORT, or --known-hosts-file FILE with its keys if it cannot be "
        "reached from here"]
