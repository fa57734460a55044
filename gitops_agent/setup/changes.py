"""Each item setup takes care of, made so or left alone, one line each: `created`,
`updated`, `removed`… or `unchanged`; in a dry run `would create`… and nothing written."""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
from pathlib import Path

import click

from gitops_agent.errors import FatalError
from gitops_agent.record.state import write_atomically

WOULD = {"created": "would create", "updated": "would update", "removed": "would remove",
         "pinned": "would pin", "fixed": "would fix", "started": "would start",
         "enabled": "would enable", "restarted": "would restart", "reloaded": "would reload"}


class Changes:
    """Says (and, unless `dry_run`, makes) each change; remembers whether any was made."""

    def __init__(self, dry_run: bool = False) -> None:
        self.dry_run = dry_run
        self.made: list[str] = []
        self.held: list[int] = []  # flocked directories, until the process ends

    def hold(self, directory: Path) -> None:
        """One setup at a time: a flock on `directory` (two at once could pair one's private
        key with the other's public key, or take the other's temp files for leftovers).
        A dry run writes nothing and takes none."""
        if self.dry_run:
            return
        handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise FatalError(f"another gitops-agent setup is running here (it holds {directory}):"
                             " run this one again once it is done") from None
        self.held.append(handle)

    @staticmethod
    def say(verb: str, what: str) -> None:
        click.echo(f"  {verb:<12} {what}")

    def change(self, done: str, what: str) -> bool:
        """Say the change `done` ("created") to `what`; True when it is to be made now."""
        self.made.append(what)
        self.say(WOULD.get(done, f"would {done}") if self.dry_run else done, what)
        return not self.dry_run

    def unchanged(self, what: str) -> None:
        self.say("unchanged", what)

    def directory(self, path: Path, mode: int) -> None:
        """`path` a directory with `mode` (its missing parents made 0755)."""
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise FatalError(f"{path} exists and is not a directory: move it away first")
        if not path.exists():
            if self.change("created", f"{path} (mode {mode:04o})"):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.mkdir(mode=mode)
                os.chmod(path, mode)
        else:
            self.mode(path, mode)

    def mode(self, path: Path, mode: int) -> None:
        """An existing `path` with `mode`, else `fixed` to it."""
        now = stat.S_IMODE(path.stat().st_mode)
        if now == mode:
            self.unchanged(f"{path} (mode {mode:04o})")
        elif self.change("fixed", f"{path}: mode {now:04o} -> {mode:04o}"):
            os.chmod(path, mode)

    def file(self, path: Path, text: str, mode: int) -> bool:
        """`path` holding `text` with `mode`, written atomically; True when it changed."""
        if path.is_symlink() or path.is_dir():
            raise FatalError(f"{path} is not a regular file: move it away first")
        self.leftovers(path.parent, f".{path.name}.*")
        if path.exists() and path.read_text(encoding="utf-8", errors="replace") == text:
            self.mode(path, mode)
            return False
        done = "updated" if path.exists() else "created"
        if self.change(done, f"{path} (mode {mode:04o})"):
            write_atomically(path, text, mode=mode)
        return True

    def remove(self, path: Path) -> bool:
        """`path` gone (a directory with everything in it); True when it was there."""
        if not path.exists() and not path.is_symlink():
            return False
        if self.change("removed", str(path)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        return True

    def leftovers(self, directory: Path, pattern: str) -> None:
        """Remove what a run killed half-way left in `directory`: the temp files (and dirs)
        matching `pattern` that it would have renamed into place."""
        for path in sorted(directory.glob(pattern)) if directory.is_dir() else ():
            self.remove(path)
