"""install/install.sh for real, into temp roots (--root): the venv, config, deploy key,
pinned host keys, systemd units checked with `systemd-analyze verify`, idempotence and
--uninstall.

The venv with the agent and its dependencies takes a while to build, so it is built once
(shared by pytest-xdist workers through a lock) and every test that changes a root works
on a copy of it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_agent.config import load_agent_config
from gitops_agent.config.schema import load_schema
from tests.helpers import free_port, keygen, start_sshd

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "install" / "install.sh"
TEMPLATE = REPO / "gitops_agent" / "config" / "agent.yml.template"
UNIT_TEMPLATES = REPO / "install" / "systemd"
DAEMON_UNITS = ["gitops-agent.service"]
TIMER_UNITS = ["gitops-agent-run.service", "gitops-agent-run.timer"]

CONFIG_URL = "git@git.example.test:ops/fleet.git"
STATUS_URL = "git@git.example.test:ops/fleet-status.git"


def _needs(tool: str, package: str) -> str:
    found = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists()
                                   else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing: scripts/test installs {package} in CI")
        pytest.skip(f"{tool} is not installed (apt-get install {package})")
    return found


def install(root: Path, *args: str, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installer into `root`, from inside the source tree (as an operator would,
    with the tree's own metadata in the current directory); its logs go next to `root`."""
    environment = {**os.environ, "TMPDIR": str(root.parent), **(env or {})}
    return subprocess.run(["bash", str(INSTALL), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          stdin=subprocess.DEVNULL, env=environment)


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def fingerprint(public_key_file: Path) -> str:
    line = subprocess.run(["ssh-keygen", "-l", "-f", str(public_key_file)], check=True,
                          capture_output=True, text=True).stdout
    return line.split()[1]  # SHA256:…


def package_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert match
    return match.group(1)


def copy_root(installed: Installed, destination: Path) -> Path:
    shutil.copytree(installed.root, destination, symlinks=True)
    return destination


# --- the shared installation ---------------------------------------------------------


@dataclass
class Installed:
    root: Path
    first: dict[str, Any]  # returncode, stdout, stderr of the first run
    second: dict[str, Any]  # run again (other flags), after an operator edited the config
    key: str  # the private key as the first run made it
    public_key: str
    config_before_edit: str
    pinned_fingerprint: str  # of the host key in the --known-hosts-file given
    known_hosts_line: str
    seconds: float  # how long the first run took

    @property
    def config(self) -> Path:
        return self.root / "etc/gitops-agent/config.yml"

    @property
    def venv(self) -> Path:
        return self.root / "opt/gitops-agent"

    @property
    def unit_dir(self) -> Path:
        return self.root / "etc/systemd/system"


def _result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def _build(shared: Path) -> dict[str, Any]:
    root = shared / "root"
    host_key = shared / "git_host_key"
    keygen(host_key, "git host")
    known_hosts = shared / "known_hosts"
    line = "git.example.test " + " ".join(host_key.with_suffix(".pub").read_text().split()[:2])
    known_hosts.write_text(f"# pinned by hand\n{line}\n")
    started = time.monotonic()
    first = install(root, "--config-url", CONFIG_URL, "--branch", "prod", "--host-name", "web-01",
                    "--status-url", STATUS_URL, "--known-hosts-file", str(known_hosts))
    seconds = time.monotonic() - started
    ok(first)
    key = root / "etc/gitops-agent/id_ed25519"
    key_text, public_key = key.read_text(), key.with_suffix(".pub").read_text().strip()
    config = root / "etc/gitops-agent/config.yml"
    before = config.read_text()
    config.write_text(before + "# edited by the operator\n")
    second = install(root, "--config-url", "git@elsewhere.test:x/y.git", "--host-name", "db-01",
                     "--known-hosts-file", str(known_hosts))
    return {
        "root": str(root), "first": _result(first), "second": _result(second),
        "key": key_text, "public_key": public_key, "config_before_edit": before,
        "pinned_fingerprint": fingerprint(host_key.with_suffix(".pub")),
        "known_hosts_line": line, "seconds": seconds,
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """One installation (daemon mode) run twice; under xdist, built by the first worker."""
    _needs("ssh-keygen", "openssh-client")
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "install-shared"
    shared.mkdir(exist_ok=True)
    done = shared / "done.json"
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            data = _build(shared)
            done.write_text(json.dumps(data))
    data = json.loads(done.read_text())
    return Installed(**{**data, "root": Path(data["root"])})


# --- systemd-analyze verify ----------------------------------------------------------


def verify_problems(root: Path, units: list[str], scratch: Path) -> str:
    """What `systemd-analyze verify` says about `units` as installed in `root`, with `root` as
    the file system root: so ExecStart=/opt/gitops-agent/bin/gitops-agent must exist and be
    executable *in root*. Its warnings (an unknown key, a bad value) count as problems too:
    verify reports those with exit 0. Returns "" for units without a problem."""
    _needs("systemd-analyze", "systemd")
    host_units = Path("/usr/lib/systemd/system")
    if not (host_units / "multi-user.target").exists():
        pytest.skip("no systemd unit files on this host to verify against")
    view = scratch / "verify-root"
    if view.exists():
        shutil.rmtree(view)
    # The installed files themselves (hard links), plus what a real root has: systemd's own
    # units (targets the units name) and /bin/kill (ExecReload).
    subprocess.run(["cp", "-al", f"{root}/.", str(view)], check=True)
    (view / "usr/lib/systemd").mkdir(parents=True, exist_ok=True)
    shutil.copytree(host_units, view / "usr/lib/systemd/system", symlinks=True,
                    dirs_exist_ok=True)
    (view / "usr/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2("/usr/bin/kill", view / "usr/bin/kill")
    for name in ("bin", "lib", "sbin"):
        if not (view / name).exists():
            (view / name).symlink_to(f"usr/{name}")
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={view}",
                           *[str(view / "etc/systemd/system" / unit) for unit in units]],
                          capture_output=True, text=True, timeout=60)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        return f"exit {done.returncode}: {output}"
    return output


# --- the first run ---------------------------------------------------------------------


def test_install_builds_a_venv_with_the_source_trees_version(installed: Installed) -> None:
    python = installed.venv / "bin/python"
    script = installed.venv / "bin/gitops-agent"
    done = subprocess.run([str(python), str(script), "--version"], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == f"gitops-agent, version {package_version()}"
    # --root: the scripts point where the installed system will have them.
    assert script.read_text().splitlines()[0] == "#!/opt/gitops-agent/bin/python"
    link = installed.root / "usr/local/bin/gitops-agent"
    assert os.readlink(link) == "/opt/gitops-agent/bin/gitops-agent"
    assert installed.seconds < 240, f"the first install took {installed.seconds:.0f}s"


def test_install_writes_the_config_0600_from_the_template_and_flags(installed: Installed) -> None:
    mode = installed.config.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600
    if os.geteuid() == 0:
        assert (mode.st_uid, mode.st_gid) == (0, 0)
    assert stat.S_IMODE(installed.config.parent.stat().st_mode) == 0o700
    data = yaml.safe_load(installed.config_before_edit)
    assert data["host"]["name"] == "web-01"
    assert data["config_repo"] == {
        "url": CONFIG_URL, "branch": "prod", "ssh_key": "/etc/gitops-agent/id_ed25519",
        "known_hosts": "/etc/gitops-agent/known_hosts"}
    assert data["status"]["url"] == STATUS_URL
    assert data["state_dir"] == "/var/lib/gitops-agent"
    # The agent's own loader takes it as it is.
    config = load_agent_config(installed.config)
    assert (config.host, config.config_repo.url, config.status.url) == (
        "web-01", CONFIG_URL, STATUS_URL)
    assert installed.config_before_edit.count("\n#") > 10, "the comments of the template"
    assert (installed.root / "var/lib/gitops-agent").is_dir()


def test_config_template_documents_every_key_of_the_schema(tmp_path: Path) -> None:
    """Uncommenting every '# key: example' line gives a valid config with every key."""
    text = TEMPLATE.read_text()
    text = text.replace("@HOST_NAME@", "web-01").replace("@CONFIG_URL@", f'"{CONFIG_URL}"')
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


def test_install_creates_a_deploy_key_and_says_where_to_register_it(installed: Installed) -> None:
    key = installed.root / "etc/gitops-agent/id_ed25519"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert installed.public_key.startswith("ssh-ed25519 ")
    assert installed.public_key.endswith(" gitops-agent@web-01")
    # No passphrase: the public key can be derived with an empty one.
    derived = subprocess.run(["ssh-keygen", "-y", "-P", "", "-f", str(key)], check=True,
                             capture_output=True, text=True).stdout.split()[:2]
    assert derived == installed.public_key.split()[:2]
    out = installed.first["stdout"]
    assert installed.public_key in out
    assert "the config repo: read-only" in out
    assert f"the status repo ({STATUS_URL}): with write access" in out
    assert "every app repo" in out and "read-only" in out


def test_install_pins_the_given_known_hosts_and_prints_fingerprints(installed: Installed) -> None:
    known_hosts = installed.root / "etc/gitops-agent/known_hosts"
    assert known_hosts.read_text() == installed.known_hosts_line + "\n"
    assert installed.pinned_fingerprint in installed.first["stdout"]


def test_install_without_systemd_running_prints_what_to_run(installed: Installed) -> None:
    assert f"systemctl --root={installed.root} enable gitops-agent.service" in (
        installed.first["stdout"])


# --- running it again ------------------------------------------------------------------


def test_second_run_keeps_config_key_and_venv(installed: Installed) -> None:
    second = installed.second
    assert second["returncode"] == 0, second
    assert installed.config.read_text() == installed.config_before_edit + (
        "# edited by the operator\n")
    assert (installed.root / "etc/gitops-agent/id_ed25519").read_text() == installed.key
    out = second["stdout"]
    assert f"gitops-agent {package_version()} is already installed" in out
    assert "kept the existing" in out and "config.yml" in out
    assert "kept the existing deploy key" in out
    assert "up to date" in out
    # The same known_hosts line is not added twice.
    known_hosts = (installed.root / "etc/gitops-agent/known_hosts").read_text()
    assert known_hosts.count(installed.known_hosts_line) == 1
    # The key it prints is the one it made the first time, and where to register it
    # follows the config (which has a status repo), not the flags of this run.
    assert installed.public_key in out
    assert f"the status repo ({STATUS_URL}): with write access" in out


def test_run_again_restores_a_changed_unit(installed: Installed, tmp_path: Path) -> None:
    root = copy_root(installed, tmp_path / "root")
    unit = root / "etc/systemd/system/gitops-agent.service"
    unit.write_text(unit.read_text().replace("WatchdogSec=", "#WatchdogSec="))
    out = ok(install(root)).stdout
    assert f"updated {unit}" in out
    assert unit.read_text() == (UNIT_TEMPLATES / "gitops-agent.service").read_text()


def test_version_installs_a_release_from_the_index_and_back(installed: Installed,
                                                            tmp_path: Path) -> None:
    """--version X installs gitops-agent==X with pip, over the source install; running
    without it goes back to the source tree's version. The package index is a local
    find-links dir with this tree built as a newer release."""
    current = package_version()
    release = f"{current}.post99"
    source = tmp_path / "release"
    shutil.copytree(REPO / "gitops_agent", source / "gitops_agent",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "README.md", source / "README.md")
    for path in (source / "pyproject.toml", source / "gitops_agent/__init__.py"):
        original = (REPO / path.relative_to(source)).read_text()
        path.write_text(re.sub(rf'^(version|__version__) = "{re.escape(current)}"',
                               rf'\1 = "{release}"', original, flags=re.M))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(source)], check=True, capture_output=True, timeout=300)
    index = {"PIP_FIND_LINKS": f"{wheels} {os.environ.get('PIP_FIND_LINKS', '')}".strip()}
    root = copy_root(installed, tmp_path / "root")

    def version_in(root: Path) -> str:
        venv = root / "opt/gitops-agent/bin"
        return subprocess.run([str(venv / "python"), str(venv / "gitops-agent"), "--version"],
                              capture_output=True, text=True, check=True).stdout.split()[-1]

    out = ok(install(root, "--version", release, env=index)).stdout
    assert f"installed gitops-agent {release} in {root}/opt/gitops-agent (was {current})" in out
    assert version_in(root) == release
    out = ok(install(root, "--version", release, env=index)).stdout
    assert f"gitops-agent {release} is already installed" in out
    out = ok(install(root)).stdout
    assert f"(was {release})" in out
    assert version_in(root) == current


# --- the units -------------------------------------------------------------------------


def test_daemon_unit_is_installed_and_passes_systemd_analyze_verify(
        installed: Installed, tmp_path: Path) -> None:
    unit = installed.unit_dir / "gitops-agent.service"
    text = unit.read_text()
    assert text == (UNIT_TEMPLATES / "gitops-agent.service").read_text()
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    for line in ["Type=notify", "WatchdogSec=", "Restart=on-failure", "KillSignal=SIGTERM",
                 "TimeoutStopSec=",
                 "ExecStart=/opt/gitops-agent/bin/gitops-agent watch "
                 "--config /etc/gitops-agent/config.yml"]:
        assert re.search(rf"^{re.escape(line)}", text, re.M), line
    assert "#ProtectSystem=" in text and "#NoNewPrivileges=" in text  # risky: commented
    assert not [path.name for path in installed.unit_dir.iterdir() if "-run." in path.name]
    assert verify_problems(installed.root, DAEMON_UNITS, tmp_path) == ""


def test_systemd_analyze_verify_catches_broken_units(installed: Installed,
                                                     tmp_path: Path) -> None:
    root = copy_root(installed, tmp_path / "root")
    unit = root / "etc/systemd/system/gitops-agent.service"
    good = unit.read_text()
    # A command that does not exist in the root: exit status 1.
    unit.write_text(good.replace("/opt/gitops-agent/bin/gitops-agent", "/opt/gitops-agent/bin/x"))
    assert "is not executable" in verify_problems(root, DAEMON_UNITS, tmp_path)
    # A misspelt value and an unknown key: verify warns with exit 0, which counts too.
    unit.write_text(good.replace("Type=notify", "Type=notfy"))
    assert "notfy" in verify_problems(root, DAEMON_UNITS, tmp_path)
    unit.write_text(good.replace("WatchdogSec=", "WatchdogSecs="))
    assert "WatchdogSecs" in verify_problems(root, DAEMON_UNITS, tmp_path)
    # The venv gone: the unit's ExecStart is looked up in the root, not on this host.
    unit.write_text(good)
    shutil.rmtree(root / "opt/gitops-agent")
    assert "is not executable" in verify_problems(root, DAEMON_UNITS, tmp_path)


def test_timer_mode_replaces_the_daemon_and_passes_verify(installed: Installed,
                                                          tmp_path: Path) -> None:
    root = copy_root(installed, tmp_path / "root")
    out = ok(install(root, "--mode", "timer")).stdout
    unit_dir = root / "etc/systemd/system"
    assert not (unit_dir / "gitops-agent.service").exists()
    assert "removed gitops-agent.service" in out
    for unit in TIMER_UNITS:
        assert (unit_dir / unit).read_text() == (UNIT_TEMPLATES / unit).read_text()
    service = (unit_dir / "gitops-agent-run.service").read_text()
    assert re.search(r"^Type=oneshot$", service, re.M)
    assert re.search(r"^ExecStart=/opt/gitops-agent/bin/gitops-agent run ", service, re.M)
    timer = (unit_dir / "gitops-agent-run.timer").read_text()
    for line in ["OnBootSec=", "OnUnitActiveSec=", "RandomizedDelaySec=", "Persistent=true"]:
        assert re.search(rf"^{line}", timer, re.M), line
    assert f"systemctl --root={root} enable gitops-agent-run.timer" in out
    assert verify_problems(root, TIMER_UNITS, tmp_path) == ""
    # Run again without --mode, as an upgrade would: it stays a timer.
    again = ok(install(root)).stdout
    assert again.count("is up to date") == 2
    assert "(timer mode)" in again
    assert not (unit_dir / "gitops-agent.service").exists()


# --- ssh-keyscan against sshd on loopback ----------------------------------------------


@dataclass
class Sshd:
    port: int
    fingerprint: str
    public_key: str


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    binary = _needs("sshd", "openssh-server")
    if os.geteuid() != 0:
        pytest.skip("sshd on loopback needs root here (its privilege separation)")
    root = tmp_path_factory.mktemp("sshd")
    host_key = root / "host_key"
    keygen(host_key, "host")
    process, port = start_sshd(binary, root, host_key, "PidFile none\n")
    try:
        public = host_key.with_suffix(".pub").read_text().split()
        yield Sshd(port, fingerprint(host_key.with_suffix(".pub")), " ".join(public[:2]))
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_keyscan_pins_the_ssh_host_of_the_config_url(installed: Installed, sshd: Sshd,
                                                     tmp_path: Path) -> None:
    root = copy_root(installed, tmp_path / "root")
    config_dir = root / "etc/gitops-agent"
    (config_dir / "config.yml").unlink()
    (config_dir / "known_hosts").write_text("")
    url = f"ssh://git@127.0.0.1:{sshd.port}/ops/fleet.git"
    out = ok(install(root, "--config-url", url)).stdout
    entry = f"[127.0.0.1]:{sshd.port} {sshd.public_key}"
    assert entry in (config_dir / "known_hosts").read_text().splitlines()
    assert sshd.fingerprint in out
    # Again: the pinned key is kept, not scanned and added twice.
    out = ok(install(root)).stdout
    assert f"kept the pinned host key(s) of [127.0.0.1]:{sshd.port}" in out
    assert sshd.fingerprint in out
    assert (config_dir / "known_hosts").read_text().count(entry) == 1


def test_keyscan_of_git_host_flag_and_unreachable_host(installed: Installed, sshd: Sshd,
                                                       tmp_path: Path) -> None:
    root = copy_root(installed, tmp_path / "root")
    known_hosts = root / "etc/gitops-agent/known_hosts"
    ok(install(root, "--git-host", f"127.0.0.1:{sshd.port}"))
    assert f"[127.0.0.1]:{sshd.port} {sshd.public_key}" in known_hosts.read_text()
    before = known_hosts.read_text()
    done = install(root, "--git-host", f"127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "ssh-keyscan got no host key from 127.0.0.1" in done.stderr
    log = re.search(r"full output in (\S+)$", done.stderr.strip())
    assert log and Path(log.group(1)).parent == tmp_path, done.stderr
    assert known_hosts.read_text() == before


# --- uninstall -------------------------------------------------------------------------


def test_uninstall_keeps_config_and_state_and_purge_removes_them(installed: Installed,
                                                                  tmp_path: Path) -> None:
    root = copy_root(installed, tmp_path / "root")
    ok(install(root, "--mode", "timer"))
    wants = root / "etc/systemd/system/timers.target.wants"
    wants.mkdir()
    (wants / "gitops-agent-run.timer").symlink_to("/etc/systemd/system/gitops-agent-run.timer")
    state = root / "var/lib/gitops-agent/state.json"
    state.write_text("{}")
    out = ok(install(root, "--uninstall")).stdout
    assert not (root / "opt/gitops-agent").exists()
    assert not (root / "usr/local/bin/gitops-agent").is_symlink()
    assert sorted(path.name for path in (root / "etc/systemd/system").rglob("*")
                  if not path.is_dir()) == []
    assert "removed gitops-agent-run.service gitops-agent-run.timer" in out
    assert (root / "etc/gitops-agent/config.yml").exists()
    assert (root / "etc/gitops-agent/id_ed25519").exists()
    assert state.exists()
    assert "nothing to remove" in ok(install(root, "--uninstall")).stdout
    out = ok(install(root, "--uninstall", "--purge")).stdout
    assert not (root / "etc/gitops-agent").exists()
    assert not (root / "var/lib/gitops-agent").exists()


# --- the command line ------------------------------------------------------------------


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--frobnicate"], 2, "unknown option: --frobnicate"),
    (["--mode", "cron"], 2, "--mode is daemon or timer"),
    (["--mode"], 2, "--mode needs a value"),
    (["--version", "1.0", "--source", "."], 2, "not both"),
    (["--version", "1.0; rm -rf /"], 2, "is not a version number"),
    (["--config-url", "git@host:a b.git"], 2, "must not contain spaces"),
    (["--host-name", "web 01"], 2, "--host-name"),
    (["--git-host", "git.example.test:99999"], 2, "--git-host"),
    (["--uninstall", "--mode", "timer"], 2, "--uninstall does not take --mode"),
    (["--known-hosts-file", "/nonexistent/known_hosts"], 1, "no such readable file"),
    (["--source", "/nonexistent"], 1, "--source /nonexistent: no such directory"),
    (["--python", "/nonexistent/python3"], 1, "--python /nonexistent/python3: no such"),
])
def test_bad_usage_is_one_line_on_stderr_and_changes_nothing(
        tmp_path: Path, args: list[str], code: int, says: str) -> None:
    root = tmp_path / "root"
    done = install(root, *args, timeout=60)
    assert done.returncode == code, done
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert says in done.stderr
    assert not root.exists() or not any(root.iterdir())


def test_help_documents_every_flag() -> None:
    done = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True,
                          check=True)
    script = INSTALL.read_text()
    parsing = script[script.index("while (($#)); do"):script.index("\ndone\n")]
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", parsing))
    assert {"--mode", "--source", "--version", "--root", "--uninstall", "--purge",
            "--config-url", "--branch", "--host-name", "--status-url", "--git-host",
            "--known-hosts-file", "--python", "--help"} <= flags
    for flag in flags:
        assert re.search(rf"^\s+(-h, )?{flag}\b", done.stdout, re.M), flag


def test_install_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    done = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
