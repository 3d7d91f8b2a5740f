"""Accepting a rating: validation and the durable write path.

This is the hot path of the product. A request thread validates the body against
in-memory directories (windows, reason codes), then stores it through the writer,
which commits whatever has queued up in one transaction and one fsync (group
commit), so eight tablets tapping at once cost one disk flush, not eight. A rating is
answered 201 only after its transaction has committed.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import fields, summary
from .db import utcnow
from .fields import InputError
from .models import Rating
from .scale import CHANNELS, SCORES

log = logging.getLogger(__name__)

MAX_REASONS = 16
REASONS_MAX_LEN = Rating.__table__.c.reasons.type.length
FLAGS_MAX_LEN = Rating.__table__.c.flags.type.length
COMMENT_MAX = 500
TICKET_MAX = 64


@dataclass(frozen=True, slots=True)
class NewRating:
    client_id: str
    window_id: int
    score: int
    channel: str
    reasons: str
    comment: str | None
    phone: str | None
    ticket: str | None
    created_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    client_id: str
    created: bool  # False: this client_id was stored before; nothing new was written


class Directory:
    """A small read-through cache of ``key -> value`` loaded from the database.

    Hits are served from memory; a miss reloads (at most once per ``min_reload``
    seconds), so a window or reason code added in the admin is seen at once.
    """

    def __init__(self, load: Callable[[], dict], min_reload: float = 1.0) -> None:
        self._load = load
        self._min_reload = min_reload
        self._data: dict = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        value = self._data.get(key)
        if value is None and time.monotonic() - self._loaded_at >= self._min_reload:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self._min_reload:
                    self._data = self._load()
                    self._loaded_at = time.monotonic()
            value = self._data.get(key)
        return value

    def clear(self) -> None:
        self._loaded_at = float("-inf")


RATING_COLUMNS = ("client_id, window_id, staff_id, score, channel, reasons, comment, "
                  "phone, ticket, created_at, received_at, counted, flags")
# One row of the multi-row INSERT; {i} numbers the row's parameters. The clerk is
# looked up as part of the insert (the rule of Window.duty_at), so two servers cannot
# disagree about the roster.
ROW_SQL = """(:c{i}, :w{i},
  (SELECT staff_id FROM duty WHERE window_id = :w{i} AND started_at <= :t{i}
     AND (ended_at IS NULL OR ended_at > :t{i}) ORDER BY started_at DESC LIMIT 1),
  :s{i}, :ch{i}, :r{i}, :m{i}, :p{i}, :k{i}, :t{i}, :rt{i}, TRUE, '')"""


def sqlite_timestamp(moment: datetime) -> str:
    """A naive UTC timestamp as SQLAlchemy's SQLite DateTime stores it, so rows written
    through the driver compare equal to rows written through the ORM."""
    return moment.isoformat(" ", "microseconds")


class DriverSQL:
    """The writer's statements, per batch size, in the driver's own parameter style.

    The writer talks to the driver directly and stores a whole batch in one INSERT:
    SQLAlchemy's per-statement work, or a statement per row, would cost more than the
    rest of the request.
    """

    def __init__(self, dialect: str) -> None:
        self.pyformat = dialect != "sqlite"  # psycopg: %(name)s
        self.timestamp = (lambda m: m) if self.pyformat else sqlite_timestamp
        self._insert: dict[int, str] = {}
        self._existing: dict[int, str] = {}

    def _style(self, sql: str) -> str:
        return re.sub(r":(\w+)", r"%(\1)s", sql) if self.pyformat else sql

    def insert(self, n: int) -> str:
        """INSERT of ``n`` rows that returns (client_id, id, staff_id) of the rows it
        stored."""
        sql = self._insert.get(n)
        if sql is None:
            rows = ",\n".join(ROW_SQL.format(i=i) for i in range(n))
            sql = self._insert[n] = self._style(
                f"INSERT INTO rating ({RATING_COLUMNS}) VALUES {rows}\n"
                "ON CONFLICT (client_id) DO NOTHING RETURNING client_id, id, staff_id")
        return sql

    def existing(self, n: int) -> str:
        """SELECT (client_id, id) of ``n`` client ids."""
        sql = self._existing.get(n)
        if sql is None:
            marks = ", ".join(f":c{i}" for i in range(n))
            sql = self._existing[n] = self._style(
                f"SELECT client_id, id FROM rating WHERE client_id IN ({marks})")
        return sql

    def insert_params(self, ratings: list[NewRating]) -> dict:
        ts = self.timestamp
        params: dict = {}
        for i, r in enumerate(ratings):
            params.update({
                f"c{i}": r.client_id, f"w{i}": r.window_id, f"s{i}": r.score,
                f"ch{i}": r.channel, f"r{i}": r.reasons, f"m{i}": r.comment,
                f"p{i}": r.phone, f"k{i}": r.ticket, f"t{i}": ts(r.created_at),
                f"rt{i}": ts(r.received_at),
            })
        return params


class _Slot:
    __slots__ = ("rating", "stored", "error")

    def __init__(self, rating: NewRating) -> None:
        self.rating = rating
        self.stored: Stored | None = None
        self.error: Exception | None = None


class RatingWriter:
    """Stores ratings with group commit, led by the request threads themselves.

    A request adds its rating to the pending list and takes the commit lock. Whoever
    holds the lock stores everything pending in one transaction; a request whose
    rating a previous holder already stored just returns. No extra thread, no
    hand-off: under load each commit carries the ratings that arrived during the last.
    """

    MAX_BATCH = 500  # 10 parameters a row; SQLite allows 32766 a statement

    def __init__(self, engine: sa.Engine, tz: ZoneInfo) -> None:
        self.engine = engine
        self.tz = tz
        self.sql = DriverSQL(engine.dialect.name)
        self.paramstyle = engine.dialect.paramstyle
        self.operational_errors = engine.dialect.loaded_dbapi.OperationalError
        self._pending: list[_Slot] = []
        self._pending_lock = threading.Lock()
        self._commit_lock = threading.Lock()

    def write(self, rating: NewRating) -> Stored:
        """Store ``rating`` durably (or find it stored before) and return its id."""
        slot = _Slot(rating)
        with self._pending_lock:
            self._pending.append(slot)
        with self._commit_lock:
            # Loop: with more than MAX_BATCH waiting, ours may be in a later batch.
            while slot.stored is None and slot.error is None:
                with self._pending_lock:
                    batch = self._pending[:self.MAX_BATCH]
                    del self._pending[:self.MAX_BATCH]
                self._store(batch)
        if slot.error is not None:
            raise slot.error
        assert slot.stored is not None
        return slot.stored

    def _store(self, batch: list[_Slot]) -> None:
        try:
            results = self._insert([slot.rating for slot in batch])
        except Exception as exc:
            if len(batch) == 1 or isinstance(exc, self.operational_errors):
                # A lock timeout or a lost connection would only repeat for each row.
                log.exception("could not store %d rating(s)", len(batch))
                for slot in batch:
                    slot.error = RuntimeError(f"the rating could not be stored ({exc})")
                return
            # One bad row must not sink its neighbours: store them one by one.
            log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
            for slot in batch:
                self._store([slot])
            return
        for slot, stored in zip(batch, results):
            slot.stored = stored

    def _insert(self, ratings: list[NewRating]) -> list[Stored]:
        # The first of several ratings with one client_id is the one inserted.
        first = list({r.client_id: r for r in reversed(ratings)}.values())
        sql = self.sql
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(sql.insert(len(first)), sql.insert_params(first))
            inserted = cur.fetchall()
            new = {cid: rid for cid, rid, _ in inserted}
            if inserted:
                # The live summary changes in the same transaction as the ratings.
                staff = {cid: sid for cid, _, sid in inserted}
                delta = summary.Delta(self.tz)
                for r in first:
                    if r.client_id in staff:
                        delta.add(r.created_at, r.window_id, staff[r.client_id], r.score)
                summary.apply(cur, delta, self.paramstyle)
            old_ids = [r.client_id for r in first if r.client_id not in new]
            old = {}
            if old_ids:
                cur.execute(sql.existing(len(old_ids)),
                            {f"c{i}": cid for i, cid in enumerate(old_ids)})
                old = dict(cur.fetchall())
            cur.close()
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()  # back to the pool
        ids = old | new
        out = []
        for r in ratings:
            out.append(Stored(ids[r.client_id], r.client_id, r.client_id in new))
            new.pop(r.client_id, None)  # a repeat within the batch is not new
        return out


class RatingIntake:
    """Validates rating bodies and stores them through the writer."""

    def __init__(self, engine: sa.Engine, bounds: fields.TapBounds) -> None:
        self.bounds = bounds
        self.windows = Directory(lambda: _load_map(engine, "SELECT code, id FROM service_window"))
        self.reasons = Directory(lambda: _load_map(engine, "SELECT code, code FROM reason_code"))
        self.writer = RatingWriter(engine, bounds.tz)

    def accept(self, body: Any, now: datetime | None = None) -> Stored:
        """Validate ``body`` (a parsed JSON value) and store it; InputError if invalid."""
        return self.writer.write(self.validate(body, now or utcnow()))

    def validate(self, body: Any, now: datetime) -> NewRating:
        payload = fields.as_object(body)
        cid = fields.client_id(payload, required=True)
        score = payload.get("score")
        if score is None:
            raise InputError("score is required")
        if type(score) is not int or score not in SCORES:
            raise InputError("score must be an integer from 1 to 5")
        channel = fields.choice(payload, "channel", CHANNELS, required=True)
        reasons = self._reasons(payload.get("reasons"))
        comment = fields.text(payload, "comment", COMMENT_MAX)
        ticket = fields.text(payload, "ticket", TICKET_MAX)
        phone = fields.phone(payload)
        created_at = fields.tap_time(payload, now, self.bounds)
        window_id = self.window_id(payload.get("window"))
        return NewRating(cid, window_id, score, channel, reasons, comment, phone, ticket,
                         created_at, now)

    def window_id(self, code: Any) -> int:
        """The id of the window with ``code``; InputError 400/404 otherwise."""
        if code is None or code == "":
            raise InputError("window is required")
        if not isinstance(code, str):
            raise InputError("window must be a window code (a string)")
        window_id = self.windows.get(code)
        if window_id is None:
            raise InputError(f"unknown window {code!r}", status=404)
        return window_id

    def _reasons(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise InputError("reasons must be a list of reason codes")
        if len(value) > MAX_REASONS:
            raise InputError(f"reasons may hold at most {MAX_REASONS} codes")
        codes = list(dict.fromkeys(value))  # drop repeats, keep the citizen's order
        unknown = [c for c in codes if self.reasons.get(c) is None]
        if unknown:
            raise InputError("unknown reason code: " + ", ".join(map(ascii, unknown[:5])))
        joined = ";".join(codes)
        if len(joined) > REASONS_MAX_LEN:
            raise InputError("too many reasons")
        return joined


def _load_map(engine: sa.Engine, sql: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(sql)).all())
