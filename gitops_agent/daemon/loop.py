"""`gitops-agent watch`: a pass every interval, on watched-file edits, on config changes.

Everything that happens (a signal, a file event, a timer) only sets state and wakes
the main thread; passes run in the main thread one at a time, so a SIGTERM cancels
the running playbook through the pass's cancel event and the loop ends cleanly.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from gitops_agent import git
from gitops_agent.config import AgentConfig, load_agent_config
from gitops_agent.daemon import sdnotify
from gitops_agent.errors import ConfigError, FatalError, LockHeld
from gitops_agent.layout import Layout
from gitops_agent.pass_ import Options, Pass

log = logging.getLogger(__name__)
DEBOUNCE = 1.0  # seconds of quiet after a watched file's last event before re-applying
LOCK_RETRY = 10.0
MAX_BACKOFF = 16  # after failures the wait doubles, up to 16 times the interval


@dataclass
class Wakeups:
    """What the main loop was woken for; filled from other threads under `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    event: threading.Event = field(default_factory=threading.Event)
    pass_now: bool = False
    reload: bool = False
    edited: dict[str, float] = field(default_factory=dict)  # app -> time of last event

    def wake(self, **what: bool) -> None:
        with self.lock:
            for key, value in what.items():
                setattr(self, key, getattr(self, key) or value)
        self.event.set()


class _Events(FileSystemEventHandler):
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = {os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")}
        self.daemon.file_changed(paths - {""})


class Daemon:
    def __init__(self, config_path: Path, config: AgentConfig) -> None:
        self.config_path = config_path.resolve()
        self.config = config
        self.wakeups = Wakeups()
        self.stopping = threading.Event()
        self.cancel = threading.Event()
        self.watched: dict[str, set[str]] = {}  # absolute file path -> apps watching it
        self.observer = Observer()
        self.observed: dict[str, object] = {}  # directory -> watch handle
        self.failures = 0
        self.apps_seen = 1
        self.alive_until = float("inf")  # watchdog pings stop when the loop misses this

    # --- called from signal handlers and watchdog threads --------------------------
    def _signal(self, signum: int, frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            log.info("received %s: finishing", signal.Signals(signum).name)
            self.stopping.set()
            self.cancel.set()
            git.stop()
            self.wakeups.event.set()
        elif signum == signal.SIGHUP:
            self.wakeups.wake(reload=True)
        else:
            self.wakeups.wake(pass_now=True)

    def file_changed(self, paths: set[str]) -> None:
        if str(self.config_path) in paths:
            self.wakeups.wake(reload=True)
        now = time.monotonic()
        with self.wakeups.lock:
            for path in paths:
                for app in self.watched.get(path, ()):
                    self.wakeups.edited[app] = now  # busy or not: the digest decides
        self.wakeups.event.set()

    # --- the main loop -------------------------------------------------------------
    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, self._signal)
        layout = Layout(self.config.state_dir)
        layout.prepare()
        pid_file = layout.root / "watch.pid"
        pid_file.write_text(f"{os.getpid()}\n")
        self._observe({self.config_path.parent})
        self.observer.start()
        pinger = self._start_watchdog_pings()
        sdnotify.notify("READY=1", f"STATUS=watching {self.config.config_repo.url}")
        log.info("watching %s every %ss (pid %d)", self.config.config_repo.url,
                 self.config.interval, os.getpid())
        next_pass = time.monotonic()
        next_drift = time.monotonic() + self.config.drift_interval
        try:
            while not self.stopping.is_set():
                ready = self._ready_edits()
                now = time.monotonic()
                with self.wakeups.lock:
                    asked, self.wakeups.pass_now = self.wakeups.pass_now, False
                    reload, self.wakeups.reload = self.wakeups.reload, False
                if reload:
                    self._reload()
                if ready:
                    # not forced: the watch: digests decide, so the agent's own writes
                    # settle and a hand edit, even one made mid-apply, is applied
                    self._pass(Options(only=tuple(sorted(ready))))
                if asked or now >= next_pass:
                    wait = self._pass(Options())
                    next_pass = time.monotonic() + wait
                elif now >= next_drift:
                    self._pass(Options(drift_check=True))
                    next_drift = time.monotonic() + self.config.drift_interval
                if self.stopping.is_set():
                    break
                wait = max(0.05, self._timeout(next_pass, next_drift))
                self.alive_until = time.monotonic() + wait + 60
                self.wakeups.event.wait(wait)
                self.wakeups.event.clear()
        finally:
            sdnotify.notify("STOPPING=1")
            if pinger:
                pinger.set()
            self.observer.stop()
            self.observer.join(timeout=5)
            pid_file.unlink(missing_ok=True)
        log.info("stopped")
        return 0

    def _timeout(self, next_pass: float, next_drift: float) -> float:
        deadline = min(next_pass, next_drift)
        with self.wakeups.lock:
            if self.wakeups.edited:
                deadline = min(deadline, min(self.wakeups.edited.values()) + DEBOUNCE)
        return deadline - time.monotonic()

    def _ready_edits(self) -> set[str]:
        """Apps whose watched files have been quiet for DEBOUNCE seconds."""
        now = time.monotonic()
        with self.wakeups.lock:
            ready = {app for app, at in self.wakeups.edited.items() if now - at >= DEBOUNCE}
            for app in ready:
                del self.wakeups.edited[app]
        if ready:
            log.info("watched files changed: re-applying %s", ", ".join(sorted(ready)))
        return ready

    def _pass(self, options: Options) -> float:
        """Run one pass; return how long to wait before the next regular one."""
        options.cancel = self.cancel
        interval = self.config.interval
        runner = self.config.runner  # a pass may run every app, `workers` at a time
        rounds = -(-(len(options.only) or self.apps_seen) // runner.workers)
        self.alive_until = time.monotonic() + runner.timeout * max(1, rounds) + 600
        splay = random.uniform(0, self.config.splay) if self.config.splay else 0.0
        sdnotify.notify("STATUS=reconciling")
        try:
            result = Pass(self.config, options).run()
        except LockHeld as error:
            log.info("%s", error)
            return LOCK_RETRY
        except FatalError as error:
            self.failures += 1
            backoff = min(2 ** (self.failures - 1), MAX_BACKOFF)
            log.error("pass failed: %s (next try in %ds)", error, interval * backoff)
            return interval * backoff + splay
        except Exception:  # the daemon must outlive any bug in one pass
            self.failures += 1
            log.exception("pass crashed")
            return interval * min(2 ** (self.failures - 1), MAX_BACKOFF) + splay
        self.failures = 0
        if not options.only:
            self.apps_seen = max(1, len(result.records))
        self._update_watches(result.watch)
        states = [record.state for record in result.records.values()]
        summary = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))) or "no apps"
        sdnotify.notify(f"STATUS=last pass: {summary}")
        return interval + splay

    def watched_apps(self) -> set[str]:
        return {app for apps in self.watched.values() for app in apps}

    def _update_watches(self, watch: dict[str, tuple[str, ...]]) -> None:
        watched: dict[str, set[str]] = {}
        for app, paths in watch.items():
            for path in paths:
                watched.setdefault(os.path.abspath(path), set()).add(app)
        self._observe({os.path.dirname(path) for path in watched} | {str(self.config_path.parent)})
        now = time.monotonic()
        with self.wakeups.lock:
            # files watched from now on may have changed while nothing watched them (in
            # the pass that just ran, say): one digest check of their apps catches that
            for path in set(watched) - set(self.watched):
                for app in watched[path]:
                    self.wakeups.edited.setdefault(app, now)
            self.watched = watched

    def _observe(self, directories: set[str] | set[Path]) -> None:
        wanted = {str(directory) for directory in directories if os.path.isdir(directory)}
        for directory in set(self.observed) - wanted:
            self.observer.unschedule(self.observed.pop(directory))  # type: ignore[arg-type]
        for directory in wanted - set(self.observed):
            self.observed[directory] = self.observer.schedule(_Events(self), directory,
                                                              recursive=False)

    def _reload(self) -> None:
        try:
            config = load_agent_config(self.config_path)
        except ConfigError as error:
            log.error("new agent config refused, keeping the old one: %s", error)
            return
        if config != self.config:
            log.info("agent config reloaded from %s", self.config_path)
            self.config = config
            self.wakeups.wake(pass_now=True)

    def _start_watchdog_pings(self) -> threading.Event | None:
        every = sdnotify.watchdog_interval()
        if every is None:
            return None
        done = threading.Event()

        def ping() -> None:
            # Only while the main loop keeps its promises: a loop stuck past its
            # deadline stops the pings, and systemd restarts the daemon.
            while not done.wait(every):
                if time.monotonic() < self.alive_until:
                    sdnotify.notify("WATCHDOG=1")

        threading.Thread(target=ping, name="watchdog-ping", daemon=True).start()
        return done
