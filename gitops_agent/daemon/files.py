"""What wakes the daemon, and the watchdog on files: the agent config and `watch:` files.

File events, signals and timers only set flags in `Wakeups` and wake the main loop;
the loop decides what to do with them (daemon/loop.py).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer


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
    def __init__(self, files: FileWatch) -> None:
        self.files = files

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = {os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")}
        self.files.changed(paths - {""})


class FileWatch:
    """Watches the agent config (a change asks for a reload) and every app's `watch:`
    files (an edit marks the app; its digest decides in the pass that follows)."""

    def __init__(self, config_path: Path, wakeups: Wakeups) -> None:
        self.config_path = config_path
        self.wakeups = wakeups
        self.watched: dict[str, set[str]] = {}  # absolute file path -> apps watching it
        self.observer = Observer()
        self.observed: dict[str, object] = {}  # directory -> watch handle

    def start(self) -> None:
        self._observe({str(self.config_path.parent)})
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=5)

    def changed(self, paths: set[str]) -> None:
        if str(self.config_path) in paths:
            self.wakeups.wake(reload=True)
        now = time.monotonic()
        with self.wakeups.lock:
            for path in paths:
                for app in self.watched.get(path, ()):
                    self.wakeups.edited[app] = now  # busy or not: the digest decides
        self.wakeups.event.set()

    def update(self, watch: dict[str, tuple[str, ...]]) -> None:
        """Watch these apps' files from now on."""
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

    def _observe(self, directories: set[str]) -> None:
        wanted = {directory for directory in directories if os.path.isdir(directory)}
        for directory in set(self.observed) - wanted:
            self.observer.unschedule(self.observed.pop(directory))  # type: ignore[arg-type]
        for directory in wanted - set(self.observed):
            self.observed[directory] = self.observer.schedule(_Events(self), directory,
                                                              recursive=False)
