"""Deliver queued webhook messages: the outbox file and one background sender per file.

The outbox is a JSON file (`<state_dir>/notify.json` for passes) holding the messages
not yet delivered under "outbox", beside whatever else its owner keeps there. Every
change to it happens under an flock on a sibling `.lock` file and is written atomically,
so threads and processes (a `run` finishing while the next one starts) share it safely.

A message is claimed before it is sent (`lease_until`), so no two senders post it at
once, and removed only once the webhook accepted it: a crash can repeat a message whose
answer was lost, never lose one. A sender makes a few rounds with backoff, a dead target
costing one timeout per round; what is left waits for the next pass. At interpreter exit
the sender gets at most 2 x the longest timeout, then its claims are released.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitops_agent import __version__
from gitops_agent.config import NotifyTarget
from gitops_agent.record.state import write_atomically

log = logging.getLogger(__name__)
LIMIT = 100  # messages kept undelivered; the oldest go first
ROUNDS = 3  # delivery rounds per sender with failures; the next pass tries again
BACKOFF = 1.0  # seconds before the second round, doubled for each further one
LEASE_MARGIN = 5.0  # seconds a claim outlives the attempt's timeout
LONGEST_LEASE = LIMIT * 60 + LEASE_MARGIN  # a claim further ahead is a clock that jumped
RETRY_STATUSES = (408, 425, 429)  # the 4xx answers worth trying again; other 4xx are final
RESPONSE_LIMIT = 65536


def target_key(url: str) -> str:
    """How the outbox names a target: a digest, since the URL often holds a secret token."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def host_of(url: str) -> str:
    """The part of a webhook URL that may be logged: its host (and port), no token."""
    try:
        parts = urlsplit(url)
        return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname \
            else "?"
    except ValueError:
        return "?"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[dict[str, Any]]:
    """The outbox file's data under an exclusive lock; written back if it changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path.with_name(path.stem + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        data = _load(path)
        before = json.dumps(data, sort_keys=True, default=str)
        yield data
        text = json.dumps(data, sort_keys=True, default=str)
        if text != before:
            write_atomically(path, json.dumps(data, indent=1, sort_keys=True, default=str)
                             + "\n")
    finally:
        os.close(descriptor)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a mapping")
    except FileNotFoundError:
        return {}
    except (ValueError, OSError, UnicodeDecodeError) as error:
        with contextlib.suppress(OSError):
            os.replace(path, path.with_name(path.name + ".unreadable"))
        log.warning("%s is unreadable (%s); kept aside as %s.unreadable: starting afresh",
                    path, error, path.name)
        return {}
    queue = data.get("outbox")
    data["outbox"] = [item for item in queue if _well_formed(item)] \
        if isinstance(queue, list) else []
    return data


def _well_formed(item: Any) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("id"), str)
            and isinstance(item.get("target"), str) and isinstance(item.get("payload"), dict)
            and isinstance(item.get("attempts", 0), int)
            and isinstance(item.get("lease_until", 0), (int, float)))


def enqueue(data: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """Add messages to the outbox data, dropping the oldest beyond LIMIT (said in the log)."""
    queue = data.setdefault("outbox", [])
    queue.extend(items)
    if len(queue) > LIMIT:
        dropped = len(queue) - LIMIT
        del queue[:dropped]
        log.warning("notification outbox full: the %d oldest undelivered message(s) dropped",
                    dropped)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an error: the POST is not sent on elsewhere


_OPENER = urllib.request.build_opener(_NoRedirects())


class Rejected(Exception):
    """The webhook refused the message for good (a 4xx answer): sending it again is futile."""


def post(target: NotifyTarget, payload: dict[str, Any]) -> str | None:
    """POST `payload` as JSON; None when the webhook took it, else why not (no URL in it).
    Raises Rejected when the webhook refused the message for good."""
    if urlsplit(target.url).scheme not in ("http", "https"):
        raise Rejected("not an http(s) URL")
    request = urllib.request.Request(
        target.url, data=json.dumps(payload, default=str).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "User-Agent": f"gitops-agent/{__version__}"})
    try:
        with _OPENER.open(request, timeout=target.timeout) as response:
            response.read(RESPONSE_LIMIT)
    except urllib.error.HTTPError as error:
        if 400 <= error.code < 500 and error.code not in RETRY_STATUSES:
            raise Rejected(f"HTTP {error.code}") from None
        return f"HTTP {error.code}"
    except urllib.error.URLError as error:
        reason = error.reason
        return "timed out" if isinstance(reason, TimeoutError) else \
            (getattr(reason, "strerror", None) or type(reason).__name__)
    except TimeoutError:
        return "timed out"
    except (OSError, ValueError, http.client.HTTPException) as error:
        return getattr(error, "strerror", None) or type(error).__name__
    return None


class Sender:
    """The background delivery of one outbox file."""

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        self.lock = threading.Lock()  # guards the fields below and every write of ours
        self.targets: dict[str, NotifyTarget] = {}
        self.thread: threading.Thread | None = None
        self.wanted = False  # messages were queued since the sender last looked
        self.claimed: set[str] = set()
        self.abandoned = False  # the interpreter is exiting: write nothing more
        self.warned: set[str] = set()  # targets whose failure this sender has logged

    def start(self, targets: Sequence[NotifyTarget]) -> None:
        with self.lock:
            self.targets = {target_key(target.url): target for target in targets}
            self.wanted = True
            if self.thread is None and not self.abandoned:
                self.warned = set()
                self.thread = threading.Thread(target=self._run, name="notify", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        failures = 0
        try:
            while True:
                with self.lock:
                    self.wanted = False
                if self._round():
                    failures += 1
                    if failures >= ROUNDS:
                        return
                    time.sleep(BACKOFF * 2 ** (failures - 1))
                    continue
                with self.lock:
                    if not self.wanted:
                        return
        except Exception as error:  # never a traceback from a notification
            log.warning("notifications: %s: %s", type(error).__name__, error)
        finally:
            with self.lock:
                self.thread = None

    def _round(self) -> bool:
        """Send every message nobody else is sending; True if any was not delivered."""
        with self.lock:
            if self.abandoned:
                return False
            targets = dict(self.targets)
            now = time.time()
            with locked(self.outbox) as data:
                queue = data["outbox"]
                orphans = [item for item in queue if item["target"] not in targets]
                if orphans:
                    log.warning("%d notification(s) dropped: their webhook is no longer "
                                "configured", len(orphans))
                queue[:] = [item for item in queue if item["target"] in targets]
                due = [item for item in queue
                       if not now < item.get("lease_until", 0) < now + LONGEST_LEASE]
                lease = now + LEASE_MARGIN + sum(targets[item["target"]].timeout
                                                 for item in due)  # sent one after another
                batch = [dict(item) for item in due]
                for item in due:
                    item["lease_until"] = lease
                self.claimed |= {item["id"] for item in batch}
        if not batch:
            return False
        done: set[str] = set()  # delivered, or refused for good: out of the outbox
        attempted: set[str] = set()
        dead: set[str] = set()
        for item in batch:
            key = item["target"]
            if key in dead:
                continue  # one timeout per dead target and round
            attempted.add(item["id"])
            where = host_of(targets[key].url)
            try:
                problem = post(targets[key], item["payload"])
            except Rejected as error:
                log.warning("notification refused by %s (%s): dropped", where, error)
                done.add(item["id"])
                continue
            if problem is None:
                done.add(item["id"])
                continue
            dead.add(key)
            level = logging.DEBUG if key in self.warned else logging.WARNING
            self.warned.add(key)
            log.log(level, "notification to %s not delivered (kept for a later try): %s",
                    where, problem)
        self._settle({item["id"] for item in batch}, attempted, done)
        return len(done) < len(batch)

    def _settle(self, claimed: set[str], attempted: set[str], delivered: set[str]) -> None:
        """Drop what was delivered; release the rest of the claim, counting attempts."""
        with self.lock:
            if self.abandoned:
                return
            with locked(self.outbox) as data:
                data["outbox"] = [_released(item, item["id"] in attempted)
                                  if item["id"] in claimed else item
                                  for item in data["outbox"] if item["id"] not in delivered]
            self.claimed -= claimed

    def finish(self) -> None:
        """At exit: wait for the sends in flight (bounded), then free what is unsettled."""
        with self.lock:
            thread = self.thread
            longest = max((target.timeout for target in self.targets.values()), default=5)
        if thread is not None:
            thread.join(2 * longest)
        with self.lock:
            self.abandoned = True
            claimed, self.claimed = self.claimed, set()
            if claimed:
                with contextlib.suppress(OSError), locked(self.outbox) as data:
                    data["outbox"] = [_released(item, True) if item["id"] in claimed
                                      else item for item in data["outbox"]]


def _released(item: dict[str, Any], attempted: bool) -> dict[str, Any]:
    return {**item, "attempts": int(item.get("attempts", 0)) + attempted, "lease_until": 0}


_SENDERS: dict[Path, Sender] = {}
_SENDERS_LOCK = threading.Lock()


def deliver(targets: Sequence[NotifyTarget], outbox: Path) -> None:
    """Make sure the outbox's background sender runs (started once per file)."""
    path = outbox.absolute()
    with _SENDERS_LOCK:
        sender = _SENDERS.get(path)
        if sender is None:
            sender = _SENDERS[path] = Sender(path)
    sender.start(targets)


@atexit.register
def _finish_all() -> None:
    for sender in list(_SENDERS.values()):
        sender.finish()
