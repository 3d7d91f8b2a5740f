"""Exporting every stored rating: CSV for Excel and people, JSON lines for systems."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import IO
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock
from .db import db
from .models import Rating, Staff, Window
from .privacy import shown_phone

COLUMNS = ("id", "client_id", "window", "score", "channel", "reasons", "comment",
           "phone", "created_at", "staff_no", "ticket", "counted", "flags")
FORMATS = ("csv", "jsonl", "gbt39046")


def rating_rows(start: datetime | None, end: datetime | None, tz: ZoneInfo,
                with_phone: bool) -> Iterator[dict]:
    """Ratings tapped in [start, end) (naive UTC, None = open), oldest first, as dicts
    in export column order; phones masked unless ``with_phone`` (the operator's own
    ``kiosk export-ratings --with-phone``: the file then holds whole numbers)."""
    query = (
        sa.select(Rating.id, Rating.client_id, Window.code, Rating.score, Rating.channel,
                  Rating.reasons, Rating.comment, Rating.phone, Rating.created_at,
                  Staff.staff_no, Rating.ticket, Rating.counted, Rating.flags)
        .join(Window, Rating.window_id == Window.id)
        .outerjoin(Staff, Rating.staff_id == Staff.id)
        .order_by(Rating.created_at, Rating.id)
    )
    if start is not None:
        query = query.where(Rating.created_at >= start)
    if end is not None:
        query = query.where(Rating.created_at < end)
    with db.engine.connect() as conn:
        result = conn.execution_options(yield_per=5000).execute(query)
        for row in result:
            values = list(row)
            values[7] = shown_phone(values[7], whole=with_phone)
            values[8] = clock.to_local(values[8], tz).isoformat()
            values[11] = bool(values[11])
            yield dict(zip(COLUMNS, values))


def export_ratings(out: IO[str], fmt: str, start: datetime | None, end: datetime | None,
                   tz: ZoneInfo, with_phone: bool = False, region: str = "") -> int:
    """Ratings tapped in [start, end) to ``out`` in ``fmt``; returns how many. The
    national ``gbt39046`` format (kiosk/gbt39046.py) has its own fields, counted
    ratings only and always masked phones, so ``with_phone`` is refused there."""
    if fmt == "gbt39046":
        from . import gbt39046

        if with_phone:
            raise ValueError("the gbt39046 format always masks 评价人; leave out --with-phone")
        region = gbt39046.check_region(region)  # before a line is written
        return gbt39046.write_lines(out, gbt39046.national_rows(start, end, tz, region))
    return write_export(out, rating_rows(start, end, tz, with_phone), fmt)


def write_export(out: IO[str], rows: Iterator[dict], fmt: str) -> int:
    """Write ``rows`` to ``out`` as ``csv`` or ``jsonl``; returns how many."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            row["counted"] = "true" if row["counted"] else "false"
            writer.writerow(["" if v is None else v for v in row.values()])
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    else:
        raise ValueError(f"unknown format {fmt!r}; expected csv or jsonl")
    return count
