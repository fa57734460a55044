from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import RECORD_PLAYBOOK, Remote, write_config

DURATIONS = Path(__file__).with_name("durations.json")
_recorded: dict[str, float] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record-durations", metavar="PATH",
                     help="write the seconds of each test of 1 s or more to PATH (JSON), as "
                          "tests/durations.json holds them for ordering the run")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest first (tests/durations.json; an unknown test counts 0 s): the modules by
    their total, a module's tests by their own. xdist's workers then end together, on
    short tests, instead of one worker running a long one alone at the end. A module
    stays in one piece: its module-scoped fixtures are made once per worker."""
    known = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)

    def seconds(item: pytest.Item) -> float:
        return float(known.get(item.nodeid, 0.0))

    ordered = sorted(modules.values(), key=lambda tests: -sum(map(seconds, tests)))
    items[:] = [item for tests in ordered for item in sorted(tests, key=lambda i: -seconds(i))]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _recorded[report.nodeid] = _recorded.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("record_durations")
    if path and not hasattr(session.config, "workerinput"):  # xdist's controller writes
        slow = {nodeid: round(seconds, 1) for nodeid, seconds in sorted(_recorded.items())
                if seconds >= 1}
        Path(path).write_text(json.dumps(slow, indent=0) + "\n")


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
