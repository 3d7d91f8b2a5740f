"""The hall's opening hours (办公时间): when a silent tablet matters and when a rating
is out of hours.

Two settings, in hall time: ``OPENING_HOURS`` for working days (the hall calendar of
kiosk/workdays.py, 调休 included) and ``WEEKEND_HOURS`` for the other days (empty:
closed; halls that open on Saturday mornings, 周末不打烊, set e.g. "09:00-12:00").
Each is a comma-separated list of ``HH:MM-HH:MM`` spans.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from . import clock
from .workdays import Deadlines, deadlines

Span = tuple[time, time]
_SPAN = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


def parse(spec: str) -> tuple[Span, ...]:
    """``"09:00-12:00,13:30-17:30"`` as spans; ValueError with a readable message."""
    spans: list[Span] = []
    for part in (p.strip() for p in (spec or "").replace("，", ",").split(",")):
        if not part:
            continue
        m = _SPAN.match(part)
        if not m:
            raise ValueError(f"opening hours {part!r} are not HH:MM-HH:MM")
        h1, m1, h2, m2 = map(int, m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"opening hours {part!r} name a time that does not exist")
        start = time(h1, m1)
        end = time.max if h2 == 24 else time(h2, m2)
        if end <= start:
            raise ValueError(f"opening hours {part!r} end before they start")
        spans.append((start, end))
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:]):
        if start < end:
            raise ValueError(f"opening hours overlap in {spec!r}")
    return tuple(spans)


def describe(spans: tuple[Span, ...]) -> str:
    """Spans as people write them: 09:00–12:00、13:30–17:30 ("" when closed)."""
    return "、".join(f"{a:%H:%M}–{'24:00' if b == time.max else f'{b:%H:%M}'}"
                    for a, b in spans)


class OpeningHours:
    """When the hall is open, on the hall's calendar."""

    def __init__(self, workday: tuple[Span, ...], other_day: tuple[Span, ...],
                 calendar: Deadlines, tz: ZoneInfo) -> None:
        self.workday = workday
        self.other_day = other_day
        self.calendar = calendar
        self.tz = tz

    def spans(self, day: date) -> tuple[Span, ...]:
        """The hall-local opening spans of ``day``."""
        return self.workday if self.calendar.is_workday(day) else self.other_day

    def is_open(self, moment: datetime) -> bool:
        """Whether the hall is open at ``moment`` (stored naive UTC)."""
        local = clock.to_local(moment, self.tz)
        at = local.time().replace(tzinfo=None)
        return any(start <= at < end for start, end in self.spans(local.date()))

    def open_seconds(self, start: datetime, end: datetime) -> float:
        """How many seconds of opening hours lie between two stored (naive UTC)
        moments: how long a tablet has been silent *while it mattered*."""
        if end <= start:
            return 0.0
        first = clock.to_local(start, self.tz)
        last = clock.to_local(end, self.tz)
        total = 0.0
        day = first.date()
        while day <= last.date():
            for a, b in self.spans(day):
                lo = datetime.combine(day, a, self.tz)
                hi = (datetime.combine(day + timedelta(days=1), time(0), self.tz)
                      if b == time.max else datetime.combine(day, b, self.tz))
                overlap = (min(hi, last) - max(lo, first)).total_seconds()
                if overlap > 0:
                    total += overlap
            day += timedelta(days=1)
        return total


def opening_hours(app=None) -> OpeningHours:
    """The app's OpeningHours (made on first use; the settings are checked at start)."""
    from flask import current_app

    app = app or current_app._get_current_object()
    found = app.extensions.get("kiosk.hours")
    if found is None:
        found = app.extensions.setdefault("kiosk.hours", OpeningHours(
            parse(app.config["OPENING_HOURS"]), parse(app.config["WEEKEND_HOURS"]),
            deadlines(app), clock.zone(app.config["TIMEZONE"])))
    return found
