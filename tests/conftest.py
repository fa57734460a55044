from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import RECORD_PLAYBOOK, Remote, write_config


@pytest.fixture(autouse=True, scope="session")
def _no_real_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Nothing a test runs may write to the real home or read a real agent config."""
    home = tmp_path_factory.mktemp("home")
    os.environ["HOME"] = str(home)
    os.environ["XDG_STATE_HOME"] = str(home / ".local" / "state")
    os.environ.pop("GITOPS_AGENT_CONFIG", None)
    for name in [name for name in os.environ if name.startswith("GIT_")]:
        del os.environ[name]


class World:
    """A config repo on a 'server', an output dir for playbooks, and an agent config."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = root / "out"
        self.out.mkdir()
        self.state_dir = root / "state"
        self.config_repo = Remote(root, "config")
        self.config_repo.write("playbooks/record.yml", RECORD_PLAYBOOK)
        self.config_repo.write("group_vars/all.yml", f"out_dir: {self.out}\n")
        self.config_path = write_config(root / "agent.yml", self.config_repo.url, self.state_dir)

    def configure(self, **more: object) -> Path:
        return write_config(self.config_path, self.config_repo.url, self.state_dir, **more)

    def app(self, name: str, text: str = "playbook: playbooks/record.yml\n") -> World:
        self.config_repo.write(f"apps/{name}.yml", text)
        return self


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)
