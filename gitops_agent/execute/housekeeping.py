"""Housekeeping of the agent's own repos: packed and pruned about once a day (and the
temporary copies a killed run left behind are cleared).

Every fetch adds objects and the agent never runs git's automatic gc inside a pass (a
pass must not stall on it: git.SAFE_CONFIG sets gc.auto=0). After a pass, each repo
whose last tidy is over a day old gets `git gc --auto` — which does nothing until there
is enough to pack — after its reflogs are expired: the checkouts are caches, and old
commits kept alive by a reflog would never be pruned.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from pathlib import Path

from gitops_agent import git
from gitops_agent.errors import GitError
from gitops_agent.layout import Layout

log = logging.getLogger(__name__)
EVERY = 86400.0  # seconds between two tidies of one repo
MARKER = "gitops-agent-tidied"
AUTO = ("-c", "gc.autoDetach=false", "-c", "gc.auto=1000", "-c", "gc.autoPackLimit=20",
        "-c", "gc.pruneExpire=1.hour.ago", "-c", "gc.reflogExpire=now",
        "-c", "gc.reflogExpireUnreachable=now")  # in the foreground, under the pass's lock


def repos(layout: Layout) -> list[Path]:
    """The git dirs the agent owns: config checkout, app checkouts, report caches."""
    found = [layout.config_checkout / ".git"]
    apps = layout.root / "repos" / "apps"
    if apps.is_dir():
        found += sorted(path / ".git" for path in apps.iterdir())
    found.append(layout.status_repo)  # not fleet.git: `fleet` runs under a lock of its own
    return [path for path in found if (path / "HEAD").is_file()]


def due(git_dir: Path, now: float) -> bool:
    """Tidied over a day ago, never, or at a time in the future (the clock jumped)."""
    try:
        then = (git_dir / MARKER).stat().st_mtime
    except OSError:
        return True
    return not 0 <= now - then < EVERY


def tidy(layout: Layout, now: float | None = None) -> list[Path]:
    """Tidy every repo that is due; return those tidied. A failure is one log line."""
    moment = time.time() if now is None else now
    done = []
    for git_dir in repos(layout):
        if tidy_one(git_dir, moment):
            done.append(git_dir)
    clear_scratch(layout.scratch, moment)
    return done


def clear_scratch(scratch: Path, now: float) -> None:
    """Remove the temporary copies a killed run left (a day old: none is still in use).
    One dated in the future (the clock was set back) may be in use: it waits its day."""
    for path in scratch.glob("*") if scratch.is_dir() else ():
        with contextlib.suppress(OSError):  # unreadable: _remove says why
            if now - path.lstat().st_mtime < EVERY:
                continue
        _remove(path, "after the next pass")


def clear_work(layout: Layout) -> None:
    """Remove what runs cut short left in runs/<app>/work: private dirs (the vars file
    among them) and trace files. Called under the pass lock, once the processes an agent
    killed outright left are ended: no run of this state dir is at work then (check-mode
    runs of `plan` work in a state dir of their own)."""
    for entry in (layout.root / "runs").glob("*/work/*"):
        _remove(entry, "at the next pass")


def _remove(path: Path, retried: str) -> None:
    """Remove a file, link or tree; a failure is one warning (tried again `retried`)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError as error:
        log.warning("cannot remove %s (tried again %s): %s", path, retried, error)


def tidy_one(git_dir: Path, now: float) -> bool:
    """Tidy one git dir if it is due (under the lock that keeps the agent's other gits
    out of it); True when it was."""
    if not (git_dir / "HEAD").is_file() or not due(git_dir, now):
        return False
    try:
        git.run(["reflog", "expire", "--expire=now", "--all"], cwd=git_dir)
        git.run([*AUTO, "gc", "--auto", "--quiet"], cwd=git_dir, timeout=600)
    except GitError as error:
        log.warning("housekeeping of %s failed (tried again tomorrow): %s", git_dir, error)
    (git_dir / MARKER).touch()
    return True
