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
from pathlib import Path
from types import FrameType

from gitops_agent import git
from gitops_agent.config import AgentConfig, load_agent_config
from gitops_agent.daemon import sdnotify
from gitops_agent.daemon.files import FileWatch, Wakeups
from gitops_agent.errors import ConfigError, FatalError, LockHeld
from gitops_agent.git_reason import redact
from gitops_agent.layout import Layout
from gitops_agent.pass_ import Options, Pass

log = logging.getLogger(__name__)
DEBOUNCE = 1.0  # seconds of quiet after a watched file's last event before re-applying
LOCK_RETRY = 10.0
MAX_BACKOFF = 16  # after failures the wait doubles, up to 16 times the interval


class Daemon:
    def __init__(self, config_path: Path, config: AgentConfig) -> None:
        self.config_path = config_path.resolve()
        self.config = config
        self.wakeups = Wakeups()
        self.stopping = threading.Event()
        self.cancel = threading.Event()
        self.files = FileWatch(self.config_path, self.wakeups)
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

    # --- the main loop -------------------------------------------------------------
    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, self._signal)
        layout = Layout(self.config.state_dir)
        layout.prepare()
        pid_file = layout.root / "watch.pid"
        pid_file.write_text(f"{os.getpid()}\n")
        self.files.start()
        pinger = self._start_watchdog_pings()
        sdnotify.notify("READY=1", f"STATUS=watching {redact(self.config.config_repo.url)}")
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
            self.files.stop()
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
        self.files.update(result.watch)
        states = [record.state for record in result.records.values()]
        summary = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))) or "no apps"
        sdnotify.notify(f"STATUS=last pass: {summary}")
        return interval + splay

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
