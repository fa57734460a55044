"""Timestamps as the report and state write them: UTC, ISO 8601, to the second."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The wall clock in UTC, to the second (what plan/ is given: it reads no clock)."""
    return datetime.now(UTC).replace(microsecond=0)


def now_iso() -> str:
    return now().strftime("%Y-%m-%dT%H:%M:%SZ")
