"""The agent's git under faults: a repo above the state dir, half-written or locked
checkouts, a corrupt index, a hostile ~/.gitconfig. Real repos, real corruption."""

from __future__ import annotations

import os
import time

from tests.helpers import Remote, cli, git, report, state


def test_half_written_clone_inside_another_repo_never_touches_the_outer_repo(world, tmp_path):
    outer = tmp_path / "outer"
    outer.mkdir()
    git("init", "-q", str(outer))
    (outer / "precious.txt").write_text("keep me\n")
    git("add", "-A", cwd=outer)
    git("commit", "-q", "-m", "outer", cwd=outer)
    outer_head = git("rev-parse", "HEAD", cwd=outer)
    world.state_dir = outer / "state"
    world.configure()
    world.app("web").config_repo.commit()
    checkout = world.state_dir / "repos" / "config"
    (checkout / ".git").mkdir(parents=True)  # a clone killed before it wrote HEAD

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert "moved aside" in done.stderr
    assert git("rev-parse", "HEAD", cwd=outer) == outer_head
    assert (outer / "precious.txt").read_text() == "keep me\n"
    assert git("status", "--porcelain", "--untracked-files=no", cwd=outer) == ""
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"


def test_stale_lock_files_left_by_a_killed_git_do_not_block_a_checkout(world, tmp_path):
    source = Remote(tmp_path, "src")
    source.write("a.txt", "v1\n").commit()
    world.app("web", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}}}\n")
    world.config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    for checkout in (world.state_dir / "repos" / "config", world.state_dir / "repos/apps/web"):
        (checkout / ".git" / "index.lock").write_text("")
        (checkout / ".git" / "shallow.lock").write_text("")
    source.write("a.txt", "v2\n").commit()
    world.config_repo.write("README.md", "moved on\n").commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert (world.state_dir / "repos/apps/web/a.txt").read_text() == "v2\n"


def test_corrupt_index_in_one_apps_checkout_heals_and_says_so(world, tmp_path):
    source = Remote(tmp_path, "src")
    source.write("a.txt", "v1\n").commit()
    world.app("web", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}}}\n")
    world.app("other")
    world.config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    checkout = world.state_dir / "repos/apps/web"
    (checkout / ".git" / "index").write_bytes(b"DIRC garbage" * 50)
    source.write("a.txt", "v2\n").commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert (checkout / "a.txt").read_text() == "v2\n"
    assert (checkout.parent / "web.broken").is_dir()
    web = report(world.config_repo)["apps"]["web"]
    assert web["state"] == "applied" and "cloned again" in web["message"]


def test_user_gitconfig_is_never_applied_to_the_agents_git(world, tmp_path):
    world.app("web").config_repo.commit()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        f'[url "{tmp_path}/nowhere.git"]\n\tinsteadOf = {world.config_repo.url}\n'
        "[core]\n\thooksPath = /nonexistent\n")

    done = cli("run", config=world.config_path, env={"HOME": str(home)})

    assert done.returncode == 0, done.stderr
    assert state(world.state_dir)["apps"]["web"]["state"] == "applied"
    assert not os.path.exists(tmp_path / "nowhere.git")


def test_a_branch_named_like_a_pinned_tag_or_short_sha_never_wins(world, tmp_path):
    source = Remote(tmp_path, "src")
    pinned = source.write("a.txt", "pinned\n").commit("pinned")
    source.tag("v1")
    source.write("a.txt", "hijack\n").commit("hijack", branch="hijack")
    source.branch("v1")  # a branch named like the tag, at another commit
    source.branch(pinned[:9])  # a branch named like the pinned short sha
    world.app("by-tag", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}, "
              "ref: v1}\n")
    world.app("by-sha", f"playbook: playbooks/record.yml\nsource: {{url: {source.url}, "
              f"ref: '{pinned[:9]}'}}\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    apps = state(world.state_dir)["apps"]
    assert apps["by-tag"]["source_commit"] == pinned
    assert apps["by-sha"]["source_commit"] == pinned
    assert (world.state_dir / "repos/apps/by-tag/a.txt").read_text() == "pinned\n"


def test_a_corrupt_status_clone_is_dropped_and_the_report_still_pushed(world):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    objects = world.state_dir / "repos" / "status.git" / "objects"
    loose = [path for path in objects.glob("??/*") if path.is_file()]
    assert loose
    for path in loose:
        path.chmod(0o644)
        path.write_bytes(b"not an object")
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: again}\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert "is corrupt: dropped and built again" in done.stderr, done.stderr
    web = report(world.config_repo)["apps"]["web"]
    assert web["state"] == "applied" and web["config_commit"] == git(
        "rev-parse", "HEAD", cwd=world.config_repo.work)


def test_a_hostile_report_on_the_status_branch_does_not_stop_reporting(world, tmp_path):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0
    planter = tmp_path / "planter"
    git("clone", "-q", "-b", "gitops-status/web-01", world.config_repo.url, str(planter))
    (planter / "hosts" / "web-01.yml").write_text("[" * 100_000 + "]" * 100_000)
    git("commit", "-q", "-am", "a bomb where the report goes", cwd=planter)
    git("push", "-q", "origin", "HEAD:gitops-status/web-01", cwd=planter)
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: again}\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    assert report(world.config_repo)["apps"]["web"]["state"] == "applied"


def test_a_clock_step_never_rotates_away_the_current_run(world):
    world.configure(runner={"keep_artifacts": 2})
    world.app("web").config_repo.commit()
    for number in range(3):
        world.app("web", f"playbook: playbooks/record.yml\nvars: {{greeting: v{number}}}\n")
        world.config_repo.commit()
        assert cli("run", config=world.config_path).returncode == 0
    artifacts = world.state_dir / "runs" / "web" / "artifacts"
    future = time.time() + 10 * 365 * 86400  # the clock stepped back: old runs look newer
    for run in artifacts.iterdir():
        os.utime(run, (future, future))
    world.app("web", "playbook: playbooks/record.yml\nvars: {greeting: now}\n")
    world.config_repo.commit()

    done = cli("run", config=world.config_path)

    assert done.returncode == 0, done.stderr
    current = state(world.state_dir)["apps"]["web"]["run_id"]
    kept = sorted(path.name for path in artifacts.iterdir())
    assert current in kept and len(kept) == 2
