"""Accepting a rating: validation and the durable write path.

This is the hot path of the product. A request thread validates the body against
in-memory directories (windows, reason codes), hands the row to the process's single
writer thread and waits. The writer stores whatever has queued up in one transaction
and one fsync (group commit), so eight tablets tapping at once cost one disk flush,
not eight. A rating is answered 201 only after its transaction has committed.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import fields
from .db import utcnow
from .fields import InputError
from .scale import CHANNELS, SCORES

log = logging.getLogger(__name__)

MAX_REASONS = 16
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


INSERT = sa.text("""
INSERT INTO rating (client_id, window_id, staff_id, score, channel, reasons, comment,
                    phone, ticket, created_at, received_at, counted, flags)
VALUES (:client_id, :window_id,
        (SELECT staff_id FROM duty
          WHERE window_id = :window_id AND started_at <= :created_at
            AND (ended_at IS NULL OR ended_at > :created_at)
          ORDER BY started_at DESC LIMIT 1),
        :score, :channel, :reasons, :comment, :phone, :ticket, :created_at,
        :received_at, TRUE, '')
ON CONFLICT (client_id) DO NOTHING
RETURNING id
""")
EXISTING = sa.text("SELECT id FROM rating WHERE client_id = :client_id")


class RatingWriter:
    """One writer thread per process that stores queued ratings with group commit."""

    MAX_BATCH = 256

    def __init__(self, engine: sa.Engine, idle_exit: float = 60.0,
                 wait_timeout: float = 30.0) -> None:
        self.engine = engine
        self.idle_exit = idle_exit
        self.wait_timeout = wait_timeout
        self._pending: list[tuple[NewRating, Future]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def write(self, rating: NewRating) -> Stored:
        """Store ``rating`` durably (or find it stored before) and return its id."""
        fut: Future = Future()
        with self._cond:
            self._pending.append((rating, fut))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="rating-writer",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()
        return fut.result(timeout=self.wait_timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._cond.wait(self.idle_exit)
                    if not self._pending:
                        # Idle: let the thread go; the next write starts another.
                        self._thread = None
                        return
                batch = self._pending[:self.MAX_BATCH]
                del self._pending[:self.MAX_BATCH]
            self._store(batch)

    def _store(self, batch: list[tuple[NewRating, Future]]) -> None:
        try:
            results = self._insert([r for r, _ in batch])
        except Exception:
            if len(batch) == 1:
                log.exception("could not store rating %s", batch[0][0].client_id)
                batch[0][1].set_exception(RuntimeError("the rating could not be stored"))
                return
            # One bad row must not sink its neighbours: store them one by one.
            log.warning("batch of %d failed; retrying one by one", len(batch))
            for item in batch:
                self._store([item])
            return
        for (_, fut), stored in zip(batch, results):
            fut.set_result(stored)

    def _insert(self, ratings: list[NewRating]) -> list[Stored]:
        out = []
        with self.engine.begin() as conn:
            for r in ratings:
                params = {
                    "client_id": r.client_id, "window_id": r.window_id, "score": r.score,
                    "channel": r.channel, "reasons": r.reasons, "comment": r.comment,
                    "phone": r.phone, "ticket": r.ticket, "created_at": r.created_at,
                    "received_at": r.received_at,
                }
                new_id = conn.execute(INSERT, params).scalar()
                if new_id is not None:
                    out.append(Stored(new_id, r.client_id, True))
                else:
                    old = conn.execute(EXISTING, {"client_id": r.client_id}).scalar_one()
                    out.append(Stored(old, r.client_id, False))
        return out


class RatingIntake:
    """Validates rating bodies and stores them through the writer."""

    def __init__(self, engine: sa.Engine, tz: ZoneInfo, max_age: timedelta,
                 max_ahead: timedelta, writer_idle_exit: float = 60.0) -> None:
        self.tz = tz
        self.max_age = max_age
        self.max_ahead = max_ahead
        self.windows = Directory(lambda: _load_map(engine, "SELECT code, id FROM service_window"))
        self.reasons = Directory(lambda: _load_map(engine, "SELECT code, code FROM reason_code"))
        self.writer = RatingWriter(engine, idle_exit=writer_idle_exit)

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
        channel = payload.get("channel")
        if channel is None:
            raise InputError("channel is required")
        if channel not in CHANNELS:
            raise InputError("channel must be one of " + ", ".join(CHANNELS))
        reasons = self._reasons(payload.get("reasons"))
        comment = fields.text(payload, "comment", COMMENT_MAX)
        ticket = fields.text(payload, "ticket", TICKET_MAX)
        phone = fields.phone(payload)
        created_at = fields.tap_time(payload, now, self.tz, self.max_age, self.max_ahead)
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
            raise InputError("unknown reason code: " + ", ".join(unknown))
        return ";".join(codes)


def _load_map(engine: sa.Engine, sql: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(sql)).all())
