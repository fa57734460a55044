"""The tests' warm starts (tests/launcher.py) against cold ones (`python -m gitops_agent`):
the same command prints the same, exits the same and runs in the same surroundings."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from tests.helpers import cli
from tests.integration.test_configure import editor


@pytest.fixture
def both(monkeypatch):
    """cli(...) started warm, then cold: [(returncode, stdout, stderr)] * 2."""

    def run(*args, **kwargs):
        results = []
        for cold in ("", "1"):
            monkeypatch.setenv("GITOPS_TEST_COLD", cold)
            done = cli(*args, **kwargs)
            results.append((done.returncode, done.stdout, done.stderr))
        return results

    return run


@pytest.mark.parametrize("args", [
    ["--version"],
    ["run", "--help"],
    ["no-such-verb"],
    ["completion", "bash"],
    ["status", "--config", "/nonexistent/agent.yml"],
], ids=["version", "help", "usage error", "completion", "missing config"])
def test_a_command_prints_and_exits_the_same_warm_or_cold(both, args):
    warm, cold = both(*args)

    assert warm == cold
    assert warm[1] or warm[2]  # it did print something


def test_errors_of_a_configured_agent_are_the_same_warm_or_cold(world, both):
    world.app("web").config_repo.commit()

    warm, cold = both("suspend", "nope", "--reason", "r", config=world.config_path)

    assert warm == cold
    assert warm[0] != 0 and "web" in warm[2]  # refused, listing the apps it has


def test_passes_report_the_same_warm_or_cold(world, both):
    world.app("web").config_repo.commit()

    first_warm, first_cold = both("run", config=world.config_path)
    again_warm, again_cold = both("run", config=world.config_path)

    def shape(result):  # run ids and times differ from one pass to the next
        code, out, _ = result
        return code, re.sub(r"\(run [0-9a-f]+", "(run X", out)

    assert shape(first_warm)[0] == 0 and "applied" in first_warm[1]
    assert shape(first_cold) == shape(again_warm) == shape(again_cold)
    assert "unchanged" in again_warm[1]


def test_the_command_gets_the_tests_environment_directory_and_umask(world, tmp_path,
                                                                     monkeypatch):
    """The environment, working directory and umask of a warm command are those of the
    test that started it, as for a cold one (seen by the editor `configure` starts)."""
    seen = {}
    reporter = editor(tmp_path, '{ pwd; umask; echo "$MARK"; } > "$SEEN"')
    where = tmp_path / "here"
    where.mkdir()
    monkeypatch.chdir(where)
    umask = os.umask(0o027)
    try:
        for cold in ("", "1"):
            monkeypatch.setenv("GITOPS_TEST_COLD", cold)
            out = tmp_path / f"seen-{cold or 'warm'}"
            done = cli("configure", config=world.config_path,
                       env={**reporter, "MARK": f"mark-{cold}", "SEEN": str(out)})
            assert done.returncode == 0, done.stderr
            seen[cold] = out.read_text().split()
    finally:
        os.umask(umask)

    assert seen[""] == [str(where), "0027", "mark-"]
    assert seen["1"] == [str(where), "0027", "mark-1"]


def test_a_warm_command_past_its_timeout_is_killed_as_subprocess_kills_one(world):
    world.app("web").config_repo.commit()
    world.configure(interval=3600)

    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        cli("watch", config=world.config_path, timeout=3)
    assert time.monotonic() - started < 15

    # the killed daemon holds nothing: the next pass takes the agent's lock and runs
    done = cli("run", config=world.config_path)
    assert done.returncode == 0, done.stderr
