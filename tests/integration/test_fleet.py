"""`gitops-agent fleet`: hosts' reports on real status branches, read by the real CLI."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_agent import git as agent_git
from gitops_agent.clock import iso
from gitops_agent.publish import history, report
from tests.helpers import cli, git, write_config

CONFIG = "3f2c" + "0" * 36
HOUR = 3600
BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""
HOSTILE = "<img src=x onerror=alert(1)> [click](https://evil.test) | cell | `code`\n# Heading"


def ago(seconds: float) -> str:
    return iso(datetime.now(UTC) - timedelta(seconds=seconds))


def app(state: str = "applied", task: str | None = None, msg: str = "") -> dict[str, Any]:
    failed = [{"task": task, "module": "ansible.builtin.fail", "msg": msg}] if task else []
    return {"state": state, "message": msg or "ok", "failed_tasks": failed,
            "run_id": "5f0c" * 8, "config_commit": CONFIG}


class Reports:
    """Hosts' reports pushed to a status repo the way agents push them: a commit built
    with publish.history in a bare repo of its own, pushed with git.push."""

    def __init__(self, root: Path, url: str) -> None:
        self.repo = root / "writer.git"
        self.url = url
        self.tips: dict[str, str] = {}
        agent_git.run(["init", "-q", "--bare", str(self.repo)])

    def put(self, branch: str, files: dict[str, str]) -> None:
        commit = history.commit(self.repo, self.tips.get(branch), files, "report")
        agent_git.push(self.repo, self.url, agent_git.Auth(), branch, commit)
        self.tips[branch] = commit

    def host(self, host: str, seconds_ago: float = 60, branch: str | None = None,
             apps: dict[str, Any] | None = None, **more: Any) -> None:
        document = report.build(host, ago(seconds_ago), CONFIG,
                                apps if apps is not None else {"web": app()},
                                labels={"role": "web"}, last_pass=ago(seconds_ago))
        document.update(more)
        self.put(branch or f"gitops-status/{host}",
                 {f"hosts/{host}.yml": report.to_yaml(document),
                  f"hosts/{host}.md": report.to_markdown(document)})


@pytest.fixture
def fleet_config(world, tmp_path):
    """The agent config of a CI job that only looks at the fleet."""
    return write_config(tmp_path / "fleet-agent.yml", world.config_repo.url,
                        tmp_path / "fleet-state", host="ci")


@pytest.fixture
def reports(world, tmp_path):
    world.config_repo.write("README.md", "fleet\n").commit()
    return Reports(tmp_path, world.config_repo.url)


def fleet(config: Path, *args: str) -> Any:
    done = cli("fleet", *args, config=config)
    assert "Traceback" not in done.stderr
    return done


def test_fleet_finds_failed_and_stale_hosts_and_exits_1(world, reports, fleet_config):
    world.app("web").config_repo.commit()
    assert cli("run", config=world.config_path).returncode == 0  # a real agent: web-01
    reports.host("db-01", apps={"billing": app("failed", "Restart billing", "did not start"),
                                "web": app()})
    reports.host("old-01", seconds_ago=30 * 86400)

    text = fleet(fleet_config)
    as_json = fleet(fleet_config, "--json")

    assert text.returncode == 1 and as_json.returncode == 1, text.stderr
    assert "3 hosts, 1 failed, 1 stale" in text.stdout
    assert re.search(r"db-01 .*1 applied, 1 failed", text.stdout)
    assert "billing: Restart billing: did not start" in text.stdout
    assert re.search(r"old-01 .*30d ago.*STALE", text.stdout)
    assert "stale (no pass within 1860s): old-01" in text.stdout
    document = json.loads(as_json.stdout)
    assert {"hosts", "stale", "failed", "generated"} <= set(document)
    assert document["failed"] == ["db-01"] and document["stale"] == ["old-01"]
    assert sorted(document["hosts"]) == ["db-01", "old-01", "web-01"]
    db = document["hosts"]["db-01"]
    assert set(db) >= {"last_pass", "updated", "config_commit", "labels", "wave", "summary",
                       "stale", "failed"}
    assert db["failed"] == [{"app": "billing", "task": "Restart billing",
                             "msg": "did not start"}]
    assert db["summary"] == {"apps": 2, "applied": 1, "failed": 1}
    assert db["labels"] == {"role": "web"} and db["stale"] is False
    web = document["hosts"]["web-01"]
    assert web["summary"] == {"apps": 1, "applied": 1} and web["failed"] == []
    assert web["config_commit"] == world.config_repo.log("main")[0]
    cache = world.root / "fleet-state" / "repos" / "fleet.git"
    refs = git("--git-dir", str(cache), "for-each-ref", "--format=%(refname)").split()
    assert refs == ["refs/fleet-config/head",  # the config branch's head, for fleet.yml
                    "refs/fleet/gitops-status/db-01", "refs/fleet/gitops-status/old-01",
                    "refs/fleet/gitops-status/web-01"]
    assert "rollout" not in document and db["wave"] is None  # the repo has no fleet.yml
    assert "rollout of" not in text.stdout and text.stderr == ""


def test_fleet_stale_host_exits_4_and_stale_after_widens_the_window(reports, fleet_config):
    reports.host("web-01")
    reports.host("web-02", seconds_ago=HOUR)

    stale = fleet(fleet_config)
    widened = fleet(fleet_config, "--stale-after", str(2 * HOUR))

    assert stale.returncode == 4, stale.stderr
    assert "2 hosts, 0 failed, 1 stale" in stale.stdout
    assert re.search(r"web-02 .*1h ago .*STALE", stale.stdout)
    assert widened.returncode == 0, widened.stderr
    assert "2 hosts, 0 failed, 0 stale" in widened.stdout
    assert fleet(fleet_config, "--stale-after", "0").returncode == 2  # bad input


def test_fleet_reads_per_host_branches_and_a_shared_branch(world, reports, fleet_config):
    write_config(fleet_config, world.config_repo.url, world.root / "fleet-state", host="ci",
                 status={"branch": "gitops-status-all"})
    reports.host("a-01")
    reports.host("c-01", seconds_ago=HOUR)  # its per-host branch is older than the shared one

    before = fleet(fleet_config, "--json")  # the shared branch does not exist yet

    assert before.returncode == 4, before.stderr
    assert sorted(json.loads(before.stdout)["hosts"]) == ["a-01", "c-01"]
    reports.host("b-01", branch="gitops-status-all")
    reports.host("c-01", seconds_ago=10, branch="gitops-status-all")
    after = fleet(fleet_config, "--json")
    assert after.returncode == 0, after.stderr
    hosts = json.loads(after.stdout)["hosts"]
    assert sorted(hosts) == ["a-01", "b-01", "c-01"]
    assert hosts["a-01"]["branch"] == "gitops-status/a-01"
    assert hosts["b-01"]["branch"] == "gitops-status-all"
    assert hosts["c-01"]["branch"] == "gitops-status-all"  # the newest last_pass wins


def test_fleet_publish_commits_once_and_only_when_something_changed(world, reports,
                                                                    fleet_config):
    reports.host("web-01")
    reports.host("db-01", apps={"billing": app("rolled_back", "Migrate", "schema error")})

    first = fleet(fleet_config, "--publish")
    again = fleet(fleet_config, "--publish", "--json")

    assert first.returncode == 1 and "gitops-fleet: published" in first.stdout, first.stderr
    assert again.returncode == 1 and "already up to date" in again.stderr
    json.loads(again.stdout)  # stdout stays one JSON document
    history_before = world.config_repo.log("gitops-fleet")
    assert len(history_before) == 1
    document = yaml.safe_load(world.config_repo.read("gitops-fleet", "fleet.yml"))
    assert document["failed"] == ["db-01"] and sorted(document["hosts"]) == ["db-01", "web-01"]
    markdown = world.config_repo.read("gitops-fleet", "fleet.md")
    assert "| db-01 |" in markdown and "billing: Migrate: schema error" in markdown
    reports.host("db-01")  # recovered
    third = fleet(fleet_config, "--publish")
    assert third.returncode == 0 and "published" in third.stdout
    history_after = world.config_repo.log("gitops-fleet")
    assert history_after[1:] == history_before  # one more commit on top: never forced
    assert yaml.safe_load(world.config_repo.read("gitops-fleet", "fleet.yml"))["failed"] == []


def test_fleet_hostile_reports_neither_break_it_nor_inject_markdown(world, reports,
                                                                    fleet_config):
    reports.host("evil-01", apps={"x": app("failed", f"**bold** <script>{HOSTILE}",
                                           HOSTILE)}, wave=HOSTILE, labels={"k": HOSTILE})
    reports.put("gitops-status-all", {
        "hosts/bomb-01.yml": BOMB,
        "hosts/types-01.yml": "host: types-01\napps: [1, 2]\n",
        "hosts/types-02.yml": "last_pass: {a: 1}\nlabels: x\nsummary: 5\nwave: [1]\n"
                              "apps: {x: notamapping, y: {state: 5}, z: {state: failed, "
                              "failed_tasks: 7, message: [1]}}\n",
        "hosts/big-01.yml": "x: " + "y" * (2 * 1024 * 1024) + "\n",
        "hosts/<b>|x.yml": "host: b\n",
        "hosts/list.yml": "- 1\n- 2\n",
    })
    write_config(fleet_config, world.config_repo.url, world.root / "fleet-state", host="ci",
                 status={"branch": "gitops-status-all"})

    done = fleet(fleet_config, "--json", "--publish")

    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert sorted(document["hosts"]) == ["evil-01", "types-02"]
    assert document["failed"] == ["evil-01", "types-02"]
    assert document["hosts"]["types-02"]["stale"] is True  # no time that can be read
    assert document["hosts"]["types-02"]["summary"] == {"apps": 3, "failed": 1, "unknown": 2}
    problems = {item["host"]: item["problem"] for item in document["unreadable"]}
    assert set(problems) == {"bomb-01", "types-01", "big-01", "<b>|x", "list"}
    assert "invalid YAML" in problems["bomb-01"] and "over 1024 KiB" in problems["big-01"]
    markdown = world.config_repo.read("gitops-fleet", "fleet.md")
    for raw in ("**bold**", "\n# Heading", "`code`"):
        assert raw not in markdown, raw
    for unescaped in (r"(?<!\\)<(img|script|b>)", r"(?<!\\)\[click"):
        assert not re.search(unescaped, markdown), unescaped
    for line in markdown.splitlines():
        if line.startswith("|"):  # every row keeps its columns: no cell adds one
            assert len(re.findall(r"(?<!\\)\|", line)) in (6, 8), line
    text = fleet(fleet_config)
    assert text.returncode == 1 and "\x1b" not in text.stdout


def test_fleet_unreachable_status_repo_is_one_line_and_exit_1(world, tmp_path):
    config = write_config(tmp_path / "fleet-agent.yml", str(tmp_path / "nowhere.git"),
                          tmp_path / "fleet-state", host="ci")

    done = fleet(config)

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot read the status branches of" in lines[0], done.stderr
    assert done.stdout == ""


def test_fleet_example_config_needs_only_the_repo_url(world, reports, tmp_path):
    example = Path(__file__).parents[2] / "examples" / "ci" / "fleet-agent.yml"
    config = tmp_path / "example.yml"
    assert yaml.safe_load(example.read_text()) == {"config_repo": {
        "url": "git@git.example.com:ops/fleet.git"}}
    config.write_text(example.read_text().replace("git@git.example.com:ops/fleet.git",
                                                  world.config_repo.url)
                      + f"state_dir: {tmp_path / 'state'}\n")  # (tests may run as root)
    reports.host("web-01")

    done = cli("fleet", "--publish", config=config)

    assert done.returncode == 0, done.stderr
    assert "gitops-fleet: published" in done.stdout
    assert (tmp_path / "state" / "repos" / "fleet.git").is_dir()


def test_fleet_sends_stale_once_and_recovered_when_the_host_reports_again(
        world, reports, tmp_path):
    from tests.webhook_server import Webhook

    hook = Webhook()
    try:
        config = write_config(tmp_path / "fleet-agent.yml", world.config_repo.url,
                              tmp_path / "fleet-state", host="ci",
                              notify=[{"url": hook.url("/ops"), "timeout": 2}])
        reports.host("web-01")
        reports.host("web-02", seconds_ago=HOUR)

        assert fleet(config).returncode == 4
        assert fleet(config).returncode == 4  # still stale: no second message

        assert [(body["host"], body["event"]) for _, body in hook.received] == [
            ("web-02", "stale")]
        body = hook.received[0][1]
        assert body["app"] is None and body["text"].startswith(":hourglass: web-02:")
        assert "no report since" in body["message"]
        reports.host("web-02", seconds_ago=5)
        assert fleet(config).returncode == 0
        assert [(body["host"], body["event"]) for _, body in hook.received] == [
            ("web-02", "stale"), ("web-02", "recovered")]
    finally:
        hook.close()


def test_fleet_publish_of_heartbeats_only_replaces_the_tip(world, reports, fleet_config):
    reports.host("web-01", seconds_ago=120, updated="2026-12-01T00:00:00Z")
    assert fleet(fleet_config, "--publish").returncode == 0
    reports.host("db-01")
    assert fleet(fleet_config, "--publish").returncode == 0  # news: a new host
    before = world.config_repo.log("gitops-fleet")

    reports.host("web-01", seconds_ago=5, updated="2026-12-01T00:00:00Z")  # a heartbeat
    assert "published" in fleet(fleet_config, "--publish").stdout

    after = world.config_repo.log("gitops-fleet")
    assert len(after) == len(before) == 2 and after[0] != before[0]
    assert after[1] == before[1]  # the tip was replaced, nothing else rewritten
    hosts = yaml.safe_load(world.config_repo.read("gitops-fleet", "fleet.yml"))["hosts"]
    assert sorted(hosts) == ["db-01", "web-01"]


RULES = """\
waves:
  - {name: canary, hosts: [web-01]}
  - {name: web, labels: {role: web}}
"""


def test_fleet_shows_the_rollout_of_the_config_head_wave_by_wave(world, reports,
                                                                  fleet_config):
    head = world.config_repo.write("fleet.yml", RULES).commit("waves")
    reports.host("web-01", config_commit=head, wave="web")  # the wave a report claims
    reports.host("web-02", config_commit=head)  # is not taken: fleet.yml's is
    reports.host("web-03", apps={"web": app("waiting", msg="waiting for wave canary")})

    as_json = fleet(fleet_config, "--json")
    text = fleet(fleet_config)

    assert as_json.returncode == 0 and text.returncode == 0, as_json.stderr
    assert as_json.stderr == text.stderr == ""
    document = json.loads(as_json.stdout)
    assert document["rollout"] == {
        "commit": head, "paused": None, "paused_until": None, "in_window": True,
        "next_window": None, "windows": [],
        "waves": [{"name": "canary", "hosts": 1, "done": 1, "waiting": 0, "failed": 0,
                   "stale": 0, "open": True},
                  {"name": "web", "hosts": 2, "done": 1, "waiting": 1, "failed": 0,
                   "stale": 0, "open": True}]}
    assert {name: host["wave"] for name, host in document["hosts"].items()} == {
        "web-01": "canary", "web-02": "web", "web-03": "web"}
    lines = text.stdout.splitlines()
    start = lines.index(f"rollout of {head[:12]}")
    assert lines[start + 1:start + 4] == [
        "  WAVE      HOSTS     DONE  WAITING   FAILED    STALE  STATE",
        "  canary        1        1        0        0        0  done",
        "  web           2        1        1        0        0  open"]
    assert re.search(r"^web-01 .*canary ", text.stdout, re.MULTILINE)

    world.config_repo.write("fleet.yml", RULES + "pause: {reason: release freeze}\n")
    paused = world.config_repo.commit("freeze")
    reports.host("web-01", config_commit=paused, apps={"web": app("failed", "Start", "no")})
    held = fleet(fleet_config, "--publish")
    assert held.returncode == 1, held.stderr
    assert f"rollout of {paused[:12]}: paused: release freeze" in held.stdout
    assert "  web           2        0        2        0        0  held" in held.stdout
    markdown = world.config_repo.read("gitops-fleet", "fleet.md")
    assert "| canary | 1 | 0 | 0 | 1 | 0 | failed |" in markdown
    published = yaml.safe_load(world.config_repo.read("gitops-fleet", "fleet.yml"))
    assert published["rollout"]["paused"] == "release freeze"


def test_fleet_with_an_invalid_fleet_yml_warns_once_and_shows_no_waves(world, reports,
                                                                        fleet_config):
    head = world.config_repo.write("fleet.yml", RULES + "  - {name: web, hosts: [x]}\n") \
        .commit("a wave named twice")
    reports.host("web-01", config_commit=head)
    reports.host("db-01", apps={"billing": app("failed", "Migrate", "schema error")})

    done = fleet(fleet_config)
    as_json = fleet(fleet_config, "--json")

    assert done.returncode == as_json.returncode == 1  # by the hosts' states, as ever
    for stderr in (done.stderr, as_json.stderr):
        lines = stderr.splitlines()
        assert len(lines) == 1, stderr
        assert lines[0].startswith(f"warning: no rollout progress: fleet.yml at {head[:12]} "
                                   "is invalid: fleet.yml:4: ")
        assert "named twice" in lines[0]
    assert "rollout of" not in done.stdout and "2 hosts, 1 failed, 0 stale" in done.stdout
    document = json.loads(as_json.stdout)
    assert "rollout" not in document
    assert {host["wave"] for host in document["hosts"].values()} == {None}


def test_fleet_with_the_config_repo_unreachable_warns_once_and_reads_the_hosts(
        world, reports, tmp_path):
    config = write_config(tmp_path / "fleet-agent.yml", str(tmp_path / "nowhere.git"),
                          tmp_path / "fleet-state", host="ci",
                          status={"url": world.config_repo.url})
    reports.host("web-01")
    reports.host("web-02", seconds_ago=HOUR)

    done = fleet(config, "--json")

    assert done.returncode == 4, done.stderr  # web-02 is stale: the hosts still count
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "warning: no rollout progress: cannot read the config repo "), done.stderr
    document = json.loads(done.stdout)
    assert sorted(document["hosts"]) == ["web-01", "web-02"] and "rollout" not in document
