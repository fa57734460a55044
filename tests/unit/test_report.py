"""report.build / to_yaml / to_markdown / same_except_time against SPEC §5."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

import pytest
import yaml

from gitops_agent import __version__
from gitops_agent.publish.report import build, parse, same_except_time, to_markdown, to_yaml
from gitops_agent.record.state import AppRecord

UPDATED = "2026-11-23T12:00:00Z"
CONFIG = "3f2c" + "0" * 36
SOURCE = "9ab1" + "1" * 36
SECRET = "hunter2-SECRET-PASSWORD"
SPEC_APP_FIELDS = ["state", "source_commit", "config_commit", "started", "duration", "stats",
                   "failed_tasks", "run_id", "message"]
SPEC_STAT_KEYS = ["ok", "changed", "failed", "skipped", "unreachable"]
TABLE_COLUMNS = 10


def record(state: str = "applied", **more: Any) -> dict[str, Any]:
    """A state record as reconcile hands it over: asdict(AppRecord), with everything set."""
    values: dict[str, Any] = {
        "message": "5 ok, 1 changed",
        "source_commit": SOURCE,
        "config_commit": CONFIG,
        "started": "2026-11-23T11:59:55Z",
        "duration": 4.2,
        "stats": {"ok": 5, "changed": 1, "failed": 0, "skipped": 0, "unreachable": 0},
        "run_id": "5f0c" * 8,
        "last_attempt": "ok",
        "inputs": {"commit": CONFIG, "files": {"playbooks/billing.yml": "b" * 40}, "format": 2},
        "good_source_commit": SOURCE,
        "good_config_commit": CONFIG,
        "spec": {"playbook": "playbooks/billing.yml", "vars": {"password": SECRET}},
    }
    values.update(more)
    return asdict(AppRecord(state=state, **values))


def failed_record(**more: Any) -> dict[str, Any]:
    return record(
        "failed",
        stats={"ok": 5, "changed": 1, "failed": 1, "skipped": 0, "unreachable": 0},
        failed_tasks=[{"task": "Restart billing", "module": "ansible.builtin.systemd_service",
                       "msg": "unit not found"}],
        message="task 'Restart billing' failed: unit not found",
        **more,
    )


def report(**apps: dict[str, Any]) -> dict[str, Any]:
    return build("web-01", UPDATED, CONFIG, apps)


def table_cells(line: str) -> list[str]:
    """Split a GFM table row like cmark-gfm does: a backslash escapes the next character."""
    cells, current, index = [], "", 0
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            current += body[index:index + 2]
            index += 2
            continue
        if char == "|":
            cells.append(current.strip())
            current = ""
        else:
            current += char
        index += 1
    if current.strip():
        cells.append(current.strip())
    return cells


def markdown_lines(text: str) -> list[str]:
    """Lines as CommonMark sees them: LF, CR LF and a lone CR all end a line."""
    return re.split(r"\r\n|\r|\n", text)


def app_rows(markdown: str) -> list[str]:
    lines = markdown_lines(markdown)
    start = lines.index("|---|---|---|---|---|---|---|---|---|---|") + 1
    rows = []
    for line in lines[start:]:
        if not line:
            break
        rows.append(line)
    return rows


# --- build -----------------------------------------------------------------------------------


def test_build_top_level_fields_follow_spec_order():
    document = report(billing=record())

    assert list(document) == ["host", "agent_version", "updated", "last_pass", "labels",
                              "config_commit", "summary", "apps"]
    assert document["host"] == "web-01"
    assert document["agent_version"] == __version__
    assert document["updated"] == UPDATED
    assert document["config_commit"] == CONFIG


def test_build_app_fields_follow_spec_order():
    document = report(billing=failed_record())

    assert list(document["apps"]["billing"]) == SPEC_APP_FIELDS


def test_build_app_values_come_from_the_record():
    app = report(billing=failed_record())["apps"]["billing"]

    assert app["state"] == "failed"
    assert app["source_commit"] == SOURCE
    assert app["config_commit"] == CONFIG
    assert app["started"] == "2026-11-23T11:59:55Z"
    assert app["duration"] == 4.2
    assert app["run_id"] == "5f0c" * 8
    assert app["message"] == "task 'Restart billing' failed: unit not found"
    assert app["failed_tasks"] == [{"task": "Restart billing",
                                    "module": "ansible.builtin.systemd_service",
                                    "msg": "unit not found"}]


def test_build_state_only_fields_never_reach_the_report():
    apps = {"billing": {**failed_record(), "extra": SECRET, "password": SECRET}}

    document = build("web-01", UPDATED, CONFIG, apps)

    app = document["apps"]["billing"]
    for key in ("inputs", "failed_inputs", "last_attempt", "good_source_commit",
                "good_config_commit", "spec", "extra", "password"):
        assert key not in app
    assert SECRET not in repr(document)
    assert SECRET not in to_yaml(document)
    assert SECRET not in to_markdown(document)


def test_build_failed_tasks_keep_only_task_module_and_msg():
    task = {"task": "Restart", "module": "ansible.builtin.systemd_service", "msg": "boom",
            "res": {"invocation": {"module_args": {"password": SECRET}}}, "stdout": SECRET}

    app = report(billing=record("failed", failed_tasks=[task]))["apps"]["billing"]

    assert app["failed_tasks"] == [{"task": "Restart",
                                    "module": "ansible.builtin.systemd_service", "msg": "boom"}]


def test_build_failed_task_missing_fields_become_empty_strings():
    app = report(billing=record("failed", failed_tasks=[{"task": "Restart"}]))["apps"]["billing"]

    assert app["failed_tasks"] == [{"task": "Restart", "module": "", "msg": ""}]


def test_build_stats_keys_in_spec_order_with_missing_ones_zero():
    app = report(billing=record(stats={"changed": 2, "ok": 3, "ignored": 7, "rescued": 1}))[
        "apps"]["billing"]

    assert list(app["stats"]) == SPEC_STAT_KEYS
    assert app["stats"] == {"ok": 3, "changed": 2, "failed": 0, "skipped": 0, "unreachable": 0}


def test_build_record_without_run_has_zero_stats_and_nulls():
    app = report(web=asdict(AppRecord(state="blocked")))["apps"]["web"]

    assert app["stats"] == dict.fromkeys(SPEC_STAT_KEYS, 0)
    assert app["failed_tasks"] == []
    assert app["source_commit"] is None
    assert app["duration"] is None
    assert app["run_id"] is None


def test_build_apps_are_in_name_order():
    document = report(zeta=record(), alpha=record(), mid=record())

    assert list(document["apps"]) == ["alpha", "mid", "zeta"]


def test_build_summary_counts_states_in_spec_order():
    document = report(a=record("applied"), b=record("applied"), c=record("unchanged"),
                      d=failed_record(), e=record("removed"), f=record("suspended"))

    assert document["summary"] == {"apps": 6, "applied": 2, "unchanged": 1, "failed": 1,
                                   "removed": 1, "suspended": 1}
    assert list(document["summary"]) == ["apps", "applied", "unchanged", "failed", "removed",
                                         "suspended"]


def test_build_summary_counts_other_states_as_extra_keys():
    document = report(a=record("blocked"), b=record("blocked"), c=record("rolled_back"),
                      d=record("drifted"))

    assert document["summary"] == {"apps": 4, "applied": 0, "unchanged": 0, "failed": 0,
                                   "removed": 0, "suspended": 0, "blocked": 2, "rolled_back": 1,
                                   "drifted": 1}


def test_build_summary_ignores_unknown_states():
    document = report(a=record("applied"), b=record("weird"))

    assert "weird" not in document["summary"]
    assert document["summary"]["apps"] == 2
    assert document["summary"]["applied"] == 1


def test_build_no_apps_gives_zero_summary():
    document = build("web-01", UPDATED, None, {})

    assert document["summary"] == {"apps": 0, "applied": 0, "unchanged": 0, "failed": 0,
                                   "removed": 0, "suspended": 0}
    assert document["apps"] == {}
    assert document["config_commit"] is None


# --- to_yaml ---------------------------------------------------------------------------------


def test_to_yaml_round_trips_to_the_same_document():
    document = report(billing=failed_record(), web=record())

    assert yaml.safe_load(to_yaml(document)) == document


def test_to_yaml_keeps_spec_key_order_in_the_text():
    text = to_yaml(report(billing=failed_record()))

    top = [line.split(":")[0] for line in text.splitlines() if re.match(r"^[a-z_]+:", line)]
    assert top == ["host", "agent_version", "updated", "last_pass", "labels", "config_commit",
                   "summary", "apps"]
    positions = [text.index(f"\n    {key}:") for key in SPEC_APP_FIELDS]
    assert positions == sorted(positions)


def test_to_yaml_timestamps_stay_strings():
    loaded = yaml.safe_load(to_yaml(report(billing=record())))

    assert loaded["updated"] == UPDATED
    assert isinstance(loaded["apps"]["billing"]["started"], str)


def test_to_yaml_keeps_unicode_readable():
    text = to_yaml(report(billing=record(message="config `ä` — ok")))

    assert "config `ä` — ok" in text


# --- to_markdown -----------------------------------------------------------------------------


def test_to_markdown_has_heading_summary_and_one_row_per_app():
    markdown = to_markdown(report(billing=failed_record(), web=record()))
    lines = markdown.splitlines()

    assert lines[0] == "# web-01"
    assert f"config `{CONFIG[:12]}`" in lines[2]
    assert f"gitops-agent {__version__}" in lines[2]
    assert lines[4] == ("apps: 2 · applied: 1 · unchanged: 0 · failed: 1 · removed: 0 · "
                        "suspended: 0")
    assert [table_cells(row)[0] for row in app_rows(markdown)] == ["billing", "web"]
    assert markdown.endswith("\n")


def test_to_markdown_row_shows_state_commits_duration_and_stats():
    row = table_cells(app_rows(to_markdown(report(billing=failed_record())))[0])

    assert row == ["billing", "**failed**", f"`{SOURCE[:12]}`", f"`{CONFIG[:12]}`",
                   "2026-11-23T11:59:55Z", "4.2s", "5", "1", "1",
                   "task 'Restart billing' failed: unit not found"]


def test_to_markdown_missing_values_are_dashes():
    row = table_cells(app_rows(to_markdown(report(web=asdict(AppRecord(state="blocked")))))[0])

    assert row[2:6] == ["—", "—", "—", "—"]
    assert row[6:9] == ["0", "0", "0"]


def test_to_markdown_without_config_commit_shows_a_dash():
    markdown = to_markdown(build("web-01", UPDATED, None, {}))

    assert "config `—`" in markdown
    assert "## Failed tasks" not in markdown


def test_to_markdown_lists_failed_tasks_in_their_own_table():
    markdown = to_markdown(report(billing=failed_record(), web=record()))
    lines = markdown.splitlines()

    start = lines.index("## Failed tasks")
    assert lines[start + 2] == "| app | task | module | message |"
    assert table_cells(lines[start + 4]) == ["billing", "Restart billing",
                                             "ansible.builtin.systemd_service", "unit not found"]
    assert len(lines) == start + 5


def test_to_markdown_without_failures_has_no_failed_tasks_section():
    assert "Failed tasks" not in to_markdown(report(web=record()))


def test_to_markdown_pipes_are_escaped_in_cells():
    markdown = to_markdown(report(web=record(message="a | b || c")))
    row = app_rows(markdown)[0]

    assert "a \\| b \\|\\| c" in row
    assert len(table_cells(row)) == TABLE_COLUMNS


def test_to_markdown_newlines_do_not_break_rows():
    task = {"task": "Line\none", "module": "m|x", "msg": "first\nsecond | third"}
    markdown = to_markdown(report(web=record("failed", message="one\ntwo\nthree",
                                             failed_tasks=[task])))

    rows = app_rows(markdown)
    assert len(rows) == 1
    assert len(table_cells(rows[0])) == TABLE_COLUMNS
    failure = markdown.splitlines()[-1]
    assert table_cells(failure) == ["web", "Line one", "m\\|x", "first second \\| third"]


def test_to_markdown_backslash_before_pipe_does_not_split_the_cell():
    markdown = to_markdown(report(web=record(message="grep 'a\\|b' failed")))

    assert len(table_cells(app_rows(markdown)[0])) == TABLE_COLUMNS


def test_to_markdown_carriage_return_does_not_break_rows():
    markdown = to_markdown(report(web=record(message="progress 10%\rprogress 100%")))

    rows = app_rows(markdown)
    assert len(rows) == 1
    assert len(table_cells(rows[0])) == TABLE_COLUMNS


# --- same_except_time ------------------------------------------------------------------------


def test_same_except_time_only_updated_differs_is_same():
    old = to_yaml(report(billing=failed_record()))
    new = build("web-01", "2027-01-01T00:00:00Z", CONFIG, {"billing": failed_record()})

    assert same_except_time(parse(old), new) is True


def test_same_except_time_identical_report_is_same():
    document = report(billing=record())

    assert same_except_time(parse(to_yaml(document)), document) is True


@pytest.mark.parametrize(("field", "value"), [
    ("host", "web-02"),
    ("labels", {"role": "db"}),
    ("agent_version", "9.9.9"),
])
def test_same_except_time_other_top_level_field_differs_is_not_same(field, value):
    document = report(billing=record())
    old = to_yaml({**document, field: value})

    assert same_except_time(parse(old), document) is False


def test_same_except_time_a_new_config_commit_alone_is_the_same_report():
    """SPEC §5: a commit that re-applies nothing changes only `config_commit` at the top,
    which waits for the next content change or heartbeat."""
    document = report(billing=record())
    old = to_yaml({**document, "config_commit": "f" * 40, "last_pass": "2020-01-01T00:00:00Z"})

    assert same_except_time(parse(old), document) is True


@pytest.mark.parametrize("change", [
    {"state": "unchanged"},
    {"message": "something else"},
    {"duration": 4.3},
    {"run_id": "other"},
    {"stats": {"ok": 6}},
])
def test_same_except_time_app_field_differs_is_not_same(change):
    old = to_yaml(report(billing=record()))
    new = report(billing=record(**change))

    assert same_except_time(parse(old), new) is False


def test_same_except_time_app_added_is_not_same():
    old = to_yaml(report(billing=record()))

    assert same_except_time(parse(old), report(billing=record(), web=record())) is False


@pytest.mark.parametrize("old", [None, "", "host: [unclosed", "- a list\n", "just text\n"])
def test_same_except_time_missing_or_unreadable_old_report_is_not_same(old):
    assert same_except_time(parse(old), report(billing=record())) is False


def test_to_markdown_details_show_suspension_rollback_and_drift():
    apps = {
        "paused": {"state": "suspended", "message": "m",
                   "suspended": {"reason": "disk swap", "by": "ops@web-01", "at": "T1"}},
        "back": {"state": "rolled_back", "message": "m", "source_commit": "b" * 40,
                 "restored": {"config_commit": "c" * 40, "source_commit": "a" * 40,
                              "run_id": "r1"}},
        "moved": {"state": "drifted", "message": "m", "drifted_tasks": ["Write config"]},
    }
    markdown = to_markdown(build("web-01", "T", "c" * 40, apps))

    assert "## Details" in markdown
    assert "- **paused** suspended by ops@web-01 at T1: disk swap" in markdown
    assert f"- **back** rolled back to config `{'c' * 12}`, source `{'a' * 12}` (run r1)" \
        in markdown
    assert "- **moved** drifted: Write config" in markdown


def test_to_markdown_message_cannot_format_link_or_inject():
    hostile = "\x1b[31mred\x1b[0m [click](https://evil.example) <img src=x> `code` | *x*\x07"
    document = report(billing=record(message=hostile))

    text = to_markdown(document)

    assert "\x1b" not in text and "\x07" not in text
    assert r"\[click\](https://evil.example)" in text
    assert r"\<img src=x\>" in text and r"\`code\`" in text and r"\| \*x\*" in text
