"""Webhook notifications: one JSON POST per state change, never one per pass.

    app_changes   pure: the report's apps against the states known before -> the changes
    remembered    pure: the states to compare the next pass with
    send          queue changes in an outbox file, deliver them in the background
    notify_pass   a pass's report against <state_dir>/notify.json, then send

Everything comes from the report's app entries (already filtered of secrets), never
from raw state. The known states and the queued messages are written in one atomic
write before anything is sent, so a crash between passes neither repeats nor loses a
change; a dead or slow webhook never delays a pass (publish/webhook.py).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_agent import __version__
from gitops_agent.clock import now_iso
from gitops_agent.config import NotifyTarget
from gitops_agent.publish import webhook

log = logging.getLogger(__name__)
TROUBLE = ("failed", "rolled_back", "drifted")  # entering one of these is its own event
RECOVERABLE = ("failed", "rolled_back", "drifted", "blocked")
GOOD = ("applied", "unchanged")
HOLDS = ("waiting", "suspended")  # a hold between two results: the one before is kept
ICONS = {"failed": ":red_circle:", "rolled_back": ":leftwards_arrow_with_hook:",
         "drifted": ":warning:", "recovered": ":white_check_mark:", "stale": ":hourglass:"}
FIELDS = ("config_commit", "source_commit", "run_id", "failed_tasks")
MESSAGE_LIMIT = 300
TASKS_LIMIT = 10
CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Change:
    event: str  # failed | rolled_back | drifted | recovered | stale
    host: str
    app: str | None  # None for a host-level change (stale)
    state: str  # the new state
    previous: str | None
    message: str  # one line for humans
    fields: dict[str, Any]  # config_commit, source_commit, run_id, failed_tasks (report)


def event_of(previous: str | None, state: str) -> str | None:
    """The event a state change is, if any (the transitions table)."""
    if state == previous:
        return None
    if state in TROUBLE:
        return state
    if state in GOOD and previous in RECOVERABLE:
        return "recovered"
    return None


def _line(text: Any, limit: int = MESSAGE_LIMIT) -> str:
    """One clean line of at most `limit` characters."""
    flat = " ".join(CONTROL.sub(" ", str(text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _short(sha: Any) -> str:
    return str(sha)[:12] if sha else "no commit"


def _detail(app: dict[str, Any]) -> str:
    """What went wrong: the first failed task and its message, else the app's message."""
    tasks = app.get("failed_tasks") or []
    if tasks and isinstance(tasks[0], dict):
        return f"{tasks[0].get('task', '?')}: {tasks[0].get('msg', '')}"
    return str(app.get("message") or "")


def _message(event: str, name: str, state: str, app: dict[str, Any]) -> str:
    commit = _short(app.get("config_commit"))
    if event == "failed":
        text = f"app {name} failed at {commit}: {_detail(app)}"
    elif event == "rolled_back":
        text = f"app {name} rolled back after a failure at {commit}: {_detail(app)}"
    elif event == "drifted":
        text = f"app {name} drifted at {commit}: {app.get('message') or ''}"
    else:
        text = f"app {name} recovered: {state} at {commit}"
    return _line(text)


def _fields(app: dict[str, Any]) -> dict[str, Any]:
    tasks = [{key: _line(task.get(key, "")) for key in ("task", "module", "msg")}
             for task in (app.get("failed_tasks") or [])[:TASKS_LIMIT]
             if isinstance(task, dict)]
    return {"config_commit": app.get("config_commit"),
            "source_commit": app.get("source_commit"),
            "run_id": app.get("run_id"), "failed_tasks": tasks}


def app_changes(host: str, previous: dict[str, str],
                apps: dict[str, dict[str, Any]]) -> list[Change]:
    """The changes worth a message between the states known before and the report's
    apps (its `apps` mapping), in app name order."""
    changes = []
    for name in sorted(apps):
        app = apps[name]
        state = str(app.get("state"))
        before = previous.get(name)
        event = event_of(before, state)
        if event:
            changes.append(Change(event, host, name, state, before,
                                  _message(event, name, state, app), _fields(app)))
    return changes


def remembered(previous: dict[str, str], apps: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The states the next pass compares with: each app's new state, except that a hold
    (waiting, suspended) keeps the state before it, so a failed app that waits for a wave
    and then applies still says `recovered`. Apps gone from the report are forgotten."""
    known = {}
    for name, app in apps.items():
        state = str(app.get("state"))
        if state in HOLDS and name in previous:
            known[name] = previous[name]
        else:
            known[name] = state
    return known


def _slack(text: str) -> str:
    """Text that Slack and Mattermost show as written (no links, mentions or markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(change: Change, at: str) -> dict[str, Any]:
    """The JSON body: structured fields, plus `text` for Slack/Mattermost webhooks."""
    body = {"event": change.event, "host": change.host, "app": change.app,
            "state": change.state, "previous": change.previous, "message": change.message,
            **{key: change.fields.get(key) for key in FIELDS}}
    body.update({key: value for key, value in change.fields.items() if key not in body})
    body.update({"at": at, "agent_version": __version__,
                 "text": f"{ICONS.get(change.event, ':bell:')} {_slack(_line(change.host))}: "
                         f"{_slack(change.message)}"})
    return body


def _queue(data: dict[str, Any], targets: Sequence[NotifyTarget],
           changes: list[Change]) -> None:
    """Put one message per change and interested target into the outbox data."""
    at = now_iso()
    items = []
    for change in changes:
        body = payload(change, at)
        for target in targets:
            if change.event in target.on:
                items.append({"id": uuid.uuid4().hex, "target": webhook.target_key(target.url),
                              "attempts": 0, "lease_until": 0, "payload": body})
        log.info("notification: %s: %s", change.host, change.message)
    webhook.enqueue(data, items)


def send(targets: Sequence[NotifyTarget], changes: list[Change], outbox: Path) -> None:
    """POST each change to the targets whose `on` has its event, in the background; what
    cannot be delivered now stays in `outbox` (a JSON file) for the next call. Never
    blocks long, never raises."""
    try:
        if changes:
            with webhook.locked(outbox) as data:
                _queue(data, targets, changes)
        if targets:
            webhook.deliver(targets, outbox)
    except Exception as error:
        log.warning("notifications not sent: %s: %s", type(error).__name__, error)


def _notify(targets: Sequence[NotifyTarget], outbox: Path, key: str,
            compare: Callable[[dict[str, str]], tuple[list[Change], dict[str, str]]]
            ) -> list[Change]:
    """The states known under `key` in the outbox -> (changes, states to keep): both
    written in one atomic update with the queued messages, then sent. Never raises."""
    changes: list[Change] = []
    try:
        with webhook.locked(outbox) as data:
            known = data.get(key)
            previous = {str(name): str(state) for name, state in known.items()} \
                if isinstance(known, dict) else {}
            changes, data[key] = compare(previous)
            _queue(data, targets, changes)
        webhook.deliver(targets, outbox)
    except Exception as error:
        log.warning("notifications not sent: %s: %s", type(error).__name__, error)
    return changes


def notify_pass(targets: Sequence[NotifyTarget], host: str, apps: dict[str, dict[str, Any]],
                outbox: Path) -> list[Change]:
    """A pass's report apps: queue what changed since the last pass, then send."""
    return _notify(targets, outbox, "apps", lambda previous: (
        app_changes(host, previous, apps), remembered(previous, apps)))


def host_changes(previous: dict[str, str], hosts: dict[str, dict[str, Any]]) -> list[Change]:
    """`fleet`'s view of whole hosts (pure): one `stale` when a host's heartbeat stops,
    one `recovered` when it reports again. A host seen for the first time already stale
    is news too; a host gone from the status branches is forgotten."""
    changes = []
    for name in sorted(hosts):
        host = hosts[name]
        state = "stale" if host.get("stale") else "reporting"
        before = previous.get(name)
        if state == before or (state == "reporting" and before is None):
            continue
        seen = _line(host.get("last_pass") or "never", 40)
        event = "stale" if state == "stale" else "recovered"
        message = (f"{_line(name, 80)} is stale: no report since {seen}" if event == "stale"
                   else f"{_line(name, 80)} reports again (last pass {seen})")
        changes.append(Change(event, name, None, state, before, message,
                              {"config_commit": host.get("config_commit"),
                               "last_pass": host.get("last_pass")}))
    return changes


def notify_fleet(targets: Sequence[NotifyTarget], hosts: dict[str, dict[str, Any]],
                 outbox: Path) -> list[Change]:
    """`fleet`'s hosts against what the last `fleet` here saw (its own outbox file)."""
    return _notify(targets, outbox, "hosts", lambda previous: (
        host_changes(previous, hosts),
        {name: "stale" if host.get("stale") else "reporting" for name, host in hosts.items()}))
