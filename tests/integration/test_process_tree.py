"""A playbook run's whole process tree ends with it on timeout and SIGTERM, also what
left its process group; a run that prints a flood keeps the agent and its artifacts
small. Real processes, real floods."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.helpers import cli, runs, state, temporary_files

ESCAPE = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Start a process that leaves the group, then hang
      ansible.builtin.shell: >-
        setsid sleep 300 > /dev/null 2>&1 < /dev/null &
        echo $! > {{ out_dir }}/escapee.pid; sleep 120
"""
FLOOD = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: Print 25 MB and fail
      ansible.builtin.shell: head -c 25000000 /dev/zero | tr '\\0' x; exit 3
"""


def start_run(world, output: int) -> subprocess.Popen[str]:
    """`gitops-agent run` in the background, the venv's ansible first on PATH."""
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.Popen([sys.executable, "-m", "gitops_agent", "run", "--config",
                             str(world.config_path)], env=environment, stdout=output,
                            stderr=output, text=True)


def alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not text[text.rindex(")") + 2:].startswith("Z")


def escapee(world) -> int:
    path = world.out / "escapee.pid"
    deadline = time.monotonic() + 60
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, "the playbook never started its escapee"
        time.sleep(0.1)
    return int(path.read_text())


def test_timeout_ends_processes_that_left_the_process_group(world):
    world.config_repo.write("playbooks/escape.yml", ESCAPE)
    world.app("escape", "playbook: playbooks/escape.yml\ntimeout: 4\n").config_repo.commit()
    began = time.monotonic()
    home = world.root / "home"  # where Ansible keeps its scratch unless told otherwise
    home.mkdir()

    done = cli("run", config=world.config_path, env={"HOME": str(home)})

    assert done.returncode == 1
    assert time.monotonic() - began < 60
    pid = escapee(world)
    assert not alive(pid), f"pid {pid} outlived the run"
    left = [str(path) for path in home.rglob("ansible-local-*")]
    assert not left, f"Ansible's scratch outlived the killed run: {left}"
    record = state(world.state_dir)["apps"]["escape"]
    assert record["state"] == "failed" and "timeout" in record["message"]


def test_sigterm_to_run_ends_the_whole_tree(world):
    world.config_repo.write("playbooks/escape.yml", ESCAPE)
    world.app("escape", "playbook: playbooks/escape.yml\n").config_repo.commit()
    agent = start_run(world, subprocess.PIPE)
    pid = escapee(world)
    time.sleep(0.5)

    agent.send_signal(signal.SIGTERM)
    agent.communicate(timeout=60)

    assert agent.returncode == 1
    assert not alive(pid), f"pid {pid} outlived the run"


def test_a_flood_of_output_keeps_the_agent_and_its_artifacts_small(world):
    world.config_repo.write("playbooks/flood.yml", FLOOD)
    world.app("flood", "playbook: playbooks/flood.yml\n").config_repo.commit()
    agent = start_run(world, subprocess.DEVNULL)
    peak = [0]

    def watch() -> None:
        while agent.poll() is None:
            try:
                status = Path(f"/proc/{agent.pid}/status").read_text()
                rss = int(next(line.split()[1] for line in status.splitlines()
                               if line.startswith("VmRSS:")))
                peak[0] = max(peak[0], rss)
            except (OSError, StopIteration):
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    agent.wait(timeout=600)
    watcher.join()

    assert agent.returncode == 1
    assert peak[0] < 200 * 1024, f"the agent grew to {peak[0] // 1024} MiB"
    (run,) = runs(world.state_dir, "flood")
    size = sum(path.stat().st_size for path in run.rglob("*") if path.is_file())
    assert size < 21 * 1024 * 1024, f"{size} bytes of artifacts"
    record = state(world.state_dir)["apps"]["flood"]
    assert record["state"] == "failed" and len(record["message"]) < 2000


def test_processes_left_by_a_killed_agent_end_at_the_next_pass(world):
    world.config_repo.write("playbooks/escape.yml", ESCAPE)
    world.app("escape", "playbook: playbooks/escape.yml\ntimeout: 600\n").config_repo.commit()
    agent = start_run(world, subprocess.DEVNULL)
    pid = escapee(world)
    agent.send_signal(signal.SIGKILL)  # no chance to clean up
    agent.wait()
    assert alive(pid)
    left = temporary_files(world.state_dir)
    assert any(path.startswith("runs/escape/work/run-") for path in left), left

    world.app("escape", "playbook: playbooks/record.yml\n").config_repo.commit("fixed")
    done = cli("run", config=world.config_path)

    assert "ending" in done.stderr and "an agent that did not finish" in done.stderr
    assert not alive(pid)
    assert temporary_files(world.state_dir) == []  # its private dir, vars file and all


def test_sigterm_while_git_hangs_on_a_dead_remote_ends_the_run_soon(world):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)  # accepts connections, never says a word
    port = listener.getsockname()[1]
    try:
        world.configure(config_repo={"url": f"https://127.0.0.1:{port}/fleet.git"})
        agent = start_run(world, subprocess.PIPE)
        time.sleep(2)
        assert agent.poll() is None  # still hanging on the remote
        signalled = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        listener.close()

    assert agent.returncode == 1
    assert took < 20, f"took {took:.0f}s after SIGTERM"
    assert "stopped by a signal" in stderr and "Traceback" not in stderr
