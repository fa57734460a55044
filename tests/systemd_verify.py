"""`systemd-analyze verify` of unit files as installed in a root: the tests of
`gitops-agent setup` and of install/install.sh share it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

AGENT = "opt/gitops-agent/bin/gitops-agent"  # the units' ExecStart, relative to a root


def needs(tool: str, package: str) -> str:
    found = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists()
                                   else None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing: scripts/test installs {package} in CI")
        pytest.skip(f"{tool} is not installed (apt-get install {package})")
    return found


def verify_problems(root: Path, units: list[str], scratch: Path,
                    stub_agent: bool = False) -> str:
    """What `systemd-analyze verify` says about `units` as installed in `root`, with `root` as
    the file system root: so ExecStart=/opt/gitops-agent/bin/gitops-agent must exist and be
    executable *in root* (`stub_agent` puts a stand-in there, in the view only, for a root
    that setup wrote without the venv the bootstrap makes). Its warnings (an unknown key, a
    bad value) count as problems too: verify reports those with exit 0. Returns "" for
    units without a problem."""
    needs("systemd-analyze", "systemd")
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
    if stub_agent and not (view / AGENT).exists():
        (view / AGENT).parent.mkdir(parents=True)
        (view / AGENT).write_text("#!/bin/sh\n")
        (view / AGENT).chmod(0o755)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={view}",
                           *[str(view / "etc/systemd/system" / unit) for unit in units]],
                          capture_output=True, text=True, timeout=60)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        return f"exit {done.returncode}: {output}"
    return output
