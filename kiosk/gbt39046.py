"""The national export: ratings as GB/T 39046-2020 rating records, one JSON object a line.

A provincial 好差评 platform takes the fields of the national standard, not ours, so
this module is the one place that maps a stored rating onto them (README, "The
national export", documents it field by field):

- 满意度代码 runs the other way from our score (1 = 非常满意); both it and 满意度 come
  from kiosk/scale.py, so the labels can never drift from the pages';
- 评价渠道 is the channel's national code, also from kiosk/scale.py;
- 评价人 is the rater's phone number masked (138****8000), never whole: the file
  leaves the hall;
- only counted ratings go out: presses flagged ``misuse`` and bad ratings ruled
  invalid on appeal are not citizens' verdicts, and a platform that ranks halls
  must not count them either.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import IO
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock
from .db import db
from .models import Rating
from .privacy import shown_phone
from .scale import CHANNELS, SCORES

FIELDS = ("办件编号", "评价渠道", "评价人", "评价时间", "评价次数", "满意度", "满意度代码",
          "文字评价", "行政区划")
TIME_FORMAT = "%Y%m%dT%H%M%S"  # 评价时间, hall time, e.g. 20261130T093005
# GB/T 2260 行政区划代码: 6 digits (county level), or the 12-digit statistical code
# (down to township) that some provincial platforms ask for.
_REGION = re.compile(r"\d{6}(\d{6})?")


def check_region(code: str | int | None) -> str:
    """``REGION_CODE`` as the export writes it; a clear error when it is unset or not
    a 行政区划代码, since a platform files every record by it and cannot fix it later."""
    # str(): KIOSK_REGION_CODE=440304 arrives as a number (Flask parses env values as JSON).
    code = "" if code is None else str(code).strip()
    if not code:
        raise ValueError("REGION_CODE is not set: put the hall's 6-digit 行政区划代码 "
                         "(GB/T 2260, e.g. 440304) in instance/config.py or KIOSK_REGION_CODE")
    if not _REGION.fullmatch(code):
        raise ValueError(f"REGION_CODE {code!r} is not a 行政区划代码: expected 6 digits "
                         "(e.g. 440304) or 12 digits")
    return code


def national_rows(start: datetime | None, end: datetime | None, tz: ZoneInfo,
                  region: str) -> Iterator[dict]:
    """Counted ratings tapped in [start, end) (naive UTC, None = open), oldest first,
    as GB/T 39046 records with keys in ``FIELDS`` order.

    评价次数 is which rating of the same service this one is (1 the first, 2 a second
    rating of it): ratings with the same ticket at the same window on the same hall day.
    Queue tickets (A001 …) start again every day, so a ticket alone would lump
    strangers together; a rating without a ticket is always 1. Days are whole in any
    range the CLI asks for, so the count never depends on where an export starts."""
    region = check_region(region)
    query = (
        sa.select(Rating.ticket, Rating.window_id, Rating.channel, Rating.phone,
                  Rating.created_at, Rating.score, Rating.comment)
        .where(Rating.counted.is_(True))
        .order_by(Rating.created_at, Rating.id)
    )
    if start is not None:
        query = query.where(Rating.created_at >= start)
    if end is not None:
        query = query.where(Rating.created_at < end)
    seen: dict[tuple[int, str], int] = {}
    seen_day: date | None = None
    with db.engine.connect() as conn:
        result = conn.execution_options(yield_per=5000).execute(query)
        for ticket, window_id, channel, phone, created_at, score, comment in result:
            local = clock.to_local(created_at, tz)
            if local.date() != seen_day:  # rows come in time order: one day at a time
                seen.clear()
                seen_day = local.date()
            ticket = (ticket or "").strip() or None
            times = 1
            if ticket is not None:
                times = seen.get((window_id, ticket), 0) + 1
                seen[(window_id, ticket)] = times
            level = SCORES[score]
            yield dict(zip(FIELDS, (
                ticket,
                str(CHANNELS[channel].gbt_code),
                shown_phone(phone, whole=False),
                local.strftime(TIME_FORMAT),
                times,
                level.zh,
                str(level.gbt_code),
                (comment or "").strip() or None,
                region,
            )))


def write_lines(out: IO[str], rows: Iterator[dict]) -> int:
    """One JSON object a line (UTF-8 text, Chinese left readable); returns how many."""
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
