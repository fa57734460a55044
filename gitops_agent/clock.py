"""Timestamps as the report and state write them: UTC, ISO 8601, to the second."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    """The wall clock in UTC, to the second (what plan/ is given: it reads no clock)."""
    return datetime.now(UTC).replace(microsecond=0)


def now_iso() -> str:
    return iso(now())


def parse_iso(stamp: Any) -> datetime | None:
    """A time as a report or state.json writes it; None when it is not one (the value may
    come from another host's report: any type). A time without a zone is taken as UTC."""
    if not isinstance(stamp, str) or len(stamp) > 64:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
