"""Bulk import of ratings (history from another system, or our own export).

All or nothing: every row is checked, rows are upserted by ``client_id`` in chunks
inside one transaction, and any bad line rolls the whole file back. Imported history
keeps its own ``created_at``; ``received_at`` says when it reached us.
"""
from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from typing import IO
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock, fields, privacy, summary
from .csvfiles import ImportFailed, rows
from .db import db, utcnow
from .exports import COLUMNS as EXPORT_COLUMNS
from .fields import storable
from .models import Duty, ReasonCode, Staff, Window
from .ratings import (COMMENT_MAX, FLAGS_MAX_LEN, REASONS_MAX_LEN, TICKET_MAX,
                      sqlite_timestamp)
from .scale import CHANNELS, SCORES

REQUIRED = {"window", "score", "created_at"}
OPTIONAL = set(EXPORT_COLUMNS) - REQUIRED
CHUNK = 5000
TRUE = {"true": True, "1": True, "yes": True, "": True, "false": False, "0": False,
        "no": False}

PARAMS = ("client_id", "window_id", "staff_id", "score", "channel", "reasons", "comment",
          "phone", "ticket", "created_at", "received_at", "counted", "flags")
COLUMNS = ", ".join(PARAMS)
# What an import file's column overwrites on a rating it updates. A column the file
# lacks leaves the stored value alone (an appeal ruling, a comment, the clerk); a
# masked phone never replaces a real one.
UPDATES = {
    "window": "window_id = excluded.window_id",
    "score": "score = excluded.score",
    "created_at": "created_at = excluded.created_at",
    "channel": "channel = excluded.channel",
    "reasons": "reasons = excluded.reasons",
    "comment": "comment = excluded.comment",
    "phone": "phone = COALESCE(excluded.phone, rating.phone)",
    "staff_no": "staff_id = excluded.staff_id",
    "ticket": "ticket = excluded.ticket",
    "counted": "counted = excluded.counted",
    "flags": "flags = excluded.flags",
}


@lru_cache(maxsize=32)
def upsert_sql(updated: frozenset[str], source: str) -> str:
    """INSERT … ON CONFLICT that updates the columns ``updated`` (import file columns).

    ``source`` is ``"values"`` (qmark parameters) or ``"copy"`` (the scratch table)."""
    rows = (f"VALUES ({', '.join('?' * len(PARAMS))})" if source == "values"
            else f"SELECT {COLUMNS} FROM rating_import")
    sets = ", ".join(clause for col, clause in UPDATES.items() if col in updated)
    return f"INSERT INTO rating ({COLUMNS}) {rows} ON CONFLICT (client_id) DO UPDATE SET {sets}"


@dataclass
class RatingImport:
    rows: int
    created: int
    updated: int


class DutyRoster:
    """Who was on duty at each window when: answers ``staff_at(window_id, moment)``
    by the rule of ``Window.duty_at``, for a million rows without a query each."""

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
        # The latest duty started by then that has not ended; a relief's shorter duty
        # may have ended inside a longer one that is still running.
        spans = self._spans[window_id]
        for i in range(bisect.bisect_right(starts, moment) - 1, -1, -1):
            _, ended, staff_id = spans[i]
            if ended is None or ended > moment:
                return staff_id
        return None


def store_rating_rows(conn: sa.Connection, rows: list[dict], tz: ZoneInfo,
                      updated: frozenset[str] = frozenset(UPDATES)) -> int:
    """Upsert rating rows (dicts keyed by PARAMS) inside ``conn``'s transaction; on a
    client_id stored before, overwrite the ``updated`` import columns. Keeps the live
    summary in step. Returns how many of the rows were stored before (updated).

    Goes to the driver directly: SQLAlchemy's per-row parameter processing would be a
    third of a million-row import. PostgreSQL gets the rows by COPY into a scratch
    table and upserts them in one statement.
    """
    if not rows:
        return 0
    cur = conn.connection.dbapi_connection.cursor()
    try:
        sqlite = conn.dialect.name == "sqlite"
        ids = [r["client_id"] for r in rows]
        before = _counted_state(cur, ids, sqlite)
        if sqlite:
            cur.executemany(upsert_sql(updated, "values"),
                            [_values(r, sqlite_timestamp) for r in rows])
        else:
            _copy_upsert(cur, rows, upsert_sql(updated, "copy"))
        delta = summary.Delta(tz)
        for state in before.values():
            if state:
                delta.add(*state, sign=-1)
        # A new row is stored exactly as given; an updated one is read back, since the
        # columns the file lacks kept their stored values.
        after = _counted_state(cur, list(before), sqlite) if before else {}
        for r in rows:
            if r["client_id"] not in before and r["counted"]:
                delta.add(r["created_at"], r["window_id"], r["staff_id"], r["score"])
        for state in after.values():
            if state:
                delta.add(*state)
        summary.apply(cur, delta, conn.dialect.paramstyle)
    finally:
        cur.close()
    return len(before)


def _counted_state(cur, client_ids: list[str], sqlite: bool) -> dict[str, tuple]:
    """client_id -> (created_at, window_id, staff_id, score) of each stored rating
    among ``client_ids``, or None for one that is not counted."""
    found: dict[str, tuple] = {}
    mark = "?" if sqlite else "%s"
    for i in range(0, len(client_ids), 900):  # SQLite allows 999 parameters
        part = client_ids[i:i + 900]
        cur.execute("SELECT client_id, counted, created_at, window_id, staff_id, score "
                    f"FROM rating WHERE client_id IN ({', '.join([mark] * len(part))})",
                    part)
        for cid, counted, created_at, window_id, staff_id, score in cur.fetchall():
            if isinstance(created_at, str):
                created_at = datetime.fromisoformat(created_at)
            found[cid] = (created_at, window_id, staff_id, score) if counted else None
    return found


def _values(row: dict, ts) -> tuple:
    return (row["client_id"], row["window_id"], row["staff_id"], row["score"],
            row["channel"], row["reasons"], row["comment"], row["phone"], row["ticket"],
            ts(row["created_at"]), ts(row["received_at"]), row["counted"], row["flags"])


def _copy_upsert(cur, rows: list[dict], sql: str) -> None:
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS rating_import ON COMMIT DROP AS "
                f"SELECT {COLUMNS} FROM rating WITH NO DATA")
    cur.execute("TRUNCATE rating_import")
    with cur.copy(f"COPY rating_import ({COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(_values(row, lambda moment: moment))
    cur.execute(sql)


def import_ratings(fh: IO[str], tz: ZoneInfo, default_channel: str = "kiosk",
                   progress: Callable[[], None] | None = None) -> RatingImport:
    """Import ratings from CSV with the export's columns. Flushes; the caller commits.

    ``progress`` is called after every chunk (to move a progress bar)."""
    session = db.session
    windows = dict(session.execute(sa.select(Window.code, Window.id)).all())
    staff = dict(session.execute(sa.select(Staff.staff_no, Staff.id)).all())
    reasons = set(session.scalars(sa.select(ReasonCode.code)))
    roster = DutyRoster(session.scalars(sa.select(Duty)))
    conn = session.connection()
    now = utcnow()
    result = RatingImport(rows=0, created=0, updated=0)
    header: set[str] = set()

    def store(chunk: list[dict]) -> None:
        old = store_rating_rows(conn, chunk, tz, frozenset(header))
        result.updated += old
        result.created += len(chunk) - old
        if progress:
            progress()

    errors: list[str] = []
    error_count = 0
    seen: set[str] = set()
    chunk: list[dict] = []
    for line, row in rows(fh, REQUIRED, OPTIONAL, header):
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
        result.rows += 1
        if not error_count:
            chunk.append(params)
            if len(chunk) >= CHUNK:
                store(chunk)
                chunk = []
    if error_count:
        raise ImportFailed(errors, error_count)
    if chunk:
        store(chunk)
    return result


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
        raise ValueError("unknown reason code " + ", ".join(map(ascii, unknown[:5])))
    if len(";".join(codes)) > REASONS_MAX_LEN:
        raise ValueError("too many reasons")
    comment = storable(row.get("comment") or "", "comment") or None
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
    ticket = storable((row.get("ticket") or "").strip(), "ticket") or None
    if ticket and len(ticket) > TICKET_MAX:
        raise ValueError(f"ticket is longer than {TICKET_MAX} characters")
    counted_text = (row.get("counted") or "").strip().lower()
    if counted_text not in TRUE:
        raise ValueError(f"counted {counted_text!r} must be true or false")
    flags = ";".join(c.strip() for c in (row.get("flags") or "").split(";") if c.strip())
    if len(storable(flags, "flags")) > FLAGS_MAX_LEN:
        raise ValueError(f"flags are longer than {FLAGS_MAX_LEN} characters")
    client_id = fields.client_id(
        {"client_id": (row.get("client_id") or "").strip() or f"import-{uuid.uuid4().hex}"},
        required=True)
    return {
        "client_id": client_id, "window_id": window_id, "staff_id": staff_id,
        "score": int(score_text), "channel": channel, "reasons": ";".join(codes),
        "comment": comment, "phone": phone, "ticket": ticket, "created_at": created_at,
        "received_at": now, "counted": TRUE[counted_text], "flags": flags,
    }
