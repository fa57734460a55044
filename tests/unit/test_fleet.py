"""The fleet overview's pure parts: reading a report, stale, newest wins, exit codes,
the Markdown and terminal renders, and which branches are read."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from gitops_agent.config import StatusConfig
from gitops_agent.config.fleet import Pause, Rules, Wave, rules_from_text
from gitops_agent.observe.host_reports import Branches
from gitops_agent.publish.fleet import (
    Head,
    HostView,
    Unreadable,
    content,
    exit_code,
    host_view,
    is_stale,
    newest,
    news,
    overview,
    standing,
)
from gitops_agent.publish.fleet_render import age, to_markdown, to_text
from gitops_agent.publish.report import to_yaml

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WINDOW = 1860


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def report_text(**fields: Any) -> str:
    document = {"host": "web-01", "updated": stamp(600), "last_pass": stamp(60),
                "labels": {"role": "web"}, "config_commit": "3f2c" + "0" * 36,
                "apps": {"web": {"state": "applied"}}}
    document.update(fields)
    return yaml.safe_dump(document)


def view(host: str = "web-01", **fields: Any) -> HostView:
    result = host_view(host, f"gitops-status/{host}", report_text(**fields))
    assert isinstance(result, HostView), result
    return result


def test_host_view_keeps_counts_failures_and_first_failed_task():
    result = view(apps={
        "web": {"state": "applied"},
        "billing": {"state": "failed", "message": "task failed",
                    "failed_tasks": [{"task": "Restart", "msg": "no"}, {"task": "Later"}]},
        "api": {"state": "blocked", "message": "dependency billing failed"},
    }, wave="canary")

    assert result.summary == {"apps": 3, "applied": 1, "failed": 1, "blocked": 1}
    assert result.failed == [
        {"app": "api", "task": None, "msg": "dependency billing failed"},
        {"app": "billing", "task": "Restart", "msg": "no"},
    ]
    assert result.labels == {"role": "web"}
    assert result.seen == NOW - timedelta(seconds=60)


@pytest.mark.parametrize(("text", "problem"), [
    ("a: [", "invalid YAML"),
    ("- 1\n- 2\n", "not a mapping"),
    ("apps: [1, 2]\n", "apps is not a mapping"),
    ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
        for i in range(6)), "invalid YAML"),
])
def test_host_view_names_what_makes_a_report_unreadable(text, problem):
    result = host_view("web-01", "gitops-status/web-01", text)
    assert isinstance(result, Unreadable) and problem in result.problem


def test_host_view_refuses_a_file_name_that_is_no_host_name():
    result = host_view("<b>|x", "gitops-status-all", report_text())
    assert isinstance(result, Unreadable) and "not a host name" in result.problem


def test_host_view_takes_only_fields_of_the_right_type():
    result = view(last_pass={"a": 1}, updated=[1], labels="x", wave={"w": 1},
                  config_commit=7, apps={"x": "text", "y": {"state": 5},
                                         "z": {"state": "failed", "failed_tasks": 7,
                                               "message": {"m": 1}}})
    assert result.seen is None and result.labels == {}
    assert result.config_commit == "7"
    assert result.summary == {"apps": 3, "failed": 1, "unknown": 2}
    assert result.failed == [{"app": "z", "task": None, "msg": None}]


def test_host_view_cuts_long_text_short():
    result = view(apps={"x": {"state": "failed", "message": "m" * 10_000}})
    assert len(result.failed[0]["msg"] or "") == 300


@pytest.mark.parametrize(("seconds_ago", "stale"), [
    (60, False), (WINDOW - 1, False), (WINDOW + 1, True), (-60, False), (-WINDOW - 60, True),
])
def test_is_stale_by_last_pass_age_also_far_in_the_future(seconds_ago, stale):
    assert is_stale(NOW - timedelta(seconds=seconds_ago), NOW, WINDOW) is stale


def test_is_stale_without_a_readable_time():
    assert is_stale(None, NOW, WINDOW)


def test_older_reports_fall_back_to_updated():
    result = view(last_pass=None, updated=stamp(WINDOW + 10))
    assert result.seen == NOW - timedelta(seconds=WINDOW + 10)
    assert overview([result], [], NOW, WINDOW)["stale"] == ["web-01"]


def test_newest_last_pass_wins_between_two_branches():
    old = view(last_pass=stamp(3600))
    new = host_view("web-01", "gitops-status-all", report_text(last_pass=stamp(10)))
    timeless = host_view("web-01", "other", report_text(last_pass=None, updated=None))
    assert isinstance(new, HostView) and isinstance(timeless, HostView)
    assert newest([old, new, timeless])["web-01"].branch == "gitops-status-all"
    assert newest([timeless, old])["web-01"] is old


def test_exit_code_failed_wins_over_stale():
    failed = view("db-01", apps={"x": {"state": "rolled_back"}})
    stale = view("old-01", last_pass=stamp(10 * WINDOW))
    ok = view("web-01")
    assert exit_code(overview([failed, stale, ok], [], NOW, WINDOW)) == 1
    assert exit_code(overview([stale, ok], [], NOW, WINDOW)) == 4
    assert exit_code(overview([ok], [], NOW, WINDOW)) == 0
    assert exit_code(overview([], [], NOW, WINDOW)) == 0


def test_a_pass_that_failed_before_any_app_counts_as_failed():
    document = overview([view(error="config repo unreachable")], [], NOW, WINDOW)
    assert document["failed"] == ["web-01"] and exit_code(document) == 1


def test_a_host_seen_only_through_an_unreadable_report_counts_as_stale():
    broken = Unreadable("db-01", "gitops-status/db-01", "invalid YAML")
    shadowed = Unreadable("web-01", "gitops-status-all", "invalid YAML")
    odd = Unreadable("<x>", "gitops-status-all", "the file name is not a host name")
    document = overview([view()], [shadowed, odd], NOW, WINDOW)
    assert document["unseen"] == [] and exit_code(document) == 0
    document = overview([view()], [broken], NOW, WINDOW)
    assert document["unseen"] == ["db-01"] and exit_code(document) == 4


def test_overview_document_in_host_name_order():
    hosts = [view("web-01"), view("web-02", config_commit="a" * 40),
             view("web-03", apps={"x": {"state": "failed"}}), view("db-01")]
    document = overview(hosts, [], NOW, WINDOW)
    assert list(document["hosts"]) == ["db-01", "web-01", "web-02", "web-03"]
    assert document["generated"] == "2026-11-23T12:00:00Z"
    assert document["summary"] == {"hosts": 4, "failed": 1, "stale": 0, "unreadable": 0}
    assert "rollout" not in document


def test_content_ignores_only_the_generated_time():
    first = to_yaml(overview([view()], [], NOW, WINDOW))
    later = to_yaml(overview([view()], [], NOW + timedelta(seconds=30), WINDOW))
    changed = to_yaml(overview([view(last_pass=stamp(5))], [], NOW, WINDOW))
    assert first != later and content(first) == content(later)
    assert content(first) != content(changed)


HOSTILE = "<img src=x onerror=alert(1)> [a](https://evil.test) | x | `c`\n# H **b**"


def test_markdown_escapes_every_value_from_a_report():
    hostile = view("evil-01", wave=HOSTILE, config_commit=HOSTILE,
                   apps={"x": {"state": "failed", "message": HOSTILE,
                               "failed_tasks": [{"task": HOSTILE, "msg": HOSTILE}]}})
    rules = Rules(waves=(Wave(HOSTILE, ("evil-*",)),), pause=Pause(HOSTILE))
    markdown = to_markdown(overview(
        [hostile], [Unreadable("<b>", "gitops-status-all", HOSTILE)], NOW, WINDOW,
        Head(HOSTILE, rules)))

    assert not re.search(r"(?<!\\)[<\[]", markdown)
    assert "**b**" not in markdown and "\n# H" not in markdown
    for line in markdown.splitlines():
        if line.startswith("|"):
            assert len(re.findall(r"(?<!\\)\|", line)) in (6, 8), line


def test_terminal_table_drops_escape_sequences_and_marks_stale_hosts():
    document = overview([view("evil-01", apps={"x": {"state": "failed",
                                                     "message": "\x1b[31mred\x07\nnext"}}),
                         view("old-01", last_pass=stamp(2 * 86400))], [], NOW, WINDOW)
    lines = to_text(document, NOW)
    assert not any("\x1b" in line or "\x07" in line for line in lines)
    assert any("x: red next" in line for line in lines)
    assert any(line.startswith("old-01") and "2d ago" in line and "STALE" in line
               for line in lines)
    assert "2 hosts, 1 failed, 1 stale" in lines


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s ago"), (125, "2m ago"),
                                               (7300, "2h ago"), (-10, "future")])
def test_age(seconds, text):
    assert age(stamp(seconds), NOW) == text
    assert age({"no": "time"}, NOW) == "?"


def status(branch: str) -> StatusConfig:
    return StatusConfig(enabled=True, url="u", branch=branch.replace("{host}", "h"),
                        per_host="{host}" in branch, pattern=branch)


@pytest.mark.parametrize(("branch", "specs", "hosts"), [
    ("gitops-status/{host}", ["+refs/heads/gitops-status/*:refs/fleet/gitops-status/*"],
     {"gitops-status/web-01": "web-01", "gitops-status-all": None}),
    ("status/{host}/report", ["+refs/heads/status/*/report:refs/fleet/status/*/report"],
     {"status/web-01/report": "web-01"}),
    ("gitops-status-all", ["+refs/heads/gitops-status/*:refs/fleet/gitops-status/*",
                           "+refs/heads/gitops-status-all:refs/fleet/gitops-status-all"],
     {"gitops-status/web-01": "web-01", "gitops-status-all": None}),
    ("gitops-status/all", ["+refs/heads/gitops-status/*:refs/fleet/gitops-status/*"],
     {"gitops-status/all": None, "gitops-status/web-01": "web-01"}),
])
def test_branches_read_per_host_ones_and_the_shared_one(branch, specs, hosts):
    branches = Branches.of(status(branch))
    assert branches.refspecs() == specs
    for name, host in hosts.items():
        assert branches.host_of(name) == host


def test_redact_hides_a_token_in_an_https_url_only():
    from gitops_agent.git_reason import redact

    text = ("cannot read https://x-access-token:ghs_secret@github.com/acme/fleet.git: "
            "fatal: 'https://bot:glpat-1@gitlab.example/ops.git' git@github.com:acme/x.git")
    shown = redact(text)
    assert "ghs_secret" not in shown and "glpat-1" not in shown
    assert "https://***@github.com/acme/fleet.git" in shown
    assert "git@github.com:acme/x.git" in shown


HEAD = "3f2c" + "0" * 36  # what view() reports
OLD = "a" * 40


@pytest.mark.parametrize(("commit", "states", "expected"), [
    (HEAD, ["applied"], "done"),
    (HEAD, ["unchanged", "suspended", "drifted", "removed"], "done"),
    (HEAD, [], "done"),
    (OLD, ["applied"], "waiting"),
    (HEAD, ["applied", "waiting"], "waiting"),
    (HEAD, [5], "waiting"),  # a state that cannot be read is not healthy
    (OLD, ["unchanged", "failed"], "failed"),  # at any commit
    (HEAD, ["rolled_back"], "failed"),
    (HEAD, ["blocked"], "failed"),
])
def test_standing_of_a_host_in_the_rollout_of_the_head(commit, states, expected):
    host = view(config_commit=commit, apps={f"a{i}": {"state": state}
                                            for i, state in enumerate(states)})
    assert standing(host, HEAD) == expected


THREE_WAVES = """\
waves:
  - {name: canary, hosts: [web-01]}
  - {name: web, labels: {role: web}}
  - {name: rest, hosts: ["db-*"]}
"""
FAILED = {"web": {"state": "failed"}}
WAITING = {"web": {"state": "waiting"}}
STALE = stamp(2 * WINDOW)
DB = {"role": "db"}  # view() gives every host role: web


@pytest.mark.parametrize(("rules", "hosts", "expected"), [
    pytest.param(THREE_WAVES, {"web-01": {}, "web-02": {}, "web-03": {"config_commit": OLD},
                               "db-01": {"apps": WAITING, "labels": DB}},
                 [("canary", 1, 1, 0, 0, 0, True), ("web", 2, 1, 1, 0, 0, True),
                  ("rest", 1, 0, 1, 0, 0, False)], id="canary done, web under way"),
    pytest.param(THREE_WAVES, {"web-01": {"apps": FAILED, "config_commit": OLD},
                               "web-02": {"config_commit": OLD}},
                 [("canary", 1, 0, 0, 1, 0, True), ("web", 1, 0, 1, 0, 0, False),
                  ("rest", 0, 0, 0, 0, 0, False)], id="a failed canary holds every wave"),
    pytest.param(THREE_WAVES, {"web-01": {"last_pass": STALE}, "web-02": {},
                               "db-01": {"labels": DB}},
                 [("canary", 1, 1, 0, 0, 1, True), ("web", 1, 1, 0, 0, 0, True),
                  ("rest", 1, 1, 0, 0, 0, True)], id="stale but done: done"),
    pytest.param(THREE_WAVES, {"web-02": {"config_commit": OLD}},
                 [("canary", 1, 0, 1, 0, 1, True), ("web", 1, 0, 1, 0, 0, False),
                  ("rest", 0, 0, 0, 0, 0, False)], id="a named host never reported"),
    pytest.param(THREE_WAVES + "skip_stale_after: 3600\n",
                 {"web-02": {}, "db-01": {"last_pass": STALE, "config_commit": OLD,
                                        "labels": DB}},
                 [("canary", 1, 0, 1, 0, 1, True), ("web", 1, 1, 0, 0, 0, True),
                  ("rest", 1, 0, 1, 0, 1, True)], id="skip_stale_after passes silent hosts"),
    pytest.param(THREE_WAVES, {"web-01": {}, "web-02": {"labels": {"role": "db"}},
                               "db-01": {"labels": {"role": "web"}}},
                 [("canary", 1, 1, 0, 0, 0, True), ("web", 1, 1, 0, 0, 0, True),
                  ("rest", 0, 0, 0, 0, 0, True), ("(no wave)", 1, 1, 0, 0, 0, False)],
                 id="by labels, an empty wave, a host in no wave"),
    pytest.param("waves: [{name: a, hosts: [x-*]}]\n",
                 {"x-01": {"wave": "b"}, "y-01": {"wave": "a", "config_commit": OLD}},
                 [("a", 1, 1, 0, 0, 0, True), ("(no wave)", 1, 0, 1, 0, 0, True)],
                 id="the wave a report claims is not taken"),
])
def test_rollout_progress_wave_by_wave(rules, hosts, expected):
    views = [view(name, **fields) for name, fields in hosts.items()]
    document = overview(views, [], NOW, WINDOW, Head(HEAD, rules_from_text(rules)))
    rollout = document["rollout"]
    assert rollout["commit"] == HEAD and rollout["paused"] is None and rollout["in_window"]
    assert [tuple(wave.values()) for wave in rollout["waves"]] == expected
    assert list(rollout["waves"][0]) == ["name", "hosts", "done", "waiting", "failed",
                                         "stale", "open"]
    for name, host in document["hosts"].items():  # each host's wave is fleet.yml's
        labels = host["labels"]
        assert host["wave"] == rules_from_text(rules).wave_name(name, labels)


@pytest.mark.parametrize(("rules", "expected"), [
    ("pause: {reason: freeze, until: '2026-12-24T00:00:00Z'}\n",
     {"paused": "freeze", "paused_until": "2026-12-24T00:00:00Z", "in_window": True,
      "next_window": None, "windows": []}),
    ("pause: {reason: freeze, until: '2026-11-01T00:00:00Z'}\n",
     {"paused": None, "paused_until": None, "in_window": True, "next_window": None,
      "windows": []}),
    ("pause: {reason: freeze}\nwindows: ['Sat-Sun 00:00-24:00 UTC']\n",
     {"paused": "freeze", "paused_until": None, "in_window": False,
      "next_window": "2026-11-28T00:00:00Z", "windows": ["Sat-Sun 00:00-24:00 UTC"]}),
    ("windows: ['Mon-Fri 08:00-17:00 UTC']\n",
     {"paused": None, "paused_until": None, "in_window": True, "next_window": None,
      "windows": ["Mon-Fri 08:00-17:00 UTC"]}),
])
def test_rollout_pause_and_windows_without_waves(rules, expected):
    document = overview([view()], [], NOW, WINDOW, Head(HEAD, rules_from_text(rules)))
    assert document["rollout"] == {"commit": HEAD, **expected}
    assert document["hosts"]["web-01"]["wave"] is None


@pytest.mark.parametrize("head", [None, Head(HEAD, None), Head(HEAD, Rules()),
                                  Head(HEAD, rules_from_text("skip_stale_after: 60\n"))])
def test_no_rollout_block_without_rules_that_say_something(head):
    document = overview([view(wave="canary")], [], NOW, WINDOW, head)
    assert "rollout" not in document and document["hosts"]["web-01"]["wave"] is None


def rollout_document(**rules: Any) -> dict[str, Any]:
    views = [view("web-01"), view("web-02", config_commit=OLD),
             view("web-03", apps=FAILED, last_pass=STALE)]
    rules.setdefault("waves", (Wave("canary", ("web-01",)), Wave("web", ("web-*",))))
    return overview(views, [], NOW, WINDOW, Head(HEAD, Rules(**rules)))


def test_terminal_shows_the_rollout_table_after_the_hosts():
    lines = to_text(rollout_document(pause=Pause("release \x1b[31mfreeze")), NOW)
    start = lines.index("rollout of 3f2c00000000: paused: release freeze")
    assert lines[start + 1:] == [
        "  WAVE      HOSTS     DONE  WAITING   FAILED    STALE  STATE",
        "  canary        1        1        0        0        0  done",
        "  web           2        0        1        1        1  failed",
    ]
    assert any(line.startswith("web-02") and " web " in line for line in lines)
    assert max(len(line) for line in lines) <= 100
    held = rollout_document(waves=(Wave("canary", ("web-02",)), Wave("web", ("web-*",))))
    assert to_text(held, NOW)[-2:] == [
        "  canary        1        0        1        0        0  open",
        "  web           2        1        0        1        1  held"]


def test_markdown_has_the_rollout_table():
    markdown = to_markdown(rollout_document(windows=rules_from_text(
        "windows: ['Sat 00:00-01:00 UTC']\n").windows))
    assert "## Rollout" in markdown
    assert ("Config commit `3f2c00000000` · outside the rollout "
            "windows; the next opens at 2026-11-28T00:00:00Z") in markdown
    assert "| canary | 1 | 1 | 0 | 0 | 0 | done |" in markdown
    assert "| web | 2 | 0 | 1 | 1 | 1 | failed |" in markdown


def test_a_heartbeat_is_no_news_with_a_rollout_block():
    first = to_yaml(rollout_document())
    views = [view("web-01", last_pass=stamp(5)), view("web-02", config_commit=OLD),
             view("web-03", apps=FAILED, last_pass=STALE)]
    beat = to_yaml(overview(views, [], NOW + timedelta(seconds=55), WINDOW,
                            Head(HEAD, Rules(waves=(Wave("canary", ("web-01",)),
                                                    Wave("web", ("web-*",)))))))
    assert content(first) != content(beat) and news(first) == news(beat)
    assert news(first) != news(to_yaml(rollout_document(pause=Pause("freeze"))))
