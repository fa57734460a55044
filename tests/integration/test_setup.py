"""`gitops-agent setup` for real, into temp roots (--root): the config it writes validates,
the units pass `systemd-analyze verify`, the deploy key has the right modes, and the
first pass with that config succeeds; a re-run changes nothing, --dry-run writes nothing,
and access to an ssh config repo is checked against sshd on loopback."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_agent.config import load_agent_config
from gitops_agent.config.schema import load_schema
from tests.helpers import Remote, cli, free_port, keygen, start_sshd
from tests.systemd_verify import needs, verify_problems

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "install" / "systemd"
TEMPLATE = REPO / "gitops_agent" / "config" / "agent.yml.template"
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
    status: Remote
    out: Path
    first: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> SetUp:
    """setup --root with flags, against a local bare config repo with one app and a status
    repo: run once; each test gets a copy of the root (`set_up`)."""
    needs("ssh-keygen", "openssh-client")
    base = tmp_path_factory.mktemp("set-up")
    out = base / "out"
    out.mkdir()
    remote = Remote(base, "fleet")
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
    status = Remote(base, "fleet-status")
    root = base / "root"
    first = setup(root, "--config-url", f"file://{remote.bare}", "--branch", "main",
                  "--host-name", "web-01", "--status-url", status.url)
    return SetUp(root, remote, status, out, ok(first))


@pytest.fixture
def set_up(pristine: SetUp, tmp_path: Path) -> SetUp:
    """A copy of the pristine root (modes and mtimes kept), for a test to change."""
    root = tmp_path / "root"
    subprocess.run(["cp", "-a", str(pristine.root), str(root)], check=True)
    return SetUp(root, pristine.remote, pristine.status, pristine.out, pristine.first)


def test_setup_writes_a_valid_config_a_key_and_units_and_the_first_pass_succeeds(
        set_up: SetUp, tmp_path: Path) -> None:
    root = set_up.root
    config_file = root / CONFIG
    config = load_agent_config(config_file)
    assert (config.host, config.config_repo.url, config.config_repo.branch) == (
        "web-01", f"file://{set_up.remote.bare}", "main")
    assert config.status.url == set_up.status.url
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
    assert re.search(r"systemctl --root=\S+ enable gitops-agent.service", set_up.first.stdout)
    unit = root / "etc/systemd/system/gitops-agent.service"
    assert unit.read_text() == (UNITS / "gitops-agent.service").read_text()
    assert verify_problems(root, ["gitops-agent.service"], tmp_path, stub_agent=True) == ""

    done = first_pass(root)

    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^hello\s+applied", done.stdout, re.M), done.stdout
    assert (set_up.out / "hello.txt").read_text() == "hello from web-01\n"
    assert (root / "var/lib/gitops-agent/state.json").exists()
    report = yaml.safe_load(set_up.status.read("gitops-status/web-01", "hosts/web-01.yml"))
    assert report["apps"]["hello"]["state"] == "applied"


def test_setup_again_changes_nothing(set_up: SetUp) -> None:
    before = snapshot(set_up.root)

    again = ok(setup(set_up.root, "--config-url", "/elsewhere.git"))

    assert snapshot(set_up.root) == before
    block = again.stdout.split("\n\n")[0].splitlines()[1:]  # one line an item
    items = [line.split()[0] for line in block if not line.startswith("   ")]
    assert items and set(items) == {"unchanged"}, again.stdout
    assert "(--config-url left it as it is" in again.stdout


def test_setup_again_restores_a_changed_unit(set_up: SetUp) -> None:
    unit = set_up.root / "etc/systemd/system/gitops-agent.service"
    unit.write_text(unit.read_text().replace("WatchdogSec=", "#WatchdogSec="))
    out = ok(setup(set_up.root)).stdout
    assert f"updated      {unit} (mode 0644)" in out
    assert unit.read_text() == (UNITS / "gitops-agent.service").read_text()


def test_known_hosts_file_is_pinned_once_and_its_fingerprints_printed(set_up: SetUp,
                                                                      tmp_path: Path) -> None:
    host_key = tmp_path / "git_host_key"
    line = "git.example.test " + " ".join(keygen(host_key, "git host").split()[:2])
    given = tmp_path / "known_hosts"
    given.write_text(f"# pinned by hand\n{line}\n")
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", f"{host_key}.pub"], check=True,
                                 capture_output=True, text=True).stdout.split()[1]
    known_hosts = set_up.root / "etc/gitops-agent/known_hosts"

    first = ok(setup(set_up.root, "--known-hosts-file", str(given)))
    again = ok(setup(set_up.root, "--known-hosts-file", str(given)))

    assert known_hosts.read_text() == f"{line}\n"
    assert f"pinned       1 host key(s) of {given} in {known_hosts}" in first.stdout
    assert f"unchanged    host keys of {given}" in again.stdout
    assert fingerprint in first.stdout and fingerprint in again.stdout


def test_systemd_analyze_verify_catches_broken_units(set_up: SetUp, tmp_path: Path) -> None:
    """The verify the tests rely on is not vacuous."""
    unit = set_up.root / "etc/systemd/system/gitops-agent.service"
    good = unit.read_text()
    assert "is not executable" in verify_problems(set_up.root, ["gitops-agent.service"],
                                                  tmp_path)  # no agent in the root
    unit.write_text(good.replace("Type=notify", "Type=notfy"))
    assert "notfy" in verify_problems(set_up.root, ["gitops-agent.service"], tmp_path,
                                      stub_agent=True)


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


def test_config_template_documents_every_key_of_the_schema(tmp_path: Path) -> None:
    """Uncommenting every '# key: example' line gives a valid config with every key."""
    text = TEMPLATE.read_text()
    text = text.replace("@HOST_NAME@", "web-01").replace("@CONFIG_URL@", '"/srv/fleet.git"')
    text = text.replace("@BRANCH@", "main").replace("@STATUS_URL@", "null")
    lines, examples = [], set()
    for line in text.splitlines():
        example = re.match(r"^(\s*)# (\s*)([a-z_]+):(?: |$)", line)
        real = re.match(r"^(\s*)([a-z_]+):(?: |$)", line)
        if example:  # '# key: example' -> 'key: example', which replaces the real line below
            line = example.group(1) + line[len(example.group(1)) + 2:]
            examples.add((len(example.group(1) + example.group(2)), example.group(3)))
        elif real and (len(real.group(1)), real.group(2)) in examples:
            examples.discard((len(real.group(1)), real.group(2)))
            continue
        lines.append(line)
    uncommented = "\n".join(lines) + "\n"
    path = tmp_path / "all.yml"
    path.write_text(uncommented)
    load_agent_config(path)  # raises on an unknown key or a bad example
    data = yaml.safe_load(uncommented)

    def missing(schema: dict[str, Any], value: Any, where: str) -> list[str]:
        absent = []
        for key, sub in schema.get("properties", {}).items():
            if not isinstance(value, dict) or key not in value:
                absent.append(f"{where}{key}")
            elif sub.get("type") == "object" and "properties" in sub:
                absent += missing(sub, value[key], f"{where}{key}.")
        return absent

    assert missing(load_schema("agent"), data, "") == []


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


def test_on_a_terminal_setup_asks_for_what_a_new_config_needs(tmp_path: Path) -> None:
    remote = Remote(tmp_path, "fleet")
    remote.write("apps/a.yml", "playbook: p.yml\n").commit()
    root = tmp_path / "root"
    leader, follower = pty.openpty()
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with subprocess.Popen([sys.executable, "-m", "gitops_agent", "setup", "--root", str(root)],
                          stdin=follower, stdout=follower, stderr=follower, env=environment) \
            as process:
        os.close(follower)
        # a URL git cannot take (asked again), the URL, then the defaults: branch main,
        # the host name, no status repo
        os.write(leader, f"ext::sh\n{remote.url}\n\n\n\n".encode())
        said = b""
        with contextlib.suppress(OSError):  # EIO once the process is gone
            while chunk := os.read(leader, 4096):
                said += chunk
        assert process.wait(timeout=60) == 0, said.decode()
    os.close(leader)
    text = said.decode()
    assert "The config repo's git URL (config_repo.url):" in text
    assert "Error: refusing git URL 'ext::sh'" in text
    assert "This host's name (host.name) [" in text and "Its branch [main]:" in text
    config = load_agent_config(root / CONFIG)
    assert (config.config_repo.url, config.config_repo.branch) == (remote.url, "main")
    assert config.status.url == remote.url  # status goes to the config repo
    assert "name: @HOST_NAME@" not in (root / CONFIG).read_text()


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
    again = ok(setup(root, "--git-host", f"127.0.0.1:{sshd.port}"))

    assert f"git ls-remote {url} works: branch main is at" in checked.stdout
    assert f"unchanged    host key(s) of [127.0.0.1]:{sshd.port}" in again.stdout
    assert f"systemctl --root={root} enable gitops-agent.service" in again.stdout
    command = docs_key_check().removeprefix("sudo ")
    command = command.replace("/etc/gitops-agent", f"{root}/etc/gitops-agent")
    command = command.replace("git@git.example.com:ops/fleet.git", url)
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refs/heads/main" in done.stdout


def test_a_config_repo_without_the_branch_is_not_started_either(tmp_path: Path) -> None:
    empty = Remote(tmp_path, "empty")  # nothing pushed yet: a first pass would fail
    done = setup(tmp_path / "root", "--config-url", empty.url)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"git ls-remote {empty.url} works, but the repo has no branch main yet" in done.stdout
    assert "add this key" not in done.stdout and "enable" not in done.stdout


def test_an_unreachable_git_host_is_one_line(tmp_path: Path) -> None:
    port = free_port()
    done = setup(tmp_path / "root", "--config-url", f"ssh://git@127.0.0.1:{port}/fleet.git")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"gitops-agent: error: ssh-keyscan got no host key from 127.0.0.1 port {port}: give "
        "--git-host HOST:PORT, or --known-hosts-file FILE with its keys if it cannot be "
        "reached from here"]


# --- systemd as PID 1: the one thing faked (a systemctl that keeps its state in files) -------

FAKE_SYSTEMCTL = """\
#!/bin/sh
echo "$*" >> "$FAKE_SYSTEMD/calls"
case "$1" in
  is-enabled) test -e "$FAKE_SYSTEMD/enabled-$3" ;;
  is-active) test -e "$FAKE_SYSTEMD/active-$3" ;;
  enable) test -e "$FAKE_SYSTEMD/broken" && { echo "Failed to enable unit" >&2; exit 1; }
          touch "$FAKE_SYSTEMD/enabled-$3" "$FAKE_SYSTEMD/active-$3" ;;
esac
"""


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from gitops_agent.setup import paths

    state = tmp_path / "systemd"
    (state / "bin").mkdir(parents=True)
    (state / "bin" / "systemctl").write_text(FAKE_SYSTEMCTL)
    (state / "bin" / "systemctl").chmod(0o755)
    monkeypatch.setattr(paths, "SYSTEMD_RUNNING", state)  # "/run/systemd/system" exists
    monkeypatch.setenv("PATH", f"{state / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SYSTEMD", str(state))
    return state


def test_with_systemd_the_unit_is_enabled_and_started_once_and_restarted_when_asked(
        systemd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gitops_agent.setup import service
    from gitops_agent.setup.changes import Changes
    from gitops_agent.setup.paths import Host

    host = Host()  # no --root: systemctl acts (on the fake)
    calls = systemd / "calls"
    service.reload(Changes(), host)
    service.start(Changes(), host, "daemon", restart=False)
    assert calls.read_text().splitlines() == [
        "daemon-reload", "is-enabled --quiet gitops-agent.service",
        "is-active --quiet gitops-agent.service", "enable --now gitops-agent.service"]
    assert "started      gitops-agent.service (systemctl enable --now)" in capsys.readouterr().out

    calls.unlink()
    service.start(Changes(), host, "daemon", restart=False)
    assert "unchanged    gitops-agent.service: enabled and active" in capsys.readouterr().out
    service.start(Changes(), host, "daemon", restart=True)
    service.start(Changes(dry_run=True), host, "daemon", restart=True)
    assert "would restart gitops-agent.service" in capsys.readouterr().out
    assert calls.read_text().splitlines()[-3:] == [
        "restart gitops-agent.service", "is-enabled --quiet gitops-agent.service",
        "is-active --quiet gitops-agent.service"]


def test_with_systemd_a_failing_systemctl_is_one_clear_error(systemd: Path) -> None:
    from gitops_agent.errors import FatalError
    from gitops_agent.setup import service
    from gitops_agent.setup.changes import Changes
    from gitops_agent.setup.paths import Host

    (systemd / "broken").touch()
    with pytest.raises(FatalError, match=r"^systemctl enable --now gitops-agent-run.timer "
                                         r"failed \(exit 1\): Failed to enable unit$"):
        service.start(Changes(), Host(), "timer", restart=True)
