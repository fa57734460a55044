"""notify: which state changes are worth a message, and what the message says."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitops_agent import __version__
from gitops_agent.config import NotifyTarget
from gitops_agent.publish import notify, webhook
from gitops_agent.publish.notify import Change, app_changes, payload, remembered, send

CONFIG = "3f2c" + "0" * 36
SOURCE = "9ab1" + "1" * 36


def app(state: str, **more: Any) -> dict[str, Any]:
    """An app entry as the report has it (report.build)."""
    entry = {"state": state, "source_commit": SOURCE, "config_commit": CONFIG,
             "started": "2026-11-23T12:00:00Z", "duration": 1.0, "stats": {},
             "failed_tasks": [], "run_id": "5f0c" * 8, "message": "5 ok"}
    entry.update(more)
    return entry


@pytest.mark.parametrize(("previous", "state", "event"), [
    (None, "failed", "failed"),
    ("applied", "failed", "failed"),
    ("unchanged", "failed", "failed"),
    ("rolled_back", "failed", "failed"),
    ("failed", "failed", None),
    (None, "rolled_back", "rolled_back"),
    ("applied", "rolled_back", "rolled_back"),
    ("failed", "rolled_back", "rolled_back"),
    ("rolled_back", "rolled_back", None),
    ("unchanged", "drifted", "drifted"),
    ("drifted", "drifted", None),
    ("failed", "applied", "recovered"),
    ("failed", "unchanged", "recovered"),
    ("rolled_back", "applied", "recovered"),
    ("rolled_back", "unchanged", "recovered"),
    ("drifted", "applied", "recovered"),
    ("drifted", "unchanged", "recovered"),
    ("blocked", "applied", "recovered"),
    ("blocked", "unchanged", "recovered"),
    (None, "applied", None),
    (None, "unchanged", None),
    ("applied", "unchanged", None),
    ("unchanged", "applied", None),
    ("suspended", "applied", None),
    ("waiting", "applied", None),
    ("failed", "blocked", None),
    ("failed", "waiting", None),
    ("failed", "suspended", None),
    ("failed", "removed", None),
    ("applied", "blocked", None),
    (None, "removed", None),
])
def test_app_changes_transition_table(previous, state, event):
    known = {} if previous is None else {"billing": previous}
    changes = app_changes("web-01", known, {"billing": app(state)})
    assert [change.event for change in changes] == ([event] if event else [])
    if event:
        assert changes[0] == Change(event, "web-01", "billing", state, previous,
                                    changes[0].message, changes[0].fields)


def test_app_changes_failed_message_and_fields_come_from_the_report_entry():
    entry = app("failed", message="1 failed: Restart billing",
                failed_tasks=[{"task": "Restart billing", "module": "ansible.builtin.fail",
                               "msg": "billing did not come up"}])
    [change] = app_changes("web-01", {"billing": "applied"}, {"billing": entry})
    assert change.message == (f"app billing failed at {CONFIG[:12]}: Restart billing: "
                              "billing did not come up")
    assert change.fields == {"config_commit": CONFIG, "source_commit": SOURCE,
                             "run_id": "5f0c" * 8, "failed_tasks": entry["failed_tasks"]}


def test_app_changes_message_is_one_bounded_line():
    entry = app("failed", failed_tasks=[{"task": "t", "module": "m",
                                         "msg": "line one\nline two\x1b[31m" + "x" * 1000}])
    [change] = app_changes("web-01", {}, {"billing": entry})
    assert "\n" not in change.message and "\x1b" not in change.message
    assert len(change.message) <= 300 and change.message.endswith("…")


def test_app_changes_several_apps_in_name_order_only_the_changed_ones():
    apps = {"web": app("applied"), "db": app("failed"), "cache": app("drifted"),
            "queue": app("unchanged")}
    known = {"web": "failed", "db": "failed", "cache": "unchanged", "queue": "unchanged"}
    changes = app_changes("web-01", known, apps)
    assert [(change.app, change.event) for change in changes] == [
        ("cache", "drifted"), ("web", "recovered")]
    assert changes[1].message == f"app web recovered: applied at {CONFIG[:12]}"


@pytest.mark.parametrize(("previous", "state", "kept"), [
    ("failed", "waiting", "failed"),
    ("failed", "suspended", "failed"),
    ("failed", "blocked", "blocked"),
    ("failed", "applied", "applied"),
    (None, "waiting", "waiting"),
])
def test_remembered_keeps_the_state_before_a_hold(previous, state, kept):
    known = {} if previous is None else {"billing": previous}
    assert remembered(known, {"billing": app(state)}) == {"billing": kept}


def test_remembered_a_failed_app_held_by_a_wave_then_applied_says_recovered():
    known = remembered({}, {"billing": app("failed")})
    known = remembered(known, {"billing": app("waiting")})
    assert [change.event for change in app_changes(
        "web-01", known, {"billing": app("applied")})] == ["recovered"]


def test_remembered_forgets_apps_gone_from_the_report():
    assert remembered({"old": "failed", "web": "applied"}, {"web": app("unchanged")}) == {
        "web": "unchanged"}


def test_payload_has_structured_fields_and_slack_text():
    entry = app("failed", failed_tasks=[{"task": "Restart billing", "module": "m",
                                         "msg": "billing <!channel> & co"}])
    [change] = app_changes("web-01", {}, {"billing": entry})
    body = payload(change, "2026-11-23T12:00:00Z")
    assert body["text"] == (f":red_circle: web-01: app billing failed at {CONFIG[:12]}: "
                            "Restart billing: billing &lt;!channel&gt; &amp; co")
    assert {key: body[key] for key in ("event", "host", "app", "state", "previous",
                                       "config_commit", "source_commit", "run_id", "at",
                                       "agent_version")} == {
        "event": "failed", "host": "web-01", "app": "billing", "state": "failed",
        "previous": None, "config_commit": CONFIG, "source_commit": SOURCE,
        "run_id": "5f0c" * 8, "at": "2026-11-23T12:00:00Z", "agent_version": __version__}
    assert body["failed_tasks"] == [{"task": "Restart billing", "module": "m",
                                     "msg": "billing <!channel> & co"}]
    assert body["message"].startswith("app billing failed")
    json.dumps(body)


def test_payload_host_level_change_keeps_its_own_fields():
    change = Change("stale", "web-02", None, "stale", None, "host web-02 last reported 2h ago",
                    {"last_pass": "2026-11-23T10:00:00Z"})
    body = payload(change, "2026-11-23T12:00:00Z")
    assert body["app"] is None and body["last_pass"] == "2026-11-23T10:00:00Z"
    assert body["text"] == ":hourglass: web-02: host web-02 last reported 2h ago"
    assert body["failed_tasks"] is None and body["config_commit"] is None


def test_outbox_keeps_the_newest_messages_when_full(tmp_path: Path, caplog):
    outbox = tmp_path / "notify.json"
    items = [{"id": str(index), "target": "t", "attempts": 0, "lease_until": 0,
              "payload": {"n": index}} for index in range(webhook.LIMIT + 5)]
    with webhook.locked(outbox) as data:
        webhook.enqueue(data, items)
    queued = json.loads(outbox.read_text())["outbox"]
    assert len(queued) == webhook.LIMIT and queued[0]["payload"] == {"n": 5}
    assert "the 5 oldest undelivered message(s) dropped" in caplog.text


def test_send_queues_by_target_on_without_storing_the_url(tmp_path: Path):
    outbox = tmp_path / "notify.json"
    closed = "http://127.0.0.1:9/services/T0/B0/token-xyz"  # nothing listens there
    failed_only = NotifyTarget(closed, on=("failed",), timeout=1)
    everything = NotifyTarget(closed + "2", timeout=1)
    change = Change("recovered", "web-01", "billing", "applied", "failed", "m", {})
    send([failed_only, everything], [change], outbox)
    queued = json.loads(outbox.read_text())["outbox"]
    assert [item["target"] for item in queued] == [webhook.target_key(everything.url)]
    assert "token-xyz" not in outbox.read_text()


def test_send_never_raises(tmp_path: Path):
    (tmp_path / "file").write_text("")
    target = NotifyTarget("http://127.0.0.1:9/hook", timeout=1)
    change = Change("stale", "web-01", None, "stale", None, "m", {})
    send([target], [change], tmp_path / "file" / "notify.json")  # a file in the way


def test_host_of_never_shows_the_token():
    assert webhook.host_of("https://user:secret@hooks.example.com:8443/T0/B0/xyz") == \
        "hooks.example.com:8443"
    assert webhook.host_of("https://hooks.slack.com/services/T0/B0/xyz") == "hooks.slack.com"


class Answering:
    """A local HTTP server that answers every POST with `status`."""

    def __init__(self, status: int) -> None:
        self.bodies: list[bytes] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/services/T0/token-xyz"


def settled(outbox: Path, check: Any) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        queued = json.loads(outbox.read_text())["outbox"]
        if check(queued):
            return queued
        time.sleep(0.05)
    raise AssertionError(f"outbox never settled: {outbox.read_text()}")


@pytest.mark.parametrize(("status", "kept"), [(200, False), (404, False), (500, True),
                                              (429, True)])
def test_send_keeps_only_what_may_still_be_delivered(tmp_path: Path, caplog, status, kept):
    server = Answering(status)
    outbox = tmp_path / "notify.json"
    change = Change("stale", "web-01", None, "stale", None, "m", {})
    try:
        send([NotifyTarget(server.url, timeout=2)], [change], outbox)
        queued = settled(outbox, lambda queued: bool(queued) == kept and (
            not queued or queued[0]["attempts"] >= 1))
    finally:
        server.http.shutdown()
        server.http.server_close()
    assert json.loads(server.bodies[0])["event"] == "stale"
    assert [item["payload"]["host"] for item in queued] == (["web-01"] if kept else [])
    assert "token-xyz" not in caplog.text
    if status != 200:
        assert f"HTTP {status}" in caplog.text


@pytest.mark.parametrize(("before", "stale", "event"), [
    (None, False, None),  # a new host that reports: nothing to say
    (None, True, "stale"),  # first seen already stale: news
    ("reporting", True, "stale"),
    ("stale", True, None),  # still stale: said once already
    ("stale", False, "recovered"),
    ("reporting", False, None),
])
def test_host_changes_one_message_per_change_of_a_hosts_heartbeat(before, stale, event):
    previous = {} if before is None else {"web-02": before}
    hosts = {"web-02": {"stale": stale, "last_pass": "2026-12-03T10:00:00Z"}}

    changes = notify.host_changes(previous, hosts)

    assert [change.event for change in changes] == ([event] if event else [])
    for change in changes:
        assert change.host == "web-02" and change.app is None
        assert "2026-12-03T10:00:00Z" in change.message
