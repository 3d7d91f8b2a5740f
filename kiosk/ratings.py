"""Accepting a rating: validation and the durable write path.

This is the hot path of the product. A request thread validates the body against
in-memory directories (windows, reason codes), then stores it through the writer,
which commits whatever has queued up in one transaction and one fsync (group
commit), so eight tablets tapping at once cost one disk flush, not eight. A rating is
answered 201 only after its transaction has committed.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import caseopen, fields, summary
from .db import utcnow
from .fields import InputError
from .models import Rating
from .scale import CHANNELS, SCORES, UNPROMPTED, counts, with_flag

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
    phone: str | None  # sealed (kiosk/phonekeys.py): never plain past validation
    ticket: str | None
    created_at: datetime
    received_at: datetime
    device_id: int | None = None  # the paired tablet of a kiosk rating
    evaluation_id: int | None = None  # the service event it answers (一次一评)
    rater: str | None = None  # a QR rating's phone: its cookie's hash (integrity.py)
    counted: bool = True
    flags: str = ""  # codes joined by ';' (scale.FLAGS)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a rating, from the request's cookies: the paired tablet's device
    secret (kiosk channel) and the QR page's first-party rater cookie. Never the IP
    address: a hall's citizens share one."""

    device: str | None = None
    rater: str | None = None


NOBODY = Caller()
DEVICE_COOKIE = "kiosk_device"  # HttpOnly, set by pairing (kiosk/devices.py)
RATER_COOKIE = "kiosk_rater"  # HttpOnly, set by the QR page (kiosk/integrity.py)


class RatedEvent(InputError):
    """The service event already has its rating (one event takes one rating)."""

    def __init__(self) -> None:
        super().__init__("this service event has already been rated", status=409)


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
                  "phone, ticket, created_at, received_at, counted, flags, device_id, "
                  "evaluation_id, rater")
# One row of the multi-row INSERT; {i} numbers the row's parameters. The clerk is
# looked up as part of the insert (the rule of Window.duty_at), so two servers cannot
# disagree about the roster.
ROW_SQL = """(:c{i}, :w{i},
  (SELECT staff_id FROM duty WHERE window_id = :w{i} AND started_at <= :t{i}
     AND (ended_at IS NULL OR ended_at > :t{i}) ORDER BY started_at DESC LIMIT 1),
  :s{i}, :ch{i}, :r{i}, :m{i}, :p{i}, :k{i}, :t{i}, :rt{i}, :n{i}, :f{i}, :dv{i}, :e{i},
  :rr{i})"""


def sqlite_timestamp(moment: datetime) -> str:
    """A naive UTC timestamp as SQLAlchemy's SQLite DateTime stores it, so rows written
    through the driver compare equal to rows written through the ORM."""
    return moment.isoformat(" ", "microseconds")


# PostgreSQL stores a batch in one statement: the ratings, the live summary and the
# follow-up cases, through data-modifying CTEs, then the ratings stored before (a
# repeated client_id: looked up only for those, by index). The batch comes as one JSON
# parameter, an array of one object per rating (STORE_FIELDS), so the text is the
# same for every batch size and is prepared once per connection. (It came as one
# array parameter per column before. psycopg dumps a list in Python, and 22 of them
# cost the writer more than the rest of its work on a small batch; PostgreSQL also
# spent more per batch, and more as the table grew. With the screen's read changed
# the same way, bench/ingest.py --pg stored 0.77-0.84x the bare endpoint's rate
# instead of 0.47-0.59x, in one hour on one machine.) The periods (pd..py, in GRAINS' order) and each case's kind and deadlines (ck, cd, rd)
# are worked out before, in Python.
STORE_FIELDS = (("c", "varchar"), ("w", "int"), ("s", "smallint"), ("ch", "varchar"),
                ("r", "varchar"), ("m", "text"), ("p", "varchar"), ("k", "varchar"),
                ("t", "timestamp"), ("rt", "timestamp"), ("n", "boolean"),
                ("f", "varchar"), ("dv", "int"), ("e", "int"), ("rr", "varchar"),
                ("pd", "date"), ("pw", "date"), ("pm", "date"), ("py", "date"),
                ("ck", "varchar"), ("cd", "date"), ("rd", "date"))
STORE_COLUMNS = tuple(name for name, _ in STORE_FIELDS)
STORE_SQL = """WITH new AS (
  SELECT * FROM json_to_recordset(:b::json) AS new ({fields})),
ins AS (
  INSERT INTO rating ({columns})
  SELECT c, w,
    (SELECT staff_id FROM duty WHERE window_id = new.w AND started_at <= new.t
       AND (ended_at IS NULL OR ended_at > new.t) ORDER BY started_at DESC LIMIT 1),
    s, ch, r, m, p, k, t, rt, n, f, dv, e, rr
  FROM new ORDER BY c
  ON CONFLICT DO NOTHING RETURNING client_id, id, staff_id),
summ AS (
  INSERT INTO rating_summary (grain, period, window_id, staff_id, score, n)
  SELECT g.grain, g.period, new.w, coalesce(ins.staff_id, {no_staff}), new.s, count(*)
  FROM ins JOIN new ON new.c = ins.client_id,
    LATERAL (VALUES ('d', new.pd), ('w', new.pw), ('m', new.pm), ('y', new.py))
      AS g (grain, period)
  WHERE new.n
  GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (grain, period, window_id, staff_id, score)
  DO UPDATE SET n = rating_summary.n + excluded.n),
cases AS (
  INSERT INTO followup_case ({case_columns})
  SELECT ins.id, new.w, new.t, new.ck, 'open', new.cd, new.rd, new.rt, 1
  FROM ins JOIN new ON new.c = ins.client_id
  WHERE new.n AND new.ck IS NOT NULL ORDER BY ins.id)
SELECT client_id, id, TRUE FROM ins
UNION ALL
SELECT old.client_id, old.id, FALSE
FROM (SELECT c FROM new EXCEPT SELECT client_id FROM ins) AS taken,
  LATERAL (SELECT client_id, id FROM rating WHERE client_id = taken.c) AS old"""


class DriverSQL:
    """The writer's statements, per batch size, in the driver's own parameter style.

    The writer talks to the driver directly and stores a whole batch in one INSERT:
    SQLAlchemy's per-statement work, or a statement per row, would cost more than the
    rest of the request.
    """

    CACHED = 64  # statements for up to this many rows are built once and kept

    def __init__(self, dialect: str) -> None:
        self.pyformat = dialect != "sqlite"  # psycopg: %(name)s
        self.timestamp = (lambda m: m) if self.pyformat else sqlite_timestamp
        self.day = (lambda d: d) if self.pyformat else date.isoformat
        self._cache: dict[tuple[str, int], str] = {}

    def style(self, sql: str) -> str:
        """``sql`` written with ``:name`` parameters, in the driver's own style."""
        # (":name" is a parameter; "::type" a PostgreSQL cast.)
        return re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql) if self.pyformat else sql

    def _cached(self, kind: str, n: int, build: Callable[[int], str]) -> str:
        sql = self._cache.get((kind, n))
        if sql is None:
            sql = self.style(build(n))
            if n <= self.CACHED:
                self._cache[(kind, n)] = sql
        return sql

    def insert(self, n: int) -> str:
        """INSERT of ``n`` rows that returns (client_id, id, staff_id) of the rows it
        stored. A row whose client_id, or whose service event, is taken is skipped."""
        return self._cached("insert", n, lambda n: (
            f"INSERT INTO rating ({RATING_COLUMNS}) VALUES "
            + ",\n".join(ROW_SQL.format(i=i) for i in range(n))
            + "\nON CONFLICT DO NOTHING RETURNING client_id, id, staff_id"))

    def store(self) -> str:
        """PostgreSQL: STORE_SQL; it returns (client_id, id, new) of each rating of
        the batch, stored now (new) or before."""
        return self._cached("store", 0, lambda _: STORE_SQL.format(
            fields=", ".join(f"{name} {kind}" for name, kind in STORE_FIELDS),
            columns=RATING_COLUMNS, case_columns=", ".join(caseopen.CASE_COLUMNS),
            no_staff=summary.NO_STAFF))

    @staticmethod
    def store_params(ratings: list[NewRating], periods: summary.Periods,
                     cases: caseopen.CaseOpener) -> dict:
        """STORE_SQL's parameter: the batch in JSON, an object per rating."""
        rows = []
        for r in ratings:
            planned = cases.plan(r.score, r.phone is not None, r.client_id, None,
                                 r.created_at)
            kind, contact_due, resolve_due = planned or (None, None, None)
            rows.append(dict(zip(STORE_COLUMNS, (
                r.client_id, r.window_id, r.score, r.channel, r.reasons, r.comment,
                r.phone, r.ticket, r.created_at.isoformat(), r.received_at.isoformat(),
                r.counted, r.flags, r.device_id, r.evaluation_id, r.rater,
                *(day.isoformat() for day in periods.of(r.created_at)), kind,
                contact_due and contact_due.isoformat(),
                resolve_due and resolve_due.isoformat()))))
        return {"b": json.dumps(rows, ensure_ascii=False)}

    def existing(self, n: int) -> str:
        """SELECT (client_id, id) of ``n`` client ids."""
        return self._cached("existing", n, lambda n: (
            "SELECT client_id, id FROM rating WHERE client_id IN ("
            + ", ".join(f":c{i}" for i in range(n)) + ")"))

    def summary(self, n: int) -> str:
        """summary.UPSERT of ``n`` rows in one statement (one step for the driver, where
        ``executemany`` takes one per row, each giving up and taking back the GIL)."""
        return self._cached("summary", n, lambda n: summary.UPSERT.format(marks="), (".join(
            f":g{i}, :d{i}, :w{i}, :s{i}, :l{i}, :n{i}" for i in range(n))))

    def cases(self, n: int) -> str:
        """INSERT of ``n`` follow-up cases (caseopen.CASE_COLUMNS)."""
        return self._cached("cases", n, caseopen.insert_sql)

    def case_params(self, rows: list[dict]) -> dict:
        ts, day = self.timestamp, self.day
        params: dict = {}
        for i, row in enumerate(rows):
            for column, value in row.items():
                if column in ("rated_at", "opened_at"):
                    value = ts(value)
                elif column in ("contact_due", "resolve_due"):
                    value = day(value)
                params[f"{column}{i}"] = value
        return params

    def summary_params(self, delta: summary.Delta) -> tuple[int, dict]:
        """How many rows ``delta`` changes, and their parameters for ``summary``."""
        day = self.day
        params: dict = {}
        rows = delta.rows()  # in key order: concurrent writers lock rows in one order
        for i, (grain, period, window_id, staff_id, score, n) in enumerate(rows):
            params.update({f"g{i}": grain, f"d{i}": day(period), f"w{i}": window_id,
                           f"s{i}": staff_id, f"l{i}": score, f"n{i}": n})
        return len(rows), params

    def insert_params(self, ratings: list[NewRating]) -> dict:
        ts = self.timestamp
        params: dict = {}
        for i, r in enumerate(ratings):
            params.update({
                f"c{i}": r.client_id, f"w{i}": r.window_id, f"s{i}": r.score,
                f"ch{i}": r.channel, f"r{i}": r.reasons, f"m{i}": r.comment,
                f"p{i}": r.phone, f"k{i}": r.ticket, f"t{i}": ts(r.created_at),
                f"rt{i}": ts(r.received_at), f"n{i}": r.counted, f"f{i}": r.flags,
                f"dv{i}": r.device_id, f"e{i}": r.evaluation_id, f"rr{i}": r.rater,
            })
        return params


# The writer's screening step (kiosk/integrity.py): given the writer's DB-API cursor,
# its statements and a batch, the batch with ``counted`` and ``flags`` decided.
Screen = Callable[[Any, DriverSQL, list[NewRating]], list[NewRating]]


class DeviceCheck(Protocol):
    def paired(self, secret: str | None, window_id: int) -> int:
        """The id of the device with this cookie secret, paired with the window and
        not revoked; InputError 403 otherwise (kiosk/devices.py)."""


class EventCheck(Protocol):
    def bind(self, value: Any, window_id: int, tapped_at: datetime) -> tuple[int, str | None]:
        """The id of the service event ``value`` names, open at ``window_id`` when the
        citizen tapped, and the ticket the rating carries from it; InputError
        otherwise (kiosk/evaluations.py)."""


class _Slot:
    __slots__ = ("rating", "stored", "error", "done")

    def __init__(self, rating: NewRating) -> None:
        self.rating = rating
        self.stored: Stored | None = None
        self.error: Exception | None = None
        self.done = threading.Lock()  # held until the writer has stored the rating
        self.done.acquire()


class RatingWriter:
    """Stores ratings with group commit, through one writer thread.

    A request adds its rating to the pending list and sleeps on its own slot. The
    writer thread stores everything pending in one transaction (one INSERT, the
    summary upkeep, one commit and fsync), wakes exactly the requests of that batch,
    and starts on whatever queued up meanwhile at once. Under load each commit carries
    the ratings that arrived during the last, and nothing waits between two commits.

    (The request threads used to take turns leading on one commit lock. After each
    commit the answered requests then passed that lock on one by one, each a thread
    wake-up and a GIL hand-off: under wrk the database sat idle 1.1 ms between two
    commits of 2 ms; with this thread, 0.1 ms. See bench/ingest.py.)

    The thread keeps its connection while ratings keep coming, and gives it back to
    the pool as soon as none is waiting; it starts with the first rating and ends
    after IDLE_SECONDS without one.
    """

    MAX_BATCH = 500  # 10 parameters a row; SQLite allows 32766 a statement
    IDLE_SECONDS = 5.0

    def __init__(self, engine: sa.Engine, tz: ZoneInfo, cases: caseopen.CaseOpener,
                 screen: Screen | None = None) -> None:
        self.engine = engine
        self.tz = tz
        self.cases = cases
        self.screen = screen
        self.sql = DriverSQL(engine.dialect.name)
        # PostgreSQL: one statement and one round trip a batch (_store_pg).
        self.one_statement = engine.dialect.name == "postgresql"
        self.periods = summary.Periods(tz)
        self.operational_errors = engine.dialect.loaded_dbapi.OperationalError
        self._forget_thread()
        _WRITERS.add(self)

    def _forget_thread(self) -> None:
        self._pending: list[_Slot] = []
        self._wake = threading.Condition(threading.Lock())
        self._running = False  # a writer thread is alive (guarded by _wake)
        self._conn: Any = None  # the writer thread's DB-API connection, from the pool

    def write(self, rating: NewRating) -> Stored:
        """Store ``rating`` durably (or find it stored before) and return its id."""
        slot = _Slot(rating)
        with self._wake:
            self._pending.append(slot)
            if self._running:
                self._wake.notify()
            else:
                self._running = True
                threading.Thread(target=self._run, name="rating-writer",
                                 daemon=True).start()
        slot.done.acquire()  # released once the batch holding our rating committed
        if slot.error is not None:
            raise slot.error
        assert slot.stored is not None
        return slot.stored

    def store_batch(self, ratings: list[NewRating]) -> list[Stored | Exception]:
        """Store ``ratings`` in one transaction, as the writer thread stores a batch,
        for a caller that gathers batches itself (kiosk/writerproc.py). Keeps the
        connection for the next batch: ``close_connection`` gives it back."""
        slots = [_Slot(rating) for rating in ratings]
        self._store(slots)
        return [slot.error if slot.error is not None else slot.stored for slot in slots]

    def close_connection(self) -> None:
        """Give the kept connection back to the pool (after ``store_batch``)."""
        self._close()

    def _run(self) -> None:
        batch: list[_Slot] = []
        try:
            while True:
                with self._wake:
                    while not self._pending:
                        if not self._wake.wait(self.IDLE_SECONDS) and not self._pending:
                            self._close()  # (given back after the last batch already)
                            self._running = False
                            return
                    batch = self._pending[:self.MAX_BATCH]
                    del self._pending[:self.MAX_BATCH]
                self._store(batch)
                if not self._pending:
                    self._close()  # none waiting: the connection goes back to the pool
                done, batch = batch, []
                for slot in done:
                    slot.done.release()
        except BaseException as exc:  # a bug, not a database error: fail, never hang
            log.exception("the rating writer stopped")
            try:
                self._close(invalidate=True)
            finally:
                # Only now may another writer start (and take a connection).
                with self._wake:
                    self._running = False
                    batch += self._pending
                    self._pending.clear()
                for slot in batch:
                    if slot.stored is None:
                        slot.error = RuntimeError(
                            f"the rating could not be stored ({exc!r})")
                    slot.done.release()

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self.engine.raw_connection()
        return self._conn

    def _close(self, invalidate: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if invalidate:
                conn.invalidate()
            else:
                conn.close()  # back to the pool

    def _store(self, batch: list[_Slot]) -> None:
        try:
            results = self._insert_retrying([slot.rating for slot in batch])
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
            if isinstance(stored, InputError):
                slot.error = stored
            else:
                slot.stored = stored

    def _insert_retrying(self, ratings: list[NewRating]) -> list[Stored | InputError]:
        """``_insert``, once more on a new connection if the kept one was lost (a
        database restart): what the pool's pre-ping did when each batch checked one out."""
        kept = self._conn.dbapi_connection if self._conn is not None else None
        try:
            return self._insert(ratings)
        except self.operational_errors as exc:
            if _transient(exc):
                # A deadlock or serialization failure rolled the batch back whole: the
                # next try meets the other transaction's rows committed.
                log.warning("the batch met a concurrent transaction (%s); once more", exc)
                return self._insert(ratings)
            if kept is None or not self.engine.dialect.is_disconnect(exc, kept, None):
                raise
            log.warning("the writer's connection was lost (%s); reconnecting", exc)
            return self._insert(ratings)

    def _insert(self, ratings: list[NewRating]) -> list[Stored | InputError]:
        # The first of several ratings with one client_id is the one inserted, and rows
        # go in client_id order: two servers storing the same ratings at once (a tablet
        # retrying through another server) then take their index locks in one order
        # and wait for each other instead of deadlocking.
        first = sorted({r.client_id: r for r in reversed(ratings)}.values(),
                       key=lambda r: r.client_id)
        if self.one_statement:
            return self._store_pg(first, ratings)
        sql = self.sql
        conn = self._connection()  # kept while the writer is busy: no pool round trip
        try:
            cur = conn.cursor()
            if self.screen is not None:
                # Misuse and suspicion are judged against the ratings already stored,
                # inside this transaction (kiosk/integrity.py).
                first = self.screen(cur, sql, first)
            cur.execute(sql.insert(len(first)), sql.insert_params(first))
            inserted = cur.fetchall()
            new = {cid: rid for cid, rid, _ in inserted}
            if inserted:
                # The live summary changes in the same transaction as the ratings.
                staff = {cid: sid for cid, _, sid in inserted}
                delta = summary.Delta(self.tz)
                for r in first:
                    if r.counted and r.client_id in staff:
                        delta.add(r.created_at, r.window_id, staff[r.client_id], r.score)
                n, params = sql.summary_params(delta)
                if n:
                    cur.execute(sql.summary(n), params)
                # So do the follow-up cases the new ratings call for.
                row = self.cases.row
                cases = [case for r in first if r.counted and r.client_id in new and (case := row(
                    new[r.client_id], r.client_id, r.window_id, r.score, r.phone is not None,
                    r.created_at, r.received_at))]
                if cases:
                    cur.execute(sql.cases(len(cases)), sql.case_params(cases))
            old_ids = [r.client_id for r in first if r.client_id not in new]
            old = {}
            if old_ids:
                cur.execute(sql.existing(len(old_ids)),
                            {f"c{i}": cid for i, cid in enumerate(old_ids)})
                old = dict(cur.fetchall())
            cur.close()
            conn.commit()
        except BaseException as exc:
            self._forget(conn, exc)
            raise
        return self._answers(ratings, old | new, new)

    def _store_pg(self, first: list[NewRating], ratings: list[NewRating]
                  ) -> list[Stored | InputError]:
        """``_insert`` on PostgreSQL: the screen's queries, then STORE_SQL and COMMIT
        sent together in pipeline mode. Round trips cost as much as the work here, and
        the separate INSERT, summary, cases, BEGIN and COMMIT took one each."""
        sql = self.sql
        conn = self._connection()
        pg = conn.dbapi_connection
        try:
            with pg.pipeline():
                cur = pg.cursor()
                if self.screen is not None:
                    first = self.screen(cur, sql, first)
                cur.execute(sql.store(), sql.store_params(first, self.periods, self.cases))
                pg.commit()  # sent with the statement; waits for both
                found = cur.fetchall()
            cur.close()
        except BaseException as exc:
            self._forget(conn, exc)
            raise
        new = {cid: rid for cid, rid, fresh in found if fresh}
        old = {cid: rid for cid, rid, fresh in found if not fresh}
        missing = [r.client_id for r in first if r.client_id not in new and
                   r.client_id not in old]
        if missing:
            # Stored by a transaction that committed after this statement began (a
            # tablet retrying through another server): seen by a new statement.
            try:
                cur = pg.cursor()
                cur.execute(sql.existing(len(missing)),
                            {f"c{i}": cid for i, cid in enumerate(missing)})
                old.update(cur.fetchall())
                cur.close()
                pg.commit()
            except BaseException as exc:
                self._forget(conn, exc)
                raise
        return self._answers(ratings, old | new, new)

    def _forget(self, conn: Any, exc: BaseException) -> None:
        """After a failed batch: roll back, and drop a connection that may be broken."""
        try:
            conn.rollback()
        except Exception:
            self._close(invalidate=True)
        else:
            if isinstance(exc, self.operational_errors):
                self._close(invalidate=True)  # maybe broken: take a new one next time

    @staticmethod
    def _answers(ratings: list[NewRating], ids: dict[str, int], new: dict[str, int]
                 ) -> list[Stored | InputError]:
        """Each rating's answer, in the batch's order."""
        out: list[Stored | InputError] = []
        for r in ratings:
            if r.client_id not in ids:
                # Not stored, and its client_id is not taken: its event was rated.
                out.append(RatedEvent())
                continue
            out.append(Stored(ids[r.client_id], r.client_id, r.client_id in new))
            new.pop(r.client_id, None)  # a repeat within the batch is not new
        return out


class RatingIntake:
    """Validates rating bodies and stores them through the writer."""

    def __init__(self, engine: sa.Engine, bounds: fields.TapBounds,
                 cases: caseopen.CaseOpener, seal: Callable[[str], str],
                 settings: Mapping[str, Any] | None = None,
                 devices: DeviceCheck | None = None, events: EventCheck | None = None,
                 screen: Screen | None = None) -> None:
        self.bounds = bounds
        self.seal = seal  # phones are sealed here, in the request thread
        self.settings = settings if settings is not None else {}  # the app's config
        self.devices = devices
        self.events = events
        self.windows = Directory(lambda: _load_map(engine, "SELECT code, id FROM service_window"))
        self.reasons = Directory(lambda: _load_map(engine, "SELECT code, code FROM reason_code"))
        self.writer = RatingWriter(engine, bounds.tz, cases, screen)

    def accept(self, body: Any, now: datetime | None = None,
               caller: Caller = NOBODY) -> Stored:
        """Validate ``body`` (a parsed JSON value) sent by ``caller`` and store it;
        InputError if invalid."""
        return self.writer.write(self.validate(body, now or utcnow(), caller))

    def validate(self, body: Any, now: datetime, caller: Caller = NOBODY) -> NewRating:
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
        if phone is not None:
            phone = self.seal(phone)
        created_at = fields.tap_time(payload, now, self.bounds)
        window_id = self.window_id(payload.get("window"))
        device_id = evaluation_id = rater = None
        flags = ""
        if channel == "kiosk" and self.devices is not None:
            device_id = self.devices.paired(caller.device, window_id)
        event = payload.get("evaluation")
        if event is not None:
            if self.events is None:
                raise InputError("service events are not taken here")
            evaluation_id, event_ticket = self.events.bind(event, window_id, created_at)
            ticket = ticket or event_ticket
        elif channel == "kiosk":
            # Always marked; counted unless the hall counts prompted ratings only.
            flags = with_flag(flags, UNPROMPTED)
        if channel == "qr" and caller.rater:
            rater = hashlib.sha256(caller.rater.encode()).hexdigest()[:32]
        counted = counts(flags, bool(self.settings.get("REQUIRE_PROMPT", False)))
        return NewRating(cid, window_id, score, channel, reasons, comment, phone, ticket,
                         created_at, now, device_id, evaluation_id, rater, counted, flags)

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


def _transient(exc: Exception) -> bool:
    """A deadlock or serialization failure (SQLSTATE 40P01 / 40001): retrying helps."""
    return getattr(exc, "sqlstate", None) in ("40P01", "40001")


# A child process forked from a server has none of its threads: its writers start anew.
_WRITERS: weakref.WeakSet[RatingWriter] = weakref.WeakSet()
os.register_at_fork(after_in_child=lambda: [w._forget_thread() for w in list(_WRITERS)])


def _load_map(engine: sa.Engine, sql: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(sql)).all())
