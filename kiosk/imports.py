"""Bulk import of ratings (history from another system, or our own export).

All or nothing: every row is checked, rows are upserted by ``client_id`` in chunks
inside one transaction, and any bad line rolls the whole file back. Imported history
keeps its own ``created_at``; ``received_at`` says when it reached us.
"""
from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock, privacy
from .csvfiles import ImportFailed, rows
from .db import db, utcnow
from .exports import COLUMNS as EXPORT_COLUMNS
from .fields import CLIENT_ID
from .models import Duty, Rating, ReasonCode, Staff, Window
from .ratings import COMMENT_MAX, TICKET_MAX, sqlite_timestamp
from .scale import CHANNELS, SCORES

REQUIRED = {"window", "score", "created_at"}
OPTIONAL = set(EXPORT_COLUMNS) - REQUIRED
CHUNK = 5000
TRUE = {"true": True, "1": True, "yes": True, "": True, "false": False, "0": False,
        "no": False}

PARAMS = ("client_id", "window_id", "staff_id", "score", "channel", "reasons", "comment",
          "phone", "ticket", "created_at", "received_at", "counted", "flags")
COLUMNS = ", ".join(PARAMS)
ON_CONFLICT = """
ON CONFLICT (client_id) DO UPDATE SET
    window_id = excluded.window_id, staff_id = excluded.staff_id,
    score = excluded.score, channel = excluded.channel, reasons = excluded.reasons,
    comment = excluded.comment, phone = COALESCE(excluded.phone, rating.phone),
    ticket = excluded.ticket, created_at = excluded.created_at,
    counted = excluded.counted, flags = excluded.flags
"""
UPSERT = (f"INSERT INTO rating ({COLUMNS}) VALUES ({', '.join('?' * len(PARAMS))})"
          + ON_CONFLICT)
UPSERT_FROM_COPY = f"INSERT INTO rating ({COLUMNS}) SELECT {COLUMNS} FROM rating_import" \
    + ON_CONFLICT


@dataclass
class RatingImport:
    rows: int
    created: int
    updated: int


class DutyRoster:
    """Who was on duty at each window when: answers ``staff_at(window_id, moment)``."""

    def __init__(self, duties: Iterable[Duty]) -> None:
        spans: dict[int, list[tuple[datetime, datetime | None, int]]] = defaultdict(list)
        for d in duties:
            spans[d.window_id].append((d.started_at, d.ended_at, d.staff_id))
        self._spans = {w: sorted(s, key=lambda x: x[0]) for w, s in spans.items()}
        self._starts = {w: [s[0] for s in v] for w, v in self._spans.items()}

    def staff_at(self, window_id: int, moment: datetime) -> int | None:
        starts = self._starts.get(window_id)
        if not starts:
            return None
        i = bisect.bisect_right(starts, moment) - 1
        if i < 0:
            return None
        _, ended, staff_id = self._spans[window_id][i]
        return staff_id if ended is None or ended > moment else None


def store_rating_rows(conn: sa.Connection, rows: list[dict]) -> None:
    """Upsert rating rows (dicts keyed by PARAMS) inside ``conn``'s transaction.

    Goes to the driver directly: SQLAlchemy's per-row parameter processing would be a
    third of a million-row import. PostgreSQL gets the rows by COPY into a scratch
    table and upserts them in one statement.
    """
    if not rows:
        return
    cur = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "sqlite":
            cur.executemany(UPSERT, [_values(r, sqlite_timestamp) for r in rows])
        else:
            _copy_upsert(cur, rows)
    finally:
        cur.close()


def _values(row: dict, ts) -> tuple:
    return (row["client_id"], row["window_id"], row["staff_id"], row["score"],
            row["channel"], row["reasons"], row["comment"], row["phone"], row["ticket"],
            ts(row["created_at"]), ts(row["received_at"]), row["counted"], row["flags"])


def _copy_upsert(cur, rows: list[dict]) -> None:
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS rating_import ON COMMIT DROP AS "
                f"SELECT {COLUMNS} FROM rating WITH NO DATA")
    cur.execute("TRUNCATE rating_import")
    with cur.copy(f"COPY rating_import ({COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(_values(row, lambda moment: moment))
    cur.execute(UPSERT_FROM_COPY)


def import_ratings(fh: IO[str], tz: ZoneInfo, default_channel: str = "kiosk") -> RatingImport:
    """Import ratings from CSV with the export's columns. Flushes; the caller commits."""
    session = db.session
    windows = dict(session.execute(sa.select(Window.code, Window.id)).all())
    staff = dict(session.execute(sa.select(Staff.staff_no, Staff.id)).all())
    reasons = set(session.scalars(sa.select(ReasonCode.code)))
    roster = DutyRoster(session.scalars(sa.select(Duty)))
    conn = session.connection()
    before = conn.scalar(sa.select(sa.func.count()).select_from(Rating))
    now = utcnow()

    errors: list[str] = []
    error_count = 0
    seen: set[str] = set()
    chunk: list[dict] = []
    total = 0
    for line, row in rows(fh, REQUIRED, OPTIONAL):
        try:
            params = _row_params(row, windows, staff, reasons, roster, tz,
                                 default_channel, now)
            if params["client_id"] in seen:
                raise ValueError(f"client_id {params['client_id']} appears twice in the file")
        except ValueError as exc:
            error_count += 1
            if len(errors) < 50:
                errors.append(f"line {line}: {exc}")
            continue
        seen.add(params["client_id"])
        total += 1
        if not error_count:
            chunk.append(params)
            if len(chunk) >= CHUNK:
                store_rating_rows(conn, chunk)
                chunk = []
    if error_count:
        raise ImportFailed(errors, error_count)
    store_rating_rows(conn, chunk)
    after = conn.scalar(sa.select(sa.func.count()).select_from(Rating))
    return RatingImport(rows=total, created=after - before, updated=total - (after - before))


def _row_params(row: dict, windows: dict, staff: dict, reasons: set, roster: DutyRoster,
                tz: ZoneInfo, default_channel: str, now: datetime) -> dict:
    if "__width__" in row:
        raise ValueError(row["__width__"])
    code = row["window"].strip()
    window_id = windows.get(code)
    if window_id is None:
        raise ValueError(f"unknown window {code!r}")
    score_text = row["score"].strip()
    if not score_text.isdigit() or int(score_text) not in SCORES:
        raise ValueError(f"score {score_text!r} must be a whole number from 1 to 5")
    created_at = clock.parse_timestamp(row["created_at"], tz)
    channel = (row.get("channel") or "").strip() or default_channel
    if channel not in CHANNELS:
        raise ValueError(f"channel {channel!r} must be one of {', '.join(CHANNELS)}")
    codes = [c.strip() for c in (row.get("reasons") or "").split(";") if c.strip()]
    unknown = [c for c in codes if c not in reasons]
    if unknown:
        raise ValueError("unknown reason code " + ", ".join(unknown))
    comment = row.get("comment") or None
    if comment and len(comment) > COMMENT_MAX:
        raise ValueError(f"comment is longer than {COMMENT_MAX} characters")
    phone = (row.get("phone") or "").strip() or None
    if phone is not None:
        # A masked number (from an export without --with-phone) carries nothing to keep.
        phone = None if privacy.is_masked(phone) else privacy.normalize_phone(phone)
    staff_no = (row.get("staff_no") or "").strip()
    if staff_no:
        staff_id = staff.get(staff_no)
        if staff_id is None:
            raise ValueError(f"unknown staff_no {staff_no!r}")
    else:
        staff_id = roster.staff_at(window_id, created_at)
    ticket = (row.get("ticket") or "").strip() or None
    if ticket and len(ticket) > TICKET_MAX:
        raise ValueError(f"ticket is longer than {TICKET_MAX} characters")
    counted_text = (row.get("counted") or "").strip().lower()
    if counted_text not in TRUE:
        raise ValueError(f"counted {counted_text!r} must be true or false")
    flags = ";".join(c.strip() for c in (row.get("flags") or "").split(";") if c.strip())
    client_id = (row.get("client_id") or "").strip() or f"import-{uuid.uuid4().hex}"
    if not CLIENT_ID.fullmatch(client_id):
        raise ValueError("client_id must be 8–64 printable ASCII characters without spaces")
    return {
        "client_id": client_id, "window_id": window_id, "staff_id": staff_id,
        "score": int(score_text), "channel": channel, "reasons": ";".join(codes),
        "comment": comment, "phone": phone, "ticket": ticket, "created_at": created_at,
        "received_at": now, "counted": TRUE[counted_text], "flags": flags,
    }
