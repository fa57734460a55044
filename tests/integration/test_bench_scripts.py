"""The benchmark scripts' short versions, so that they cannot rot (figures: docs/).

Every script prints one `label: value unit (details)` line per figure, then a `machine:`
line, and ends with `reproduce: <the command>`.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bench(script: str, *args: str) -> list[str]:
    """Run bench/<script> with `args`; its stdout lines, once it passed and ended well."""
    done = subprocess.run([sys.executable, f"bench/{script}", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    command = shlex.join([".venv/bin/python", f"bench/{script}", *args])
    assert lines[-1] == f"reproduce: {command}", done.stdout
    assert lines[-2].startswith("machine: "), done.stdout
    assert all(": " in line for line in lines), done.stdout  # nothing but figures
    return lines


def figure(lines: list[str], label: str) -> str:
    """The one line of the figure `label`, without its label."""
    found = [line for line in lines if line.startswith(f"{label}: ")]
    assert len(found) == 1, f"{label!r} in:\n" + "\n".join(lines)
    return found[0].removeprefix(f"{label}: ")


@pytest.mark.slow
def test_bench_tracing_short_run_prints_its_figures():
    lines = bench("bench_tracing.py", "--quick")

    for label in ("apply without tracing", "apply with tracing"):
        assert figure(lines, label).endswith(", n=1)")
    assert " % on medians " in figure(lines, "tracing overhead")


@pytest.mark.slow
def test_bench_inputs_quick_run_finds_no_miss():
    lines = bench("bench_inputs.py", "--quick")

    assert figure(lines, "family lookup_file").startswith("0 misses (")
    assert figure(lines, "all 1 families").startswith("0 misses (")


@pytest.mark.slow
def test_bench_kills_short_run_loses_nothing():
    lines = bench("bench_kills.py", "--quick")

    assert figure(lines, "soak under SIGKILL, 2 apps x 4 passes").startswith("0 problems (")


@pytest.mark.slow
def test_bench_fleet_quick_run_loses_no_report():
    lines = bench("bench_fleet.py", "--quick")

    for what in ("reports lost", "hosts that gave up", "commits added by heartbeats"):
        assert figure(lines, f"total, {what}").startswith("0 (")
    assert " 0 reports lost, 0 gave up;" in figure(
        lines, "burst (a config commit touching every host), 12 hosts")
    for branches in (10, 12):
        assert figure(lines, f"bytes received, no-op pass (remote_head + publish), "
                             f"{branches} branches").endswith(" bytes (mean of 3 hosts)")
    assert figure(lines, "month, keep_days 2, 3 hosts x 5 days").endswith(" s)")


@pytest.mark.slow
def test_bench_noop_quick_run_measures_agent_and_ansible_pull():
    lines = bench("bench_noop.py", "--quick")

    for label in ("agent no-op, 1 app", "agent no-op, 1 app, --no-push",
                  "ansible-pull no-op, 1 app"):
        assert figure(lines, label).endswith(", n=1)")
    assert "target >= 5 x" in figure(lines, "ratio ansible-pull / agent no-op, 1 app")
    assert " s median " in figure(lines, "agent overhead, pass applying 1 of 1 app")


@pytest.mark.slow
def test_bench_daemon_short_run_measures_idle_and_push_to_applied():
    lines = bench("bench_daemon.py", "--quick")

    assert " MB max " in figure(lines, "idle RSS, 1 apps, interval 3 s")
    assert " % of one core " in figure(lines, "idle CPU, 1 apps, interval 3 s")
    assert figure(lines, "push to applied, interval 3 s").endswith(", n=1)")
    assert figure(lines, "push + `gitops-agent sync` to applied").endswith(", n=1)")


@pytest.mark.slow
def test_bench_waves_quick_run_makes_one_network_call_per_quiet_waiting_pass():
    lines = bench("bench_waves.py", "--quick")  # it checks the call counts itself

    for branches in (10, 50):
        for case in ("name", "labels"):
            where = f"waiting host, canary by {case}, {branches} branches"
            assert figure(lines, f"{where}, bytes received, nothing changed").endswith(" bytes")
            assert " ms median " in figure(lines, f"{where}, one call when nothing changed")
            calls = figure(lines, f"{where}, network calls per call")
            assert calls.startswith("1/1/1 " if case == "name" else "2/2/1 "), calls


@pytest.mark.slow
def test_bench_deploy_short_run_prints_each_figure():
    lines = bench("bench_deploy.py", "--quick")

    for label, ran in (("first deploy", 1), ("no-op", 1), ("4-file change", 2)):
        assert figure(lines, f"deploy, 20 files, {label}").endswith(f" s (commands ran {ran}x)")
    for label, ran in (("first put", 1), ("no-op", 1), ("1 file changed", 2)):
        assert figure(lines, f"deploy, 2 config files, {label}").endswith(
            f" s (commands ran {ran}x)")
    assert figure(lines, "one-task playbook (Ansible's own cost)").endswith(" s")
