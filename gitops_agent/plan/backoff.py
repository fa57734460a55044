"""Backoff for an app that keeps failing on the same inputs (pure: `now` is passed in).

The first failure on new inputs is retried at the next pass (it is often passing
trouble: a lock, a mirror). Each further failure on the same inputs doubles the wait,
from `base` up to `cap`: after n consecutive failures the next attempt is due
min(base * 2^(n-2), cap) seconds later. A change of the app's inputs, `--force`,
`run-playbook` and a success start the count again. A `retry_at` further ahead than
`cap` (the clock was set back since it was written) holds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # as state and the report write times


def to_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(FORMAT)


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class Backoff:
    base: int = 60  # seconds: the wait after the second failure on the same inputs
    cap: int = 3600  # seconds: the longest wait

    def delay(self, failures: int) -> int:
        """Seconds to wait after `failures` consecutive failures on the same inputs."""
        if failures < 2:
            return 0
        return min(self.base * 2 ** min(failures - 2, 32), self.cap)

    def retry_at(self, failures: int, now: datetime) -> str | None:
        """When the next attempt is due, or None when it is due at the next pass."""
        delay = self.delay(failures)
        return to_iso(now + timedelta(seconds=delay)) if delay else None

    def due(self, retry_at: str | None, now: datetime | None) -> bool:
        """Whether an app held until `retry_at` may run at `now`. Without a `now` nothing
        is held; an unreadable `retry_at`, or one more than `cap` ahead, holds nothing."""
        moment = from_iso(retry_at)
        if now is None or moment is None:
            return True
        ahead = (moment - now).total_seconds()
        return ahead <= 0 or ahead > self.cap


def note(failures: int, retry_at: str) -> str:
    """What a held app's message and the plan say."""
    return (f"failed {failures} times on the same inputs; next attempt after {retry_at} "
            "(backoff)")


DEFAULT = Backoff()
