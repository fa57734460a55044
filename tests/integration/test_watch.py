"""The watch daemon as a real subprocess: pushes, watched files, reloads, signals, notify."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.helpers import SLEEPER, cli, runs, state, temporary_files


def wait_for(check: Callable[[], object], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}")


class Running:
    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process = process
        self.log_path = log

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@contextmanager
def daemon(world, env: dict[str, str] | None = None) -> Iterator[Running]:
    log = world.root / "watch.log"
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                   **(env or {})}
    with open(log, "w") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "gitops_agent", "watch", "--config", str(world.config_path)],
            stdout=stream, stderr=subprocess.STDOUT, text=True, env=environment,
            stdin=subprocess.DEVNULL)
    running = Running(process, log)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def greeting(world, app: str = "web") -> object:
    path = world.out / f"{app}.json"
    return json.loads(path.read_text())["greeting"] if path.exists() else None


def test_watch_applies_pushed_changes_and_stops_on_sigterm(world):
    world.configure(interval=2)
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: one}\n")
    world.config_repo.commit()
    with daemon(world) as running:
        wait_for(lambda: greeting(world) == "one", what="first apply")
        world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: two}\n")
        pushed = time.monotonic()
        world.config_repo.commit("two")
        wait_for(lambda: greeting(world) == "two", what="pushed change applied")
        assert time.monotonic() - pushed < 2 + 20  # interval + the playbook's own time
        stopped = time.monotonic()
        assert running.stop() == 0
        assert time.monotonic() - stopped < 10
    assert "stopped" in running.log


def test_watch_reapplies_an_app_when_a_watched_file_is_edited(world, tmp_path):
    watched = tmp_path / "etc" / "app.conf"
    watched.parent.mkdir()
    watched.write_text("v1\n")
    world.configure(interval=300)
    world.app("web", f"playbook: playbooks/record.yml\nwatch: ['{watched}']\n")
    world.app("other").config_repo.commit()
    with daemon(world) as running:
        wait_for(lambda: len(runs(world.state_dir, "web")) == 1, what="first apply")
        wait_for(lambda: "applied" in running.log and len(runs(world.state_dir, "other")) == 1)
        time.sleep(1)
        edited = time.monotonic()
        watched.write_text("edited by hand\n")
        wait_for(lambda: len(runs(world.state_dir, "web")) == 2, timeout=30,
                 what="re-apply after the edit")
        assert time.monotonic() - edited < 15
        time.sleep(3)
        assert len(runs(world.state_dir, "web")) == 2  # debounced, and no loop
        assert len(runs(world.state_dir, "other")) == 1
        assert running.stop() == 0
    assert "watched files changed: re-applying web" in running.log


def test_watch_reloads_its_config_and_refuses_an_invalid_one(world):
    world.configure(interval=300, labels={"tier": "a"})
    world.app("web").config_repo.commit()
    with daemon(world) as running:
        wait_for(lambda: (world.out / "web.json").exists(), what="first apply")
        world.config_path.write_text(world.config_path.read_text() + "intervl: 5\n")
        wait_for(lambda: "new agent config refused" in running.log, timeout=20)
        assert running.process.poll() is None
        config = yaml.safe_load(world.config_path.read_text().replace("intervl: 5\n", ""))
        config["host"]["labels"] = {"tier": "b"}
        temporary = world.config_path.with_suffix(".new")
        temporary.write_text(yaml.safe_dump(config))
        temporary.replace(world.config_path)  # how editors save: rename over the file
        wait_for(lambda: json.loads((world.out / "web.json").read_text())["labels"]
                 == {"tier": "b"}, timeout=30, what="re-apply with the reloaded labels")
        assert running.stop() == 0
    assert "agent config reloaded" in running.log


def test_sync_asks_the_daemon_for_a_pass_now(world):
    world.configure(interval=600)
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: one}\n")
    world.config_repo.commit()
    no_daemon = cli("sync", config=world.config_path)
    assert no_daemon.returncode == 1 and "no gitops-agent watch is running" in no_daemon.stderr
    with daemon(world) as running:
        wait_for(lambda: greeting(world) == "one", what="first apply")
        world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: two}\n")
        world.config_repo.commit("two")
        done = cli("sync", config=world.config_path)
        assert done.returncode == 0, done.stderr
        wait_for(lambda: greeting(world) == "two", timeout=30, what="pass after sync")
        assert running.stop() == 0


def test_sigterm_mid_playbook_cancels_it_and_exits_0(world):
    world.config_repo.write("playbooks/sleeper.yml", SLEEPER)
    world.app("slow", "playbook: playbooks/sleeper.yml\n").config_repo.commit()
    with daemon(world) as running:
        wait_for(lambda: list((world.state_dir / "runs" / "slow").glob(
            "artifacts/*/job_events/*")), what="the playbook to start")
        time.sleep(1)
        stopped = time.monotonic()
        assert running.stop() == 0
        assert time.monotonic() - stopped < 15
    record = state(world.state_dir)["apps"]["slow"]
    assert record["state"] == "failed" and "canceled" in record["message"]
    assert temporary_files(world.state_dir) == []


def test_watch_notifies_systemd_ready_watchdog_and_stopping(world, tmp_path):
    world.configure(interval=300)
    world.app("web").config_repo.commit()
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(30)
    messages: list[str] = []
    with daemon(world, env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}) as running:
        while not any("WATCHDOG=1" in message for message in messages):
            messages.append(sock.recv(4096).decode())
        running.process.send_signal(signal.SIGTERM)
        sock.settimeout(10)
        while not any("STOPPING=1" in message for message in messages):
            messages.append(sock.recv(4096).decode())
        assert running.process.wait(timeout=30) == 0
    sock.close()
    assert "READY=1" in messages[0]
    assert any(message.startswith("STATUS=") for message in messages)


def test_watch_backs_off_while_the_config_repo_is_unreachable(world, tmp_path):
    world.configure(interval=1, config_repo={"url": str(tmp_path / "missing.git")})
    with daemon(world) as running:
        wait_for(lambda: "next try in 4s" in running.log, timeout=30, what="backoff to 4s")
        assert running.process.poll() is None
        assert running.stop() == 0
    log = running.log
    assert log.index("next try in 1s") < log.index("next try in 2s") < log.index("next try in 4s")


def test_sync_with_a_stale_pid_file_never_signals_an_unrelated_process(world):
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        world.state_dir.mkdir(parents=True, exist_ok=True)
        (world.state_dir / "watch.pid").write_text(f"{bystander.pid}\n")

        done = cli("sync", config=world.config_path)

        assert done.returncode == 1 and "no gitops-agent watch is running" in done.stderr
        time.sleep(0.2)
        assert bystander.poll() is None  # SIGUSR1 would have killed it
    finally:
        bystander.kill()
        bystander.wait()


def test_a_hand_edit_made_while_its_app_is_applied_is_healed(world, tmp_path):
    world.configure(interval=300)
    managed = tmp_path / "managed.conf"
    world.config_repo.write("playbooks/slow-manage.yml", """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Manage the watched file
      ansible.builtin.copy: {dest: "{{ managed }}", content: "wanted\\n"}
    - name: Take a while after writing it
      ansible.builtin.command: sleep 4
      changed_when: false
""")
    world.app("managed", f"playbook: playbooks/slow-manage.yml\nwatch: [{managed}]\n"
              f"vars: {{managed: {managed}}}\n").config_repo.commit()
    with daemon(world) as running:
        wait_for(lambda: managed.exists() and managed.read_text() == "wanted\n",
                 what="the first apply to write the file")
        managed.write_text("edited by hand, mid-apply\n")  # the playbook is still sleeping
        wait_for(lambda: managed.read_text() == "wanted\n", timeout=60,
                 what="the edit to be healed")
        assert running.stop() == 0
