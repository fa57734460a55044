"""Per-host status branches: no lost report with many hosts, no commit without news,
a heartbeat that replaces the tip, trimmed history, and a blocking branch named."""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import yaml

from gitops_agent import git as agent_git
from gitops_agent.config import StatusConfig
from gitops_agent.publish import history, report, status
from tests.helpers import Remote, cli, git, write_config
from tests.helpers import report as read_report
from tests.helpers import state as read_state


def test_40_agents_at_once_lose_no_report(world, tmp_path):
    world.app("db", "playbook: playbooks/record.yml\nhosts: [db-*]\n")
    commit = world.config_repo.commit()
    hosts = [f"node-{index:02d}" for index in range(40)]
    configs = [write_config(tmp_path / f"{host}.yml", world.config_repo.url,
                            tmp_path / f"state-{host}", host=host, labels={"rack": "r1"})
               for host in hosts]

    with ThreadPoolExecutor(len(hosts)) as pool:
        results = list(pool.map(lambda path: cli("run", config=path, timeout=600), configs))

    assert [result.returncode for result in results] == [0] * len(hosts), \
        [result.stderr for result in results if result.returncode]
    for host in hosts:
        document = read_report(world.config_repo, host, f"gitops-status/{host}")
        assert document["host"] == host and document["config_commit"] == commit
        assert document["labels"] == {"rack": "r1"}
        assert len(world.config_repo.log(f"gitops-status/{host}")) == 1
        assert read_state(tmp_path / f"state-{host}")["push_error"] is None


def test_a_readme_only_commit_adds_no_commit_to_the_status_branch(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0  # applied
    assert cli("run", config=world.config_path).returncode == 0  # now unchanged: steady
    before = world.config_repo.log("gitops-status/web-01")
    first = read_report(world.config_repo)

    new_commit = world.config_repo.write("README.md", "# ops\n").commit("docs only")
    done = cli("run", config=world.config_path)

    assert done.returncode == 0
    assert world.config_repo.log("gitops-status/web-01") == before
    assert read_state(world.state_dir)["config_commit"] == new_commit
    assert read_report(world.config_repo) == first  # even config_commit waits for news


def test_a_heartbeat_replaces_the_tip_and_keeps_history_flat(world):
    world.configure(status={"heartbeat": 10})
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    world.config_repo.write("README.md", "# ops\n").commit("docs only")
    assert cli("run", config=world.config_path).returncode == 0
    history_before = world.config_repo.log("gitops-status/web-01")
    first = read_report(world.config_repo)

    time.sleep(10.5)
    assert cli("run", config=world.config_path).returncode == 0

    history_after = world.config_repo.log("gitops-status/web-01")
    refreshed = read_report(world.config_repo)
    assert len(history_after) == len(history_before)  # replaced, not added
    assert history_after[0] != history_before[0]
    assert history_after[1:] == history_before[1:]
    assert refreshed["last_pass"] > first["last_pass"]
    assert refreshed["updated"] == first["updated"]  # the content did not change
    assert refreshed["config_commit"] == world.config_repo.log("main")[0]  # now caught up
    assert refreshed["apps"] == first["apps"]


def test_a_no_op_pass_does_not_contact_the_status_repo(world, tmp_path):
    status_repo = Remote(tmp_path, "status")
    world.configure(status={"url": status_repo.url})
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0  # applied
    assert cli("run", config=world.config_path).returncode == 0  # now unchanged: steady
    shutil.move(status_repo.bare, tmp_path / "gone.git")  # the status host is down

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert read_state(world.state_dir)["push_error"] is None
    assert "not pushed" not in done.stderr


def test_a_branch_that_blocks_the_name_is_one_line_with_the_fix(world):
    world.app("web").config_repo.commit()
    world.config_repo.branch("gitops-status")  # an older agent's shared branch

    done = cli("run", config=world.config_path)

    assert done.returncode == 0  # a report that cannot be pushed never fails the pass
    error = read_state(world.state_dir)["push_error"]
    assert "branch gitops-status exists beside it" in error
    assert "delete that branch or set status.branch" in error
    assert "Traceback" not in done.stderr
    assert cli("status", config=world.config_path).stdout.count("gitops-status exists") == 1


def _target(url: str, **more: object) -> StatusConfig:
    settings: dict = {"enabled": True, "url": url, "branch": "gitops-status/web-01"}
    return StatusConfig(**(settings | more))


def _document(now: datetime, message: str) -> dict:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    app = {"state": "applied", "message": message}
    return report.build("web-01", stamp, "a" * 40, {"web": app}, last_pass=stamp)


def test_keep_days_trims_old_history_once_a_day_past_the_limit(tmp_path):
    remote = Remote(tmp_path, "status")
    target = _target(remote.url, keep_days=3)
    cache = tmp_path / "cache.git"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for day in range(10):
        now = start + timedelta(days=day)
        outcome = status.publish(cache, target, agent_git.Auth(), "web-01",
                                 _document(now, f"day {day}"), now=lambda now=now: now)
        assert outcome == status.PUSHED

    commits = git("--git-dir", str(remote.bare), "log", "--format=%ct %s",
                  "gitops-status/web-01").splitlines()
    assert 4 <= len(commits) <= 6  # the last 3-4 days, one per day, and the trimmed root
    assert "history before" in commits[-1] and "keep_days: 3" in commits[-1]
    last = yaml.safe_load(remote.read("gitops-status/web-01", "hosts/web-01.yml"))
    assert last["apps"]["web"]["message"] == "day 9"
    root_day = int(commits[-1].split()[0])
    assert root_day >= (start + timedelta(days=9 - 3 - 2)).timestamp()


def test_trimmed_keeps_each_recent_commit_tree_and_message(tmp_path):
    repo = tmp_path / "repo.git"
    git("init", "-q", "--bare", str(repo))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    tip = None
    for day in range(8):
        tip = history.commit(repo, tip, {"a.txt": f"{day}\n"}, f"day {day}",
                             start + timedelta(days=day))
    now = start + timedelta(days=8)

    trimmed = history.trimmed(repo, tip, 4, now)

    messages = git("--git-dir", str(repo), "log", "--format=%s", trimmed).splitlines()
    assert messages[:4] == ["day 7", "day 6", "day 5", "day 4"]
    assert len(messages) == 5 and messages[-1].startswith("history before")
    assert git("--git-dir", str(repo), "rev-parse", f"{trimmed}^{{tree}}") == \
        git("--git-dir", str(repo), "rev-parse", f"{tip}^{{tree}}")
    assert git("--git-dir", str(repo), "show", f"{trimmed}~4:a.txt") == "3"
    assert history.trimmed(repo, trimmed, 4, now) == trimmed  # nothing more to trim


def test_housekeeping_packs_a_checkout_once_a_day(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    checkout = world.state_dir / "repos" / "config"
    loose = checkout / "loose"
    loose.mkdir()
    for index in range(3000):
        (loose / f"{index}").write_text(f"object {index}\n")
    git("-C", str(checkout), "add", "loose")  # 3,000 loose blobs, unreachable once reset
    git("-C", str(checkout), "reset", "-q")
    shutil.rmtree(loose)
    old = time.time() - 7200  # written two hours ago: past the agent's prune delay
    for path in (checkout / ".git" / "objects").glob("??/*"):
        os.utime(path, (old, old))
    marker = checkout / ".git" / "gitops-agent-tidied"
    marker.unlink()

    world.config_repo.write("README.md", "x\n").commit()
    assert cli("run", config=world.config_path).returncode == 0

    counts = dict(line.split(": ") for line in
                  git("-C", str(checkout), "count-objects", "-v").splitlines())
    assert int(counts["count"]) < 100  # the loose blobs were pruned or packed
    assert marker.exists()


def test_a_pass_clears_the_copies_a_killed_run_left_a_day_ago(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    left = world.state_dir / "tmp" / "tmpkilled"
    (left / "sources" / "web").mkdir(parents=True)
    (left / "sources" / "web" / "index.html").write_text("x\n")
    old = time.time() - 2 * 86400
    os.utime(left, (old, old))
    fresh = world.state_dir / "tmp" / "tmpinuse"
    fresh.mkdir()
    ahead = world.state_dir / "tmp" / "tmpahead"  # made before the clock was set back
    ahead.mkdir()
    later = time.time() + 3 * 86400
    os.utime(ahead, (later, later))

    assert cli("run", config=world.config_path).returncode == 0

    assert not left.exists()
    assert fresh.is_dir() and ahead.is_dir()  # younger than a day: may still be in use


def _publish(cache, target, now, message="steady"):
    return status.publish(cache, target, agent_git.Auth(), "web-01", _document(now, message),
                          now=lambda: now)


def test_a_branch_that_refuses_rewrites_gets_heartbeat_commits_instead(tmp_path):
    remote = Remote(tmp_path, "status")
    git("--git-dir", str(remote.bare), "config", "receive.denyNonFastForwards", "true")
    target = _target(remote.url, heartbeat=60)
    cache = tmp_path / "cache.git"
    start = datetime(2026, 12, 1, tzinfo=UTC)

    assert _publish(cache, target, start) == status.PUSHED
    assert _publish(cache, target, start + timedelta(seconds=30)) == status.UNCHANGED
    assert _publish(cache, target, start + timedelta(seconds=90)) == status.REFRESHED

    assert len(remote.log("gitops-status/web-01")) == 2  # added, as it could not replace
    last = yaml.safe_load(remote.read("gitops-status/web-01", "hosts/web-01.yml"))
    assert last["last_pass"] == "2026-12-01T00:01:30Z"
    assert last["updated"] == "2026-12-01T00:00:00Z"


def test_heartbeats_replace_the_tip_so_a_day_of_them_is_one_commit(tmp_path):
    remote = Remote(tmp_path, "status")
    target = _target(remote.url, heartbeat=900)
    cache = tmp_path / "cache.git"
    start = datetime(2026, 12, 1, tzinfo=UTC)
    outcomes = [_publish(cache, target, start + timedelta(minutes=minute))
                for minute in range(0, 24 * 60, 5)]  # a pass every 5 minutes for a day

    assert outcomes.count(status.PUSHED) == 1
    assert outcomes.count(status.REFRESHED) == 24 * 4 - 1
    assert len(remote.log("gitops-status/web-01")) == 1


def test_a_stale_cache_is_rebuilt_on_the_moved_tip_without_losing_the_other_write(tmp_path):
    """Someone else wrote to this host's branch (an operator, a restored backup): the
    next change is rejected, fetched, rebuilt on top; nothing is forced over it."""
    remote = Remote(tmp_path, "status")
    target = _target(remote.url)
    cache = tmp_path / "cache.git"
    start = datetime(2026, 12, 1, tzinfo=UTC)
    assert _publish(cache, target, start) == status.PUSHED
    other = tmp_path / "other.git"
    assert _publish(other, target, start, "from elsewhere") == status.PUSHED

    assert _publish(cache, target, start, "new content") == status.PUSHED

    assert len(remote.log("gitops-status/web-01")) == 3


def test_a_heartbeat_never_replaces_someone_elses_commit(tmp_path):
    remote = Remote(tmp_path, "status")
    target = _target(remote.url, heartbeat=60)
    cache = tmp_path / "cache.git"
    start = datetime(2026, 12, 1, tzinfo=UTC)
    assert _publish(cache, target, start) == status.PUSHED
    note = Remote(tmp_path, "operator")
    git("fetch", "-q", str(remote.bare), "gitops-status/web-01", cwd=note.work)
    git("checkout", "-q", "FETCH_HEAD", cwd=note.work)
    note.write("NOTE.md", "disk replaced\n")
    git("add", "-A", cwd=note.work)
    git("commit", "-q", "-m", "operator note", cwd=note.work)
    git("push", "-q", str(remote.bare), "HEAD:refs/heads/gitops-status/web-01", cwd=note.work)

    assert _publish(cache, target, start + timedelta(minutes=2)) == status.REFRESHED
    assert _publish(cache, target, start + timedelta(minutes=4)) == status.REFRESHED

    assert remote.read("gitops-status/web-01", "NOTE.md") == "disk replaced"
    messages = git("--git-dir", str(remote.bare), "log", "--format=%s",
                   "gitops-status/web-01").splitlines()
    assert messages[1:] == ["operator note", messages[-1]] and len(messages) == 3


def test_a_lock_a_killed_git_left_in_the_cache_does_not_stop_reports(tmp_path):
    remote = Remote(tmp_path, "status")
    target = _target(remote.url)
    cache = tmp_path / "cache.git"
    start = datetime(2026, 12, 1, tzinfo=UTC)
    assert _publish(cache, target, start) == status.PUSHED
    (cache / "refs" / "heads" / "gitops-status" / "web-01.lock").write_text("x")
    (cache / "shallow.lock").write_text("x")

    assert _publish(cache, target, start, "changed") == status.PUSHED

    last = yaml.safe_load(remote.read("gitops-status/web-01", "hosts/web-01.yml"))
    assert last["apps"]["web"]["message"] == "changed"


def test_trimmed_cuts_by_time_not_by_position_and_never_on_a_clock_leap(tmp_path):
    repo = tmp_path / "repo.git"
    git("init", "-q", "--bare", str(repo))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    tip = None
    for message, day in (("c0", 0), ("c1", 95), ("c2", 80), ("c3", 100)):  # clock went back
        tip = history.commit(repo, tip, {"a.txt": f"{message}\n"}, message,
                             start + timedelta(days=day))

    trimmed = history.trimmed(repo, tip, 10, start + timedelta(days=100))
    leap = history.trimmed(repo, tip, 10, start + timedelta(days=400))

    messages = git("--git-dir", str(repo), "log", "--format=%s", trimmed).splitlines()
    assert messages[:2] == ["c3", "c1"] or messages == ["c3", "c2", "c1", "c0"]
    assert "c1" in messages  # inside the window: never squashed away
    assert leap == tip  # only the newest commit would be left: nothing is trimmed
