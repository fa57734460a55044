"""fold() over real ansible-runner event streams captured by tests/fixtures/capture_events.py."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from gitops_agent.execute.events import HIDDEN, MESSAGE_LIMIT, Outcome, failure_message, fold

EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "events"
SENTINEL = "SENTINEL-SECRET-4711"
STAT_KEYS = ["ok", "changed", "failed", "skipped", "unreachable"]


@cache
def _captured(case: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{case}.json").read_text(encoding="utf-8"))


def captured(case: str) -> dict[str, Any]:
    return copy.deepcopy(_captured(case))


def folded(case: str, timeout: int | None = None) -> Outcome:
    run = captured(case)
    return fold(run["events"], run["status"], run["rc"], run["stdout"], timeout)


def statuses(outcome: Outcome) -> list[tuple[str, str]]:
    return [(task.task, task.status) for task in outcome.tasks]


def failed_event(case: str) -> dict[str, Any]:
    return next(event for event in captured(case)["events"] if event["event"] == "runner_on_failed")


# --- a run where everything is fine ---------------------------------------------------------


def test_fold_all_ok_with_one_changed_task_totals_stats():
    outcome = folded("ok_changed")

    assert outcome.stats == {"ok": 3, "changed": 1, "failed": 0, "skipped": 1, "unreachable": 0}
    assert list(outcome.stats) == STAT_KEYS


def test_fold_all_ok_with_one_changed_task_gives_each_task_its_status():
    outcome = folded("ok_changed")

    assert statuses(outcome) == [
        ("Say hello", "ok"),
        ("Remember a fact", "ok"),
        ("Change something", "changed"),
        ("Never runs", "skipped"),
    ]
    assert {task.host for task in outcome.tasks} == {"localhost"}
    assert all(task.msg is None for task in outcome.tasks)


def test_fold_all_ok_run_is_ok_without_failed_tasks():
    outcome = folded("ok_changed")

    assert outcome.ok is True
    assert outcome.status == "successful"
    assert outcome.failed_tasks == []
    assert outcome.message == "3 ok, 1 changed"


def test_fold_task_modules_are_fully_qualified_names():
    outcome = folded("ok_changed")

    assert [task.module for task in outcome.tasks] == [
        "ansible.builtin.debug", "ansible.builtin.set_fact", "ansible.builtin.command",
        "ansible.builtin.debug",
    ]
    assert all(isinstance(task.duration, float) for task in outcome.tasks)


def test_fold_short_module_names_in_a_role_resolve_to_fqcn_and_keep_the_role():
    outcome = folded("role_task")

    assert [(task.task, task.module, task.role, task.status) for task in outcome.tasks] == [
        ("Configure web", "ansible.builtin.command", "web", "changed"),
        ("Fail in the role", "ansible.builtin.fail", "web", "failed"),
    ]
    assert outcome.failed_tasks == [
        {"task": "Fail in the role", "module": "ansible.builtin.fail", "msg": "role failure"},
    ]


# --- failures --------------------------------------------------------------------------------


def test_fold_fail_task_with_msg_lists_task_module_and_msg():
    outcome = folded("fail_msg")

    assert outcome.ok is False
    assert outcome.failed_tasks == [{
        "task": "Check the billing config",
        "module": "ansible.builtin.fail",
        "msg": "billing config is broken | see docs",
    }]
    assert outcome.stats == {"ok": 1, "changed": 0, "failed": 1, "skipped": 0, "unreachable": 0}


def test_fold_fail_task_stops_the_play_after_the_failure():
    outcome = folded("fail_msg")

    assert statuses(outcome) == [("Say hello", "ok"), ("Check the billing config", "failed")]


def test_fold_fail_task_message_names_the_task_and_its_msg():
    outcome = folded("fail_msg")

    assert outcome.message == (
        "task 'Check the billing config' failed: billing config is broken | see docs")


def test_fold_failing_command_message_has_msg_rc_and_last_three_stderr_lines():
    outcome = folded("command_rc")

    msg = outcome.failed_tasks[0]["msg"]
    assert msg == "non-zero return code; rc=3; stderr: second error | third error | fourth error"
    assert "first error" not in msg  # only the tail of stderr
    assert "echo" not in msg  # never the command line (res.cmd / res.invocation)
    assert outcome.failed_tasks[0]["module"] == "ansible.builtin.command"
    assert outcome.rc == 2


def test_fold_loop_with_one_failing_item_reports_the_task_once_with_the_item_failure():
    outcome = folded("loop_item_fails")

    assert statuses(outcome) == [("Check each number", "failed")]
    assert outcome.failed_tasks == [{
        "task": "Check each number",
        "module": "ansible.builtin.command",
        "msg": "non-zero return code; rc=1 (loop: One or more items failed)",
    }]
    assert outcome.stats["failed"] == 1
    item_events = [event for event in captured("loop_item_fails")["events"]
                   if event["event"].startswith("runner_item_on_")]
    assert len(item_events) == 3  # the items are there, but fold keys on the task


def test_fold_unreachable_host_is_a_failed_task_with_the_connection_error():
    outcome = folded("unreachable")

    assert outcome.stats == {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 1}
    assert [(task.host, task.status) for task in outcome.tasks] == [("ghost", "unreachable")]
    assert len(outcome.failed_tasks) == 1
    assert outcome.failed_tasks[0]["task"] == "Ping it"
    assert outcome.failed_tasks[0]["module"] == "ansible.builtin.ping"
    assert "Connection refused" in outcome.failed_tasks[0]["msg"]
    assert outcome.message.startswith("task 'Ping it' failed: ")


def test_fold_several_failed_tasks_message_counts_the_others():
    run = captured("fail_msg")
    failure = failed_event("fail_msg")
    stats = run["events"][-1]["event_data"]
    for host in ("web-02", "web-03"):
        other = copy.deepcopy(failure)
        other["event_data"]["host"] = host
        run["events"].insert(-1, other)
        stats["failures"][host] = 1  # the stats of a real run count every host's failure

    outcome = fold(run["events"], run["status"], run["rc"], run["stdout"])

    assert [task["task"] for task in outcome.failed_tasks] == ["Check the billing config"] * 3
    assert outcome.message.endswith(" (and 2 more)")


def test_fold_same_task_and_host_seen_twice_keeps_the_last_result():
    run = captured("fail_msg")
    failure = failed_event("fail_msg")
    ok_again = copy.deepcopy(failure)
    ok_again["event"] = "runner_on_ok"
    ok_again["event_data"]["res"] = {"changed": False, "msg": "fine now"}
    run["events"].insert(-1, ok_again)

    outcome = fold(run["events"], "successful", 0)

    assert statuses(outcome) == [("Say hello", "ok"), ("Check the billing config", "ok")]


def test_fold_stats_sum_over_hosts():
    stats = {"event": "playbook_on_stats", "event_data": {
        "ok": {"a": 2, "b": 3}, "changed": {"a": 1}, "failures": {"b": 1}, "dark": {"c": 1},
        "skipped": {"a": 4, "b": 1}, "ignored": {"a": 9}, "rescued": {"b": 9}}}

    outcome = fold([stats], "failed", 2)

    assert outcome.stats == {"ok": 5, "changed": 1, "failed": 1, "skipped": 5, "unreachable": 1}


def test_fold_failed_run_with_stats_but_no_failed_task_names_the_rc():
    outcome = fold(captured("ok_changed")["events"], "failed", 3)

    assert outcome.failed_tasks == []
    assert outcome.message == ("ansible-playbook exited with status 3 and no task failed: "
                               "see its artifacts for Ansible's output")


def test_fold_successful_status_with_nonzero_rc_is_not_ok():
    outcome = fold(captured("ok_changed")["events"], "successful", 1)

    assert outcome.ok is False


# --- secrets ---------------------------------------------------------------------------------


def test_fold_no_log_failure_hides_its_output():
    outcome = folded("no_log")

    assert outcome.failed_tasks == [
        {"task": "Use the secret", "module": "ansible.builtin.command", "msg": HIDDEN},
    ]
    assert outcome.message == f"task 'Use the secret' failed: {HIDDEN}"


def test_fold_sentinel_in_events_never_reaches_the_outcome():
    raw = (EVENTS / "no_log.json").read_text(encoding="utf-8")
    assert SENTINEL in raw  # the ignored task really did print and pass it

    outcome = folded("no_log")

    assert SENTINEL not in repr(outcome)
    assert SENTINEL not in json.dumps(outcome.failed_tasks)


def test_fold_ignored_failure_is_ignored_and_not_a_failed_task():
    outcome = folded("no_log")

    assert statuses(outcome) == [
        ("Ignored failure with a secret in argv and stdout", "ignored"),
        ("Use the secret", "failed"),
    ]
    assert all(task["task"] != "Ignored failure with a secret in argv and stdout"
               for task in outcome.failed_tasks)


def test_fold_ignored_failure_msg_takes_msg_and_rc_but_not_stdout():
    outcome = folded("no_log")

    assert outcome.tasks[0].msg == "non-zero return code; rc=3"


def test_fold_no_log_loop_failure_hides_every_item():
    outcome = folded("no_log_loop")

    assert outcome.failed_tasks == [
        {"task": "Write each secret", "module": "ansible.builtin.command", "msg": HIDDEN},
    ]
    assert SENTINEL not in repr(outcome)


# --- rescue ----------------------------------------------------------------------------------


def test_fold_rescued_failure_is_ok_without_failed_tasks():
    outcome = folded("rescued")

    assert outcome.ok is True
    assert outcome.failed_tasks == []
    assert outcome.stats == {"ok": 1, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0}
    assert outcome.message == "1 ok, 0 changed"
    assert ("Recover", "ok") in statuses(outcome)


def test_fold_rescued_failure_then_real_failure_lists_only_the_real_one():
    outcome = folded("rescued_then_fails")

    assert outcome.stats["failed"] == 1
    assert outcome.failed_tasks == [
        {"task": "Fail for real", "module": "ansible.builtin.fail", "msg": "the real failure"},
    ]
    assert outcome.message == "task 'Fail for real' failed: the real failure"


# --- runs that never got to the end ----------------------------------------------------------


def test_fold_syntax_error_has_no_stats_and_takes_the_stdout_tail():
    run = captured("syntax_error")
    assert not any(event["event"] == "playbook_on_stats" for event in run["events"])

    outcome = folded("syntax_error")

    assert outcome.ok is False
    assert outcome.tasks == []
    assert outcome.failed_tasks == []
    assert outcome.stats == dict.fromkeys(STAT_KEYS, 0)
    assert outcome.message == (
        "ansible-playbook exited with status 4 and no task failed: YAML parsing failed: "
        "While scanning a quoted scalar found unexpected end of stream. (at main.yml:9)")


def test_fold_without_stats_message_names_the_error_never_the_quoted_line():
    stdout = ("ERROR! Syntax Error while loading YAML.\n  did not find expected key\n\n"
              "The error appears to be in '/srv/config/playbooks/web.yml': line 3, column 5,"
              " but may\nbe elsewhere in the file.\n\nThe offending line appears to be:\n\n"
              "    db_password: hunter2\n    ^ here\n")

    outcome = fold([], "failed", 4, stdout)

    assert outcome.message == ("ansible-playbook exited with status 4 and no task failed: "
                               "Syntax Error while loading YAML. (at web.yml:3)")
    assert "hunter2" not in outcome.message


def test_fold_without_stats_message_masks_the_apps_var_values():
    stdout = ("[ERROR]: Error processing keyword 'hosts': invalid value hunter2-secret\n"
              "Origin: /srv/config/playbooks/web.yml:1:10\n\n1 - hosts: x\n")

    outcome = fold([], "failed", 4, stdout, hidden=["hunter2-secret", "ab"])

    assert outcome.message == ("ansible-playbook exited with status 4 and no task failed: "
                               "Error processing keyword 'hosts': invalid value *** "
                               "(at web.yml:1)")


def test_fold_missing_playbook_names_the_file():
    stdout = "[ERROR]: the playbook: /srv/config/playbooks/gone.yml could not be found\n"

    outcome = fold([], "failed", 1, stdout)

    assert outcome.message.endswith(
        "status 1 and no task failed: the playbook: /srv/config/playbooks/gone.yml could not "
        "be found")


def test_fold_runner_that_could_not_start_ansible_playbook_says_so():
    stdout = "The command was not found or was not executable: ansible-playbook.\n"

    outcome = fold([], "failed", 127, stdout)

    assert outcome.message == ("ansible-playbook exited with status 127 and no task failed: "
                               "ansible-playbook was not found or could not be run")


def test_fold_without_stats_or_error_line_points_at_the_artifacts():
    stdout = "\n".join(f"secret line {number}" for number in range(10))

    outcome = fold([], "failed", 1, stdout)

    assert outcome.message == ("ansible-playbook exited with status 1 and no task failed: "
                               "see its artifacts for Ansible's output")


def test_fold_without_stats_and_empty_stdout_still_gives_the_rc():
    outcome = fold([], "failed", 127)

    assert outcome.message.startswith("ansible-playbook exited with status 127")


def test_fold_timeout_message_names_the_timeout():
    outcome = folded("timeout", timeout=3)

    assert outcome.status == "timeout"
    assert outcome.rc == 254
    assert outcome.ok is False
    assert outcome.message == "timed out in task 'Sleep a while': killed after the 3s timeout"
    assert outcome.failed_tasks == [{"task": "Sleep a while", "module": "ansible.builtin.command",
                                     "msg": "timed out: killed after the 3s timeout"}]


def test_fold_timeout_names_the_setting_it_came_from():
    outcome = folded("timeout", timeout=30)
    run = captured("timeout")

    named = fold(run["events"], run["status"], run["rc"], run["stdout"], 30, "runner.timeout")

    assert "killed after the 30s timeout" in outcome.message
    assert named.message == ("timed out in task 'Sleep a while': killed after the 30s timeout "
                             "(runner.timeout)")


def test_fold_timeout_names_the_last_task_started_without_a_result():
    run = captured("timeout")
    done = {**run["events"][-1], "event": "runner_on_ok"}
    later = {"event": "playbook_on_task_start",
             "event_data": {"task": "Wait for the migration", "task_uuid": "later",
                            "resolved_action": "ansible.builtin.wait_for"}}

    outcome = fold([*run["events"], done, later], "timeout", 254, "", 30)

    assert outcome.message == ("timed out in task 'Wait for the migration': killed after the "
                               "30s timeout")


def test_fold_timeout_without_a_known_timeout_says_its_timeout():
    outcome = folded("timeout")

    assert outcome.message == "timed out in task 'Sleep a while': killed after its timeout"


def test_fold_canceled_run_says_canceled():
    outcome = folded("canceled", timeout=60)

    assert outcome.status == "canceled"
    assert outcome.ok is False
    assert outcome.message == "canceled before it finished"
    assert outcome.failed_tasks == []


# --- failure_message -------------------------------------------------------------------------


def test_failure_message_not_a_dict_says_failed():
    assert failure_message(None) == "failed"
    assert failure_message("boom") == "failed"


def test_failure_message_empty_result_says_failed():
    assert failure_message({}) == "failed"


def test_failure_message_no_log_flag_hides_everything():
    result = {"_ansible_no_log": True, "msg": SENTINEL, "stderr": SENTINEL}

    assert failure_message(result) == HIDDEN


def test_failure_message_censored_result_hides_everything():
    assert failure_message({"censored": "hidden", "msg": SENTINEL}) == HIDDEN


def test_failure_message_reads_only_msg_rc_and_stderr():
    result = {"msg": "oops", "rc": 1, "stderr": "bad\n", "stdout": SENTINEL,
              "invocation": {"module_args": {"password": SENTINEL}}, "cmd": SENTINEL}

    assert failure_message(result) == "oops; rc=1; stderr: bad"


def test_failure_message_rc_zero_is_left_out():
    assert failure_message({"msg": "oops", "rc": 0}) == "oops"


def test_failure_message_non_string_msg_is_json():
    assert failure_message({"msg": {"b": 1, "a": [2]}}) == '{"a": [2], "b": 1}'


def test_failure_message_whitespace_is_collapsed():
    assert failure_message({"msg": "one\n  two\tthree"}) == "one two three"


def test_failure_message_long_msg_is_clipped_to_the_limit():
    message = failure_message({"msg": "y" * (MESSAGE_LIMIT * 2)})

    assert len(message) == MESSAGE_LIMIT
    assert message.endswith("…")


# --- causes Ansible printed ------------------------------------------------------------------

MISSING_BINARY = ("[ERROR]: Task failed: Module failed: Error executing command: [Errno 2] No "
                  "such file or directory: b'/nonexistent/tool'\r\nOrigin: /srv/p.yml:4:7\r\n"
                  "\r\nfatal: [localhost]: FAILED! => {\"changed\": false, \"cmd\": "
                  "\"/nonexistent/tool --flag\", \"msg\": \"Error executing command.\", \"rc\": 2}")


def test_failure_message_names_the_missing_binary_from_ansibles_error_line():
    result = {"msg": "Error executing command.", "rc": 2, "stdout": "", "stderr": "",
              "cmd": "/nonexistent/tool --flag"}

    message = failure_message(result, MISSING_BINARY)

    assert message == ("Error executing command: [Errno 2] No such file or directory: "
                       "'/nonexistent/tool'; rc=2")


def test_failure_message_never_takes_an_os_error_from_the_commands_own_output():
    printed = ("[ERROR]: Task failed: Module failed: non-zero return code\n"
               "fatal: [localhost]: FAILED! => {\"stdout\": \"[Errno 2] No such file or "
               f"directory: '{SENTINEL}'\"}}\n[ERROR]: [Errno 2] No such file: '{SENTINEL}'")

    message = failure_message({"msg": "non-zero return code", "rc": 1}, printed)

    assert SENTINEL not in message and message == "non-zero return code; rc=1"


def test_failure_message_of_no_log_task_ignores_what_ansible_printed():
    assert failure_message({"censored": "hidden"}, MISSING_BINARY) == HIDDEN


def test_fold_failed_task_msg_names_the_missing_binary():
    event = {"event": "runner_on_failed", "stdout": MISSING_BINARY,
             "event_data": {"task": "Run the tool", "task_uuid": "t1", "host": "localhost",
                            "resolved_action": "ansible.builtin.command",
                            "res": {"msg": "Error executing command.", "rc": 2}}}

    outcome = fold([event], "failed", 2)

    assert "No such file or directory: '/nonexistent/tool'" in outcome.failed_tasks[0]["msg"]
    assert outcome.message.startswith("task 'Run the tool' failed: Error executing command: ")
