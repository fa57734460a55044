"""Where setup puts things: the paths of the installed system, which the units and the
config refer to, each written under `--root DIR` when one is given (an image, a test)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitops_agent.config.agent import DEFAULT_CONFIG_PATH, SYSTEM_STATE_DIR

CONFIG_FILE = str(DEFAULT_CONFIG_PATH)  # where the agent looks without --config
CONFIG_DIR = str(DEFAULT_CONFIG_PATH.parent)
KEY_FILE = f"{CONFIG_DIR}/id_ed25519"
KNOWN_HOSTS = f"{CONFIG_DIR}/known_hosts"
STATE_DIR = str(SYSTEM_STATE_DIR)
UNIT_DIR = "/etc/systemd/system"
AGENT = "/opt/gitops-agent/bin/gitops-agent"  # the units' ExecStart: install/install.sh's venv
SYSTEMD_RUNNING = Path("/run/systemd/system")  # sd_booted(3): systemd is PID 1


@dataclass(frozen=True)
class Host:
    """The system setup works on: this one, or the tree under `root`."""

    root: Path | None = None

    def path(self, system_path: str | Path) -> Path:
        """Where `system_path` (a path of the installed system) is written by this run."""
        path = Path(system_path)
        if self.root is None or path.is_relative_to(self.root):
            return path
        return self.root / path.relative_to(path.anchor)

    @property
    def config_dir(self) -> Path:
        return self.path(CONFIG_DIR)

    @property
    def config_file(self) -> Path:
        return self.path(CONFIG_FILE)

    @property
    def unit_dir(self) -> Path:
        return self.path(UNIT_DIR)

    @property
    def systemd_running(self) -> bool:
        """systemctl may act: systemd is PID 1 here and no --root was given."""
        return self.root is None and SYSTEMD_RUNNING.is_dir()
