"""Rollouts (SPEC §4b): three real agents on one config repo, coordinated only through
their status branches — waves, a failing canary, a pause, windows, waves by labels."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FAILING_PLAYBOOK, Remote, cli, put_playbook, report, state, write_config

PLAYBOOK = put_playbook("Write the version", '"{{ out_dir }}/{{ gitops_host }}.txt"',
                        '"{{ version }}\\n"')
HOSTS = {"web-01": {"ring": "canary"}, "web-02": {"ring": "main"}, "db-01": {"ring": "main"}}


class Fleet:
    """One config repo, three agents (each its own state dir and agent config)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = root / "out"
        self.out.mkdir()
        self.repo = Remote(root, "config")
        self.repo.write("playbooks/site.yml", PLAYBOOK)
        self.repo.write("group_vars/all.yml", f"out_dir: {self.out}\n")
        self.configs = {
            host: write_config(root / f"{host}.yml", self.repo.url, root / f"state-{host}",
                               host=host, labels=labels)
            for host, labels in HOSTS.items()}

    def release(self, version: str, fleet: str | None = None,
                playbook: str = "playbooks/site.yml") -> str:
        self.repo.write("apps/site.yml", f"playbook: {playbook}\nvars: {{version: {version}}}\n")
        if fleet is not None:
            self.repo.write("fleet.yml", fleet)
        return self.repo.commit(f"release {version}")

    def run(self, host: str, *args: str) -> subprocess.CompletedProcess[str]:
        return cli(*args or ("run",), config=self.configs[host])

    def app(self, host: str) -> dict[str, object]:
        entry: dict[str, object] = report(self.repo, host)["apps"]["site"]
        return entry

    def version(self, host: str) -> str | None:
        path = self.out / f"{host}.txt"
        return path.read_text().strip() if path.exists() else None


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path)


CANARY = """\
waves:
  - {name: canary, hosts: [web-01]}
  - {name: rest, hosts: ["*"]}
"""


def test_canary_holds_the_rest_until_it_reports_the_commit(fleet: Fleet) -> None:
    commit = fleet.release("1", CANARY)
    held = fleet.run("web-02")
    assert held.returncode == 0, held.stderr  # waiting is not a failure
    assert "waiting" in held.stdout and fleet.version("web-02") is None
    entry = fleet.app("web-02")
    assert entry["state"] == "waiting"
    assert "waiting for wave canary: web-01 has never reported" in str(entry["message"])
    assert report(fleet.repo, "web-02")["wave"] == "rest"

    first = fleet.run("web-01")
    assert first.returncode == 0, first.stderr
    assert fleet.version("web-01") == "1"
    assert report(fleet.repo, "web-01")["wave"] == "canary"
    assert report(fleet.repo, "web-01")["config_commit"] == commit

    for host in ("web-02", "db-01"):
        done = fleet.run(host)
        assert done.returncode == 0, done.stderr
        assert fleet.version(host) == "1"
        assert fleet.app(host)["state"] == "applied"
    assert state(fleet.root / "state-web-02")["released"]["commit"] == commit


def test_failing_canary_holds_the_rest_and_the_fix_rolls_through(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    for host in HOSTS:
        assert fleet.run(host).returncode == 0
    fleet.repo.write("playbooks/broken.yml", FAILING_PLAYBOOK)
    bad = fleet.release("2", playbook="playbooks/broken.yml")
    assert fleet.run("web-01").returncode == 1
    for host in ("web-02", "db-01"):
        held = fleet.run(host)
        assert held.returncode == 0, held.stderr
        entry = fleet.app(host)
        assert entry["state"] == "waiting"
        assert f"wave canary failed: web-01 reports site failed at {bad[:12]}" in \
            str(entry["message"])
        assert fleet.version(host) == "1"
    fleet.release("3")
    assert fleet.run("web-02").returncode == 0
    assert fleet.app("web-02")["state"] == "waiting"  # the canary has not reported 3 yet
    assert fleet.run("web-01").returncode == 0
    for host in ("web-02", "db-01"):
        assert fleet.run(host).returncode == 0
        assert fleet.version(host) == "3"


def test_waves_by_labels(fleet: Fleet) -> None:
    fleet.release("1", """\
waves:
  - {name: canary, labels: {ring: canary}}
  - {name: main, labels: {ring: main}}
""")
    assert fleet.run("db-01").returncode == 0
    assert "waiting for wave canary: no host of wave canary has reported yet" in \
        str(fleet.app("db-01")["message"])
    assert fleet.version("db-01") is None
    assert fleet.run("web-01").returncode == 0 and fleet.version("web-01") == "1"
    assert fleet.run("db-01").returncode == 0 and fleet.version("db-01") == "1"
    assert report(fleet.repo, "db-01")["wave"] == "main"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_pause_holds_every_host_until_it_passes(fleet: Fleet) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    fleet.release("1", f'pause: {{reason: "release freeze", until: "{stamp(later)}"}}\n')
    for host in HOSTS:
        assert fleet.run(host).returncode == 0
        assert fleet.app(host)["state"] == "waiting"
        assert f"paused by fleet.yml until {stamp(later)}: release freeze" in \
            str(fleet.app(host)["message"])
        assert fleet.version(host) is None
    by_hand = fleet.run("web-02", "run-playbook", "site")
    assert by_hand.returncode == 0, by_hand.stderr
    assert "run-playbook overrides the rollout rules: paused by fleet.yml" in by_hand.stderr
    assert fleet.version("web-02") == "1"
    earlier = datetime.now(UTC) - timedelta(minutes=1)
    fleet.release("2", f'pause: {{reason: "release freeze", until: "{stamp(earlier)}"}}\n')
    for host in HOSTS:
        assert fleet.run(host).returncode == 0
        assert fleet.version(host) == "2"


def window(start: datetime, hours: int) -> str:
    end = start + timedelta(hours=hours)
    return f"Mon-Sun {start:%H:%M}-{end:%H:%M} UTC"


def test_windows_hold_outside_and_apply_inside(fleet: Fleet) -> None:
    now = datetime.now(UTC)
    closed = window(now + timedelta(hours=2), 2)
    fleet.release("1", f'windows: ["{closed}"]\n')
    assert fleet.run("web-01").returncode == 0
    message = str(fleet.app("web-01")["message"])
    assert f"outside the rollout windows ({closed}); the next opens at" in message
    assert fleet.version("web-01") is None
    fleet.release("1", f'windows: ["{closed}", "{window(now - timedelta(hours=1), 3)}"]\n')
    assert fleet.run("web-01").returncode == 0
    assert fleet.version("web-01") == "1"


def test_waiting_host_does_one_small_fetch_per_pass(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    fleet.run("web-02")
    again = fleet.run("web-02", "--debug", "run")
    network = [line for line in again.stderr.splitlines()
               if " git fetch " in line or " git ls-remote " in line]
    assert len(network) == 2, network  # the config head, and the canary's one branch
    assert "repos/config)" in network[0] and "repos/waves.git)" in network[1], network


def test_invalid_fleet_file_applies_nothing(fleet: Fleet) -> None:
    fleet.release("1", "waves: [{name: canary, hosts: [web-01]}, {name: canary}]\n")
    done = fleet.run("web-01")
    assert done.returncode == 2
    assert "fleet.yml" in done.stderr and "named twice" in done.stderr
    assert fleet.version("web-01") is None
    assert fleet.app("web-01")["state"] == "waiting"
    assert "Traceback" not in done.stderr


def test_validate_checks_fleet_file_every_problem_with_line(fleet: Fleet) -> None:
    fleet.release("1", """\
waves:
  - {name: canary, hosts: ["*"]}
  - {name: canary, labels: {ring: main}}
windows: ["Mon-Fri 8-17 UTC", "Sat 09:00-12:00 Mars/Base"]
pause: {reason: freeze, until: "2026-12-24T00:00:00"}
""")
    done = cli("validate", str(fleet.repo.work))
    assert done.returncode == 2
    path = fleet.repo.work / "fleet.yml"
    for expected in (f"{path}:3: waves[1].name: wave 'canary' is named twice",
                     f"{path}:3: waves[1]: wave 'canary' can never select a host",
                     f"{path}:4: windows[0]: 'Mon-Fri 8-17 UTC' is not a window",
                     f"{path}:4: windows[1]: 'Mars/Base' is not a time zone",
                     f"{path}:5: pause.until: '2026-12-24T00:00:00' is not a time with a zone"):
        assert expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_validate_shows_each_example_hosts_wave(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    done = cli("validate", str(fleet.repo.work), "--host", "web-01", "--host", "db-01")
    assert done.returncode == 0, done.stderr
    assert "fleet.yml valid (2 wave(s))" in done.stdout
    assert "web-01: site · wave canary" in done.stdout
    assert "db-01: site · wave rest" in done.stdout


def test_plan_shows_the_hold_and_moves_nothing(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    done = fleet.run("web-02", "plan", "--json")
    assert done.returncode == 0, done.stderr  # nothing would be applied
    planned = json.loads(done.stdout)
    assert "web-01 has never reported" in planned["held"]
    assert planned["apps"][0]["decision"] == "wait"
    assert not (fleet.root / "state-web-02" / "repos" / "waves.git").exists()
    text = fleet.run("web-02", "plan")
    assert "held: waiting for wave canary" in text.stdout


def test_corrupt_waves_cache_is_rebuilt(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    assert fleet.run("web-02").returncode == 0  # waiting: the cache now exists
    cache = fleet.root / "state-web-02" / "repos" / "waves.git"
    for path in (cache / "objects").rglob("*"):
        if path.is_file():
            path.chmod(0o644)
            path.write_bytes(b"garbage")
    (cache / "index.lock").write_text("")  # as a killed git leaves it
    assert fleet.run("web-01").returncode == 0
    done = fleet.run("web-02")
    assert done.returncode == 0, done.stderr
    assert fleet.version("web-02") == "1", done.stderr


def test_hostile_canary_report_is_not_taken_as_done(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(8))
    work = fleet.repo.work
    git_cmd = ["git", "-c", "user.name=x", "-c", "user.email=x@x", "-C", str(work)]
    subprocess.run([*git_cmd, "checkout", "-q", "--orphan", "forged"], check=True)
    subprocess.run([*git_cmd, "rm", "-q", "-rf", "."], check=True)
    (work / "hosts").mkdir()
    (work / "hosts" / "web-01.yml").write_text(bomb)
    subprocess.run([*git_cmd, "add", "-A"], check=True)
    subprocess.run([*git_cmd, "commit", "-q", "-m", "forged"], check=True)
    subprocess.run([*git_cmd, "push", "-q", "origin", "HEAD:refs/heads/gitops-status/web-01"],
                   check=True)
    done = fleet.run("web-02")
    assert done.returncode == 0, done.stderr
    assert "the report of web-01 cannot be read (invalid YAML" in \
        str(fleet.app("web-02")["message"])
    assert fleet.version("web-02") is None


def test_canary_reports_a_commit_that_changes_none_of_its_apps_at_once(fleet: Fleet) -> None:
    fleet.release("1", CANARY)
    for host in (*HOSTS, "web-02"):  # twice: its apps go from applied to unchanged
        assert fleet.run(host).returncode == 0
    before = fleet.repo.log("gitops-status/web-02")
    fleet.repo.write("apps/db.yml", "hosts: [db-01]\nplaybook: playbooks/site.yml\n"
                                    "vars: {version: db}\n")
    commit = fleet.repo.commit("an app only db-01 has")
    assert fleet.run("web-01").returncode == 0
    assert report(fleet.repo, "web-01")["config_commit"] == commit  # not at the heartbeat
    assert fleet.run("web-02").returncode == 0
    assert fleet.repo.log("gitops-status/web-02") == before  # the last wave waits for no one
    assert fleet.run("db-01").returncode == 0
    assert report(fleet.repo, "db-01")["apps"]["db"]["state"] == "applied"


def test_worked_example_of_the_docs_runs_as_written() -> None:
    """examples/rollout/walkthrough.py makes docs/rollouts.md's outputs: keep it working."""
    script = Path(__file__).resolve().parents[2] / "examples" / "rollout" / "walkthrough.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    steps = done.stdout.split("\n## ")
    assert len(steps) == 3
    assert "waiting for wave canary: web-01 has never reported" in steps[0]
    assert "wave canary failed: web-01 reports site failed" in steps[1]
    assert steps[2].count(" applied ") >= 3 and "waiting" not in steps[2]


def test_fleet_shows_no_rollout_for_a_head_the_hosts_refuse(world: Any, tmp_path: Path) -> None:
    from tests.integration.test_example_and_signing import _signed_commit, _signing_key

    key, allowed = _signing_key(tmp_path)
    world.configure(config_repo={"verify": {"allowed_signers": str(allowed)}})
    world.app("web").config_repo.write("fleet.yml", CANARY)
    _signed_commit(world.config_repo, key, "signed")
    assert cli("run", config=world.config_path).returncode == 0
    signed = cli("fleet", "--json", config=world.config_path)
    assert signed.returncode == 0, signed.stderr
    assert [wave["name"] for wave in json.loads(signed.stdout)["rollout"]["waves"]] == \
        ["canary", "rest"]
    world.config_repo.write("fleet.yml", "waves: [{name: all, hosts: ['*']}]\n")
    unsigned = world.config_repo.commit("not signed")
    shown = cli("fleet", "--json", config=world.config_path)
    assert f"the config head {unsigned[:12]} is refused by config_repo.verify" in shown.stderr
    assert "rollout" not in json.loads(shown.stdout)
