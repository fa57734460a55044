"""What changed in the agent's shipped content that an app's last run read (pure: no I/O).

The recorded fact and the current one are observe/shipped.py's entries: the same paths,
then and now. An older agent recorded its version string instead; that differs once
(the next apply records the entries), and is said so.
"""

from __future__ import annotations

from typing import Any

from gitops_agent.observe.shipped import DIR, FILE, MISSING, Entries, parse

OWNER = "the agent's shipped"


def _same(was: str, now: str | None) -> bool:
    if was == FILE:  # only probed: any file will do
        return now is not None and now not in (MISSING, DIR)
    return now == was


def _name(path: str) -> str:
    return "content" if path == "." else path


def changes(was: Any, now: Any) -> list[str]:
    """Why the shipped content recorded as `was` no longer holds in `now`; [] if it does."""
    if isinstance(was, str):
        return [f"an older agent recorded its shipped content only as version {was}: "
                "applied once to record which shipped files the app reads"]
    recorded = parse(was)
    if recorded is None:
        return ["the agent's shipped content changed (its record is unreadable)"]
    current = parse(now) or Entries()
    found: list[str] = []
    for path, before in sorted(recorded.files.items()):
        after = current.files.get(path)
        if _same(before, after):
            continue
        if before == MISSING:
            found.append(f"{OWNER} {_name(path)} appeared")
        elif after == MISSING:
            found.append(f"{OWNER} {_name(path)} was removed")
        else:
            found.append(f"{OWNER} {_name(path)} changed")
    for directory, before in sorted(recorded.listings.items()):
        if current.listings.get(directory) != before:
            found.append(f"the entries of {OWNER} {_name(directory)}/ changed")
    return found
