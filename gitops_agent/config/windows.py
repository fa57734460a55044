"""Rollout windows (SPEC §4b): `Day[-Day] HH:MM-HH:MM TZ`, end exclusive.

`Mon-Fri 08:00-17:00 UTC` is open on weekdays from 08:00 to 17:00 UTC; a window whose
end is not after its start crosses midnight (`Sat 22:00-02:00 Europe/Berlin` runs from
Saturday 22:00 to Sunday 02:00, Berlin time, whatever the daylight saving). The day names
the day a window opens; a day range may wrap (`Fri-Mon`). Pure: the time is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PATTERN = re.compile(r"^\s*([A-Za-z]+)(?:-([A-Za-z]+))?\s+(\d\d):(\d\d)-(\d\d):(\d\d)"
                     r"\s+(\S+)\s*$")
FORMAT = "Day[-Day] HH:MM-HH:MM TZ, e.g. 'Mon-Fri 08:00-17:00 UTC'"


@dataclass(frozen=True)
class Window:
    text: str
    days: frozenset[int]  # the weekdays it opens on (Monday = 0)
    start: int  # minutes after midnight
    end: int  # minutes after midnight, exclusive; <= start: the next day
    zone: ZoneInfo

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or \
            ((day - 1) % 7 in self.days and minute < self.end)

    def next_open(self, moment: datetime) -> datetime | None:
        """When the window opens next after `moment` (within a week), in UTC. Around a
        daylight-saving change a start time may come twice (either may be the one) or
        not at all (the window then opens when the clock jumps, if it is still open)."""
        local = moment.astimezone(self.zone)
        found = []
        for offset in range(9):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            for fold in (0, 1):
                start = datetime.combine(day, time(self.start // 60, self.start % 60),
                                         self.zone).replace(fold=fold).astimezone(UTC)
                for _ in range(180):  # a start in a skipped hour: open since the jump
                    before = start - timedelta(minutes=1)
                    if before <= moment or not self.contains(before):
                        break
                    start = before
                if start > moment and self.contains(start):
                    found.append(start)
        return min(found) if found else None


class WindowError(ValueError):
    pass


def _day(name: str) -> int:
    try:
        return DAYS.index(name.lower())
    except ValueError:
        raise WindowError(f"{name!r} is not a day (Mon, Tue, … Sun)") from None


def _minutes(hours: str, minutes: str, end: bool) -> int:
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60 or (value == 24 * 60 and not end):
        raise WindowError(f"{hours}:{minutes} is not a time of day")
    return value % (24 * 60) if not end else value


def parse(text: str) -> Window:
    """One window; WindowError says what is wrong with it."""
    match = PATTERN.match(text)
    if not match:
        raise WindowError(f"{text!r} is not a window ({FORMAT})")
    first, last, start_h, start_m, end_h, end_m, zone_name = match.groups()
    start = _minutes(start_h, start_m, end=False)
    end = _minutes(end_h, end_m, end=True)
    if start == end % (24 * 60) and end != 24 * 60:
        raise WindowError(f"{text!r} is empty: it ends when it starts")
    if end == 24 * 60:
        end = 0 if start else 24 * 60  # 22:00-24:00 crosses to 0:00; 00:00-24:00 = all day
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(f"{zone_name!r} is not a time zone (UTC, Europe/Berlin, …)") \
            from None
    begin, finish = _day(first), _day(last) if last else _day(first)
    days = frozenset((begin + step) % 7 for step in range((finish - begin) % 7 + 1))
    return Window(text.strip(), days, start, end, zone)


def inside(windows: tuple[Window, ...], moment: datetime) -> bool:
    return any(window.contains(moment) for window in windows)


def next_open(windows: tuple[Window, ...], moment: datetime) -> datetime | None:
    found = [opening for window in windows if (opening := window.next_open(moment))]
    return min(found) if found else None
