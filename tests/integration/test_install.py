"""install/install.sh, the bootstrap, for real into a temp root (--root): the venv with the
source tree's version, the command link, `gitops-agent setup` run from that venv, a
second run that reinstalls nothing, --uninstall; its usage errors; shellcheck.

The venv takes a while to build, so it is built once (shared by pytest-xdist workers
through a lock); a test that changes the root works on a hard-linked copy of it.
`gitops-agent setup` itself is tested in test_setup.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitops_agent.config import load_agent_config
from tests.helpers import Remote
from tests.systemd_verify import needs, verify_problems

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "install" / "install.sh"


def install(root: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the bootstrap into `root` from inside the source tree, as an operator would; its
    logs go next to `root`."""
    environment = {**os.environ, "TMPDIR": str(root.parent)}
    return subprocess.run(["bash", str(INSTALL), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          stdin=subprocess.DEVNULL, env=environment)


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def package_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert match
    return match.group(1)


@dataclass
class Installed:
    root: Path
    config_url: str
    first: dict[str, Any]
    second: dict[str, Any]

    @property
    def venv(self) -> Path:
        return self.root / "opt/gitops-agent"


def _build(shared: Path) -> dict[str, Any]:
    remote = Remote(shared, "fleet")
    remote.write("apps/a.yml", "playbook: p.yml\n").commit()
    root = shared / "root"
    first = install(root, "--config-url", remote.url, "--host-name", "web-01")
    second = install(root)
    return {"root": str(root), "config_url": remote.url,
            **{name: {"returncode": done.returncode, "stdout": done.stdout,
                      "stderr": done.stderr} for name, done in (("first", first),
                                                                ("second", second))}}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """One bootstrap run twice; under xdist, built by the first worker."""
    needs("ssh-keygen", "openssh-client")
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "install-shared"
    shared.mkdir(exist_ok=True)
    done = shared / "done.json"
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            done.write_text(json.dumps(_build(shared)))
    data = json.loads(done.read_text())
    return Installed(**{**data, "root": Path(data["root"])})


def test_install_builds_the_venv_and_runs_setup_from_it(installed: Installed,
                                                        tmp_path: Path) -> None:
    first = installed.first
    assert first["returncode"] == 0, first
    script = installed.venv / "bin/gitops-agent"
    done = subprocess.run([str(installed.venv / "bin/python"), str(script), "--version"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"gitops-agent, version {package_version()}"
    # --root: the scripts point where the installed system will have them.
    assert script.read_text().splitlines()[0] == "#!/opt/gitops-agent/bin/python"
    assert os.readlink(installed.root / "usr/local/bin/gitops-agent") == (
        "/opt/gitops-agent/bin/gitops-agent")
    assert f"installed gitops-agent {package_version()}" in first["stdout"]
    # setup ran from the venv (the units come from the installed package) ...
    assert f"gitops-agent setup, daemon mode under {installed.root}:" in first["stdout"]
    config = load_agent_config(installed.root / "etc/gitops-agent/config.yml")
    assert (config.host, config.config_repo.url) == ("web-01", installed.config_url)
    assert "works: branch main is at" in first["stdout"]
    # ... and its units pass verify with the venv's real program as ExecStart.
    assert verify_problems(installed.root, ["gitops-agent.service"], tmp_path) == ""


def test_install_again_reinstalls_nothing_and_changes_nothing(installed: Installed) -> None:
    second = installed.second
    assert second["returncode"] == 0, second
    out = second["stdout"]
    assert f"gitops-agent {package_version()} is already installed" in out
    items = [line.split()[0] for line in out.split("\n\n")[0].splitlines()[2:]]
    assert items and set(items) == {"unchanged"}, out


@pytest.mark.parametrize("purge", [False, True])
def test_uninstall_removes_units_venv_and_link_and_purge_the_rest(
        installed: Installed, tmp_path: Path, purge: bool) -> None:
    root = tmp_path / "root"
    subprocess.run(["cp", "-al", str(installed.root), str(root)], check=True)
    out = ok(install(root, "--uninstall", *(["--purge"] if purge else []))).stdout
    assert not (root / "opt/gitops-agent").exists()
    assert not (root / "usr/local/bin/gitops-agent").is_symlink()
    assert not (root / "etc/systemd/system/gitops-agent.service").exists()
    assert (root / "etc/gitops-agent/config.yml").exists() is not purge
    assert (root / "var/lib/gitops-agent").exists() is not purge
    assert ("kept" in out) is not purge
    assert "nothing to uninstall" in ok(install(root, "--uninstall")).stdout


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    done = ok(install(root, "--dry-run", "--config-url", "/srv/fleet.git"))
    assert not root.exists()
    assert "would install gitops-agent" in done.stdout
    assert "would run: gitops-agent setup --dry-run --config-url /srv/fleet.git" in done.stdout


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--python"], 2, "--python needs a value"),
    (["--version", "1.0", "--source", "."], 2, "not both"),
    (["--version", "1.0; rm -rf /"], 2, "is not a version number"),
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
    assert not root.exists()


def test_help_documents_every_flag_of_its_own() -> None:
    done = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True,
                          check=True)
    script = INSTALL.read_text()
    parsing = script[script.index("while (($#)); do"):script.index("\ndone\n")]
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", parsing))
    assert flags == {"--source", "--version", "--python", "--root", "--dry-run", "--uninstall",
                     "--help"}
    for flag in flags:
        assert re.search(rf"^\s+(-h, )?{flag}\b", done.stdout, re.M), flag
    assert "--config-url URL" in done.stdout and "gitops-agent setup" in done.stdout


def test_install_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    done = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_fleet_install_playbook_passes_syntax_check(tmp_path: Path) -> None:
    """examples/fleet-install/install.yml (run for real by hand: see its README)."""
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[gitops_agents]\nweb-01 ansible_connection=local\n")
    playbook = REPO / "examples" / "fleet-install" / "install.yml"
    done = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"),
                           "--syntax-check", "-i", str(inventory), str(playbook)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
