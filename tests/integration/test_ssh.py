"""SSH for real: sshd on 127.0.0.1, a read-write key and a read-only deploy key."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import Remote, cli, keygen, report, start_sshd, state, write_config

GATE = """\
#!/bin/sh
# Forced command of every test key: git only; pushes only for the read-write key.
case "$SSH_ORIGINAL_COMMAND" in
  git-upload-pack*) exec git-shell -c "$SSH_ORIGINAL_COMMAND" ;;
  git-receive-pack*)
    if [ "$1" = rw ]; then exec git-shell -c "$SSH_ORIGINAL_COMMAND"; fi
    echo "ERROR: this deploy key is read-only: push denied" >&2
    exit 1 ;;
  *) echo "git only" >&2; exit 1 ;;
esac
"""


@dataclass
class Sshd:
    port: int
    root: Path
    rw_key: Path
    ro_key: Path
    known_hosts: Path

    def url(self, remote: Remote) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{remote.bare}"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    binary = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(binary).exists():
        if os.environ.get("CI"):
            pytest.fail("sshd is missing: scripts/test installs openssh-server in CI")
        pytest.skip("sshd is not installed (apt-get install openssh-server)")
    if os.geteuid() != 0:
        pytest.skip("sshd on loopback needs root to log in as root")
    root = tmp_path_factory.mktemp("sshd")
    host_key = root / "host_key"
    host_public = keygen(host_key, "host")
    rw_key, ro_key = root / "rw_key", root / "ro_key"
    gate = root / "gate.sh"
    gate.write_text(GATE)
    gate.chmod(0o755)
    options = "no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding"
    (root / "authorized_keys").write_text(
        f'command="{gate} rw",{options} {keygen(rw_key, "rw")}\n'
        f'command="{gate} ro",{options} {keygen(ro_key, "ro")}\n')
    process, port = start_sshd(
        binary, root, host_key,
        f"AuthorizedKeysFile {root}/authorized_keys\nPidFile {root}/sshd.pid\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n")
    known_hosts = root / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public}\n")
    yield Sshd(port, root, rw_key, ro_key, known_hosts)
    process.terminate()
    process.wait(timeout=10)


def _agent(world, sshd: Sshd, key: Path, known_hosts: Path | None = None) -> Path:
    return write_config(world.config_path, sshd.url(world.config_repo), world.state_dir,
                        config_repo={"ssh_key": str(key),
                                     "known_hosts": str(known_hosts or sshd.known_hosts)})


def test_ssh_deploy_key_reads_app_repo_and_pushes_report(world, tmp_path, sshd):
    source = Remote(tmp_path, "app-src")
    source_commit = source.write("f", "1").commit()
    world.app("web", f"playbook: playbooks/record.yml\n"
              f"source: {{url: '{sshd.url(source)}'}}\n").config_repo.commit()
    config = _agent(world, sshd, sshd.rw_key)

    done = cli("run", config=config)

    assert done.returncode == 0, done.stderr
    assert state(world.state_dir)["apps"]["web"]["source_commit"] == source_commit
    assert report(world.config_repo)["apps"]["web"]["state"] == "applied"


def test_ssh_unknown_host_key_is_one_clear_line(world, tmp_path, sshd):
    world.app("web").config_repo.commit()
    other = tmp_path / "other_known_hosts"
    other.write_text(f"[127.0.0.1]:{sshd.port} {keygen(tmp_path / 'impostor', 'x')}\n")
    config = _agent(world, sshd, sshd.rw_key, known_hosts=other)

    done = cli("run", config=config)

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "ssh key is not in known_hosts or has changed" in lines[0]


def test_ssh_missing_key_is_one_clear_line(world, tmp_path, sshd):
    world.app("web").config_repo.commit()
    config = _agent(world, sshd, tmp_path / "no_such_key")
    done = cli("run", config=config)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"gitops-agent: error: config_repo.ssh_key: {tmp_path / 'no_such_key'} does not exist "
        "or is not readable"]


def test_ssh_key_refused_by_the_host_is_one_clear_line(world, tmp_path, sshd):
    world.app("web").config_repo.commit()
    stranger = tmp_path / "stranger"
    keygen(stranger, "stranger")
    done = cli("run", config=_agent(world, sshd, stranger))
    assert done.returncode == 1
    assert "refused the ssh key" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_ssh_read_only_key_keeps_results_and_pushes_later(world, sshd):
    world.app("web").config_repo.commit()

    read_only = cli("run", config=_agent(world, sshd, sshd.ro_key))

    assert read_only.returncode == 0  # the apply worked; only the report could not go
    warning = [line for line in read_only.stderr.splitlines() if "not pushed" in line]
    assert len(warning) == 1 and "read-only: push denied" in warning[0]
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"
    assert world.config_repo.log("gitops-status/web-01") == []

    writable = cli("run", config=_agent(world, sshd, sshd.rw_key))
    assert writable.returncode == 0, writable.stderr
    assert report(world.config_repo)["apps"]["web"]["state"] == "unchanged"
