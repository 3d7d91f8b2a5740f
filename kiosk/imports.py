"""Bulk import of ratings (history from another system, or our own export).

All or nothing: every row is checked, rows are upserted by ``client_id`` in chunks
inside one transaction, and any bad line rolls the whole file back. Imported history
keeps its own ``created_at``; ``received_at`` says when it reached us.

A million-row file is mostly the same few values over and over, so a chunk is checked
a column at a time (``ColumnParser``): each distinct code, score, channel or reason
list once, timestamps converted once per hour of the file (``Stamps``), the clerk on
duty found by comparing stored-format timestamp text (``DutyRoster.staff_at_stamp``).
A chunk with anything unusual in it is checked row by row (``RowParser``, the rule),
which names the bad lines. The live summary is counted per hall day, window, clerk and
level before it is spread over the day, week, month and year.
"""
from __future__ import annotations

import bisect
import gc
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import IO
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import caseopen, clock, fields, phonekeys, privacy, summary
from .csvfiles import ImportFailed, read_header, record_chunks
from .db import db, utcnow
from .exports import COLUMNS as EXPORT_COLUMNS
from .fields import storable
from .models import Duty, Rating, ReasonCode, Staff, Window
from .ratings import (COMMENT_MAX, FLAGS_MAX_LEN, REASONS_MAX_LEN, TICKET_MAX,
                      sqlite_timestamp)
from .scale import CHANNELS, SCORES, is_bad

REQUIRED = {"window", "score", "created_at"}
OPTIONAL = set(EXPORT_COLUMNS) - REQUIRED
CHUNK = 20_000
IMPORT_CACHE_KIB = 64 * 1024  # SQLite page cache while importing
TRUE = {"true": True, "1": True, "yes": True, "": True, "false": False, "0": False,
        "no": False}

PARAMS = ("client_id", "window_id", "staff_id", "score", "channel", "reasons", "comment",
          "phone", "ticket", "created_at", "received_at", "counted", "flags")
COLUMNS = ", ".join(PARAMS)
# What an import file's column overwrites on a rating it updates: the stored column
# and its new value. A column the file lacks leaves the stored value alone (an appeal
# ruling, a comment, the clerk); a masked phone never replaces a real one.
UPDATES = {
    "window": ("window_id", "excluded.window_id"),
    "score": ("score", "excluded.score"),
    "created_at": ("created_at", "excluded.created_at"),
    "channel": ("channel", "excluded.channel"),
    "reasons": ("reasons", "excluded.reasons"),
    "comment": ("comment", "excluded.comment"),
    "phone": ("phone", "COALESCE(excluded.phone, rating.phone)"),
    "staff_no": ("staff_id", "excluded.staff_id"),
    "ticket": ("ticket", "excluded.ticket"),
    "counted": ("counted", "excluded.counted"),
    "flags": ("flags", "excluded.flags"),
}
INSERT_NEW = (f"INSERT INTO rating ({COLUMNS}) VALUES ({', '.join('?' * len(PARAMS))}) "
              "ON CONFLICT (client_id) DO NOTHING")
STATE = "client_id, counted, created_at, window_id, staff_id, score"

# A stored row: PARAMS in order, timestamps as the stored text (sqlite_timestamp).
Row = tuple
# What a counted row adds to the summary: (hall day, window_id, staff_id or 0, score).
DayKey = tuple[date, int, int, int]


@lru_cache(maxsize=32)
def upsert_sql(updated: frozenset[str], source: str) -> str:
    """INSERT … ON CONFLICT that updates the columns ``updated`` (import file columns).

    ``source`` is ``"values"`` (qmark parameters) or ``"copy"`` (the scratch table)."""
    sqlite = source == "values"
    rows = (f"VALUES ({', '.join('?' * len(PARAMS))})" if sqlite
            else f"SELECT {COLUMNS} FROM rating_import")
    changes = [change for col, change in UPDATES.items() if col in updated]
    sets = ", ".join(f"{column} = {value}" for column, value in changes)
    # A row the file leaves as it is is not written again (nor its index entries).
    differs = "IS NOT" if sqlite else "IS DISTINCT FROM"
    where = " OR ".join(f"rating.{column} {differs} {value}" for column, value in changes)
    return (f"INSERT INTO rating ({COLUMNS}) {rows} ON CONFLICT (client_id) "
            f"DO UPDATE SET {sets} WHERE {where}")


@dataclass
class RatingImport:
    rows: int
    created: int
    updated: int
    cases: int = 0  # follow-up cases opened (open_cases)


class DutyRoster:
    """Who was on duty at each window when: answers ``staff_at(window_id, moment)``
    by the rule of ``Window.duty_at``, for a million rows without a query each."""

    def __init__(self, duties: Iterable[Duty]) -> None:
        spans: dict[int, list[tuple[datetime, datetime | None, int]]] = defaultdict(list)
        for d in duties:
            spans[d.window_id].append((d.started_at, d.ended_at, d.staff_id))
        self._spans = {w: sorted(s, key=lambda x: x[0]) for w, s in spans.items()}
        self._starts = {w: [s[0] for s in v] for w, v in self._spans.items()}
        # The same spans with stored-format text (fixed width, so text order is time
        # order), for rows whose timestamps are already text.
        self._text_spans = {
            w: [(sqlite_timestamp(a), None if b is None else sqlite_timestamp(b), s)
                for a, b, s in v] for w, v in self._spans.items()}
        self._text_starts = {w: [s[0] for s in v] for w, v in self._text_spans.items()}
        # Every start and end per window: the answer only changes at one of them.
        self._bounds = {w: sorted({t for a, b, _ in v for t in (a, b) if t is not None})
                        for w, v in self._text_spans.items()}
        self._last: dict[int, tuple[str, str, int | None]] = {}  # window -> [lo, hi), staff

    def staff_at(self, window_id: int, moment: datetime) -> int | None:
        return _on_duty(self._starts.get(window_id), self._spans.get(window_id), moment)

    def staff_at_stamp(self, window_id: int, stamp: str) -> int | None:
        """``staff_at`` for a naive-UTC timestamp given as ``sqlite_timestamp`` text.

        Remembers, per window, the stretch between two duty starts or ends that the
        last answer holds for: a file in time order rarely leaves it."""
        last = self._last.get(window_id)
        if last is not None and last[0] <= stamp < last[1]:
            return last[2]
        bounds = self._bounds.get(window_id)
        if not bounds:
            return None
        i = bisect.bisect_right(bounds, stamp)
        staff = _on_duty(self._text_starts[window_id], self._text_spans[window_id], stamp)
        self._last[window_id] = (bounds[i - 1] if i else "",
                                 bounds[i] if i < len(bounds) else "\uffff", staff)
        return staff


def _on_duty(starts, spans, moment):
    if not starts:
        return None
    # The latest duty started by then that has not ended; a relief's shorter duty
    # may have ended inside a longer one that is still running.
    for i in range(bisect.bisect_right(starts, moment) - 1, -1, -1):
        _, ended, staff_id = spans[i]
        if ended is None or ended > moment:
            return staff_id
    return None


# Timestamps the hour cache takes: date, hour, minute, second, an optional six-digit
# fraction, and Z, an offset or nothing (hall time). Others take clock.parse_timestamp.
_CACHEABLE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{6})?"
                        r"(?:Z|[+-]\d\d:\d\d)?", re.ASCII)
_MMSS = frozenset(f":{m:02d}:{s:02d}" for m in range(60) for s in range(60))
_LAST = timedelta(hours=1, microseconds=-1)


class Stamps:
    """``created_at`` text of an import file -> (stored naive-UTC text, hall day).

    Exactly ``clock.parse_timestamp`` (same values, same errors), but a file's rows
    share a few thousand hours: an hour whose conversion only shifts the hour (a
    whole-hour offset, no clock change inside it, one hall day) is converted once and
    its rows by string slicing.
    """

    MAX_HOURS = 100_000

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        # (text up to the hour, zone suffix) -> (stored text up to the hour, hall day),
        # or None for an hour that must be converted row by row.
        self._hours: dict[tuple[str, str], tuple[str, date] | None] = {}

    def __call__(self, text: str) -> tuple[str, date]:
        rest = text[19:]
        if rest[:1] == ".":
            frac, zone = rest[:7], rest[7:]
        else:
            frac, zone = ".000000", rest
        hour = self._hours.get((text[:13], zone))
        if hour is not None:
            mmss = text[13:19]
            if mmss in _MMSS and (frac == ".000000" or (
                    len(frac) == 7 and frac[1:].isascii() and frac[1:].isdigit())):
                return hour[0] + mmss + frac, hour[1]
        return self._slow(text, zone)

    def column(self, texts: Iterable[str]) -> tuple[list[str], list[date]]:
        """``self(text)`` for each of ``texts``, the usual form without a fraction
        inline."""
        hours, mmss_ok = self._hours, _MMSS
        stamps: list[str] = []
        days: list[date] = []
        stamp, day = stamps.append, days.append
        for text in texts:
            if len(text) == 25:  # 2026-03-02T09:30:00+08:00
                hour = hours.get((text[:13], text[19:]))
                mmss = text[13:19]
                if hour is not None and mmss in mmss_ok:
                    stamp(hour[0] + mmss + ".000000")
                    day(hour[1])
                    continue
            one = self(text)
            stamp(one[0])
            day(one[1])
        return stamps, days

    def _slow(self, text: str, zone: str) -> tuple[str, date]:
        moment = clock.parse_timestamp(text, self.tz)  # the readable error, if any
        if _CACHEABLE.fullmatch(text):
            key = (text[:13], zone)
            if key not in self._hours:
                if len(self._hours) >= self.MAX_HOURS:
                    self._hours.clear()
                self._hours[key] = self._hour(text[:13], zone)
        return sqlite_timestamp(moment), summary.local_day(moment, self.tz)

    def _hour(self, head: str, zone: str) -> tuple[str, date] | None:
        """The cache entry for an hour, if every moment in it converts by shifting the
        hour: same offset at its first and last microsecond, a whole number of hours,
        and one hall day."""
        try:
            first = clock.parse_timestamp(f"{head}:00:00{zone}", self.tz)
            last = clock.parse_timestamp(f"{head}:59:59.999999{zone}", self.tz)
            day = summary.local_day(first, self.tz)
            if (last - first != _LAST or first.minute or first.second
                    or first.microsecond or summary.local_day(last, self.tz) != day):
                return None
        except (ValueError, OverflowError):
            return None
        return sqlite_timestamp(first)[:13], day


def store_rating_rows(conn: sa.Connection, rows: list[dict], tz: ZoneInfo,
                      updated: frozenset[str] = frozenset(UPDATES)) -> int:
    """Upsert rating rows (dicts keyed by PARAMS) inside ``conn``'s transaction; on a
    client_id stored before, overwrite the ``updated`` import columns. Keeps the live
    summary in step. Returns how many of the rows were stored before (updated)."""
    day_of = DayOf(tz)
    stored, keys = [], []
    for r in rows:
        created = sqlite_timestamp(r["created_at"])
        stored.append((r["client_id"], r["window_id"], r["staff_id"], r["score"],
                       r["channel"], r["reasons"], r["comment"], r["phone"], r["ticket"],
                       created, sqlite_timestamp(r["received_at"]), r["counted"],
                       r["flags"]))
        keys.append((day_of(created), r["window_id"], r["staff_id"] or summary.NO_STAFF,
                     r["score"]) if r["counted"] else None)
    return _store(conn, stored, keys, tz, updated)


class DayOf:
    """The hall day of a stored timestamp (naive-UTC text or datetime), worked out
    once per UTC hour when the hall's clock does not change inside it."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._hours: dict = {}  # hour -> hall day, or None: look at each moment

    def __call__(self, created: str | datetime) -> date:
        if isinstance(created, str):
            key = created[:13]  # 2026-03-02 01
            day = self._hours.get(key)
            if day is not None:
                return day
            created = datetime.fromisoformat(created)
        else:
            key = created.toordinal() * 24 + created.hour
            day = self._hours.get(key)
            if day is not None:
                return day
        if key not in self._hours:
            first = datetime.combine(created.date(), time(created.hour))
            last = first + _LAST
            day = summary.local_day(first, self.tz)
            same = (clock.to_local(first, self.tz).utcoffset()
                    == clock.to_local(last, self.tz).utcoffset()
                    and summary.local_day(last, self.tz) == day)
            self._hours[key] = day if same else None
            if same:
                return day
        return summary.local_day(created, self.tz)


def _store(conn: sa.Connection, rows: list[Row], keys: list[DayKey | None],
           tz: ZoneInfo, updated: frozenset[str], mostly_new: bool = True) -> int:
    """Upsert ``rows`` (PARAMS tuples, timestamps as stored text) and keep the summary:
    ``keys[i]`` is what ``rows[i]`` adds when it is new and counted. Returns how many
    rows were stored before (updated).

    Goes to the driver directly: SQLAlchemy's per-row parameter processing would be a
    third of a million-row import. On SQLite, when the rows are ``mostly_new``, the new
    ones are inserted first and only those stored before are then looked up and
    upserted; otherwise all are looked up and upserted. PostgreSQL gets the rows by
    COPY into a scratch table and upserts them in one statement.
    """
    if not rows:
        return 0
    cur = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name != "sqlite":
            before = _copy_upsert(cur, rows, upsert_sql(updated, "copy"))
        elif mostly_new:
            before = _insert_then_upsert(cur, rows, updated)
        else:
            before = _counted_state(cur, [r[0] for r in rows])
            cur.executemany(upsert_sql(updated, "values"), rows)
        counts: Counter = Counter()
        if before:
            keys = _updated_counts(counts, rows, keys, before, updated, DayOf(tz))
        counts.update(keys)  # a new row counts as given
        counts.pop(None, None)
        delta = summary.Delta(tz)
        spread = delta.counts
        for (day, window_id, staff_id, score), n in counts.items():
            for grain in summary.GRAINS:
                spread[(grain, summary.period_start(grain, day), window_id, staff_id,
                        score)] += n
        summary.apply(cur, delta, conn.dialect.paramstyle)
    finally:
        cur.close()
    return len(before)


# Where a stored state's column comes from after an upsert: the file's column (the
# UPDATES key) and its place in a stored row.
_STATE_SOURCES = (("counted", 11), ("created_at", 9), ("window", 1), ("staff_no", 2),
                  ("score", 3))


def _updated_counts(counts: Counter, rows: list[Row], keys: list, before: dict,
                    updated: frozenset[str], day_of: DayOf) -> list:
    """Uncount each updated row as it was and count it as it now is (``upsert_sql``
    overwrites exactly the ``updated`` columns); returns the keys of the new rows."""
    no_staff = summary.NO_STAFF
    for counted, created, window_id, staff_id, score in before.values():
        if counted:
            counts[(day_of(created), window_id, staff_id or no_staff, score)] -= 1
    old = [row[0] in before for row in rows]
    if {"counted", "created_at", "window", "staff_no", "score"} <= updated:
        # Stored as the file has it: counted as the file's row would be if new.
        counts.update(k for k, o in zip(keys, old) if o)
        return [k for k, o in zip(keys, old) if not o]
    sources = [(i, place) for i, (column, place) in enumerate(_STATE_SOURCES)
               if column in updated]
    for row, is_old in zip(rows, old):
        if is_old:
            now = list(before[row[0]])
            for i, place in sources:
                now[i] = row[place]
            counted, created, window_id, staff_id, score = now
            if counted:
                counts[(day_of(created), window_id, staff_id or no_staff, score)] += 1
    return [k for k, o in zip(keys, old) if not o]


def _insert_then_upsert(cur, rows: list[Row], updated: frozenset[str]) -> dict[str, tuple]:
    """Insert the new rows, then upsert those stored before; returns their state
    before (see ``_counted_state``). SQLite."""
    if not cur.connection.in_transaction:
        cur.execute("BEGIN IMMEDIATE")  # hold the write lock from reading ``top`` on
    top = cur.execute("SELECT max(id) FROM rating").fetchone()[0] or 0
    cur.executemany(INSERT_NEW, rows)
    if cur.rowcount == len(rows):
        return {}
    # We hold the database's write lock: a row with an id up to ``top`` was there
    # before the insert, every other one of these client_ids is new.
    before = _counted_state(cur, [r[0] for r in rows], top)
    cur.executemany(upsert_sql(updated, "values"), [r for r in rows if r[0] in before])
    return before


def _counted_state(cur, client_ids: list[str], top: int | None = None) -> dict[str, tuple]:
    """client_id -> (counted, created_at, window_id, staff_id, score) of each stored
    rating among ``client_ids`` (with an id up to ``top`` when given). SQLite."""
    found: dict[str, tuple] = {}
    older = "" if top is None else f" AND id <= {int(top)}"
    for i in range(0, len(client_ids), 900):  # SQLite allows 999 parameters
        part = client_ids[i:i + 900]
        cur.execute(f"SELECT {STATE} FROM rating "
                    f"WHERE client_id IN ({', '.join('?' * len(part))}){older}", part)
        found.update((r[0], r[1:]) for r in cur.fetchall())
    return found


def _copy_upsert(cur, rows: list[Row], sql: str) -> dict[str, tuple]:
    """COPY ``rows`` into the scratch table, lock and read the state of those stored
    before, and upsert them all; returns that state (see ``_counted_state``).
    PostgreSQL.

    When none was stored before, a plain INSERT does (a quarter cheaper than ON
    CONFLICT); should another writer store one of them meanwhile, it is undone and
    the chunk looked at again.
    """
    from psycopg.errors import UniqueViolation

    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS rating_import ON COMMIT DROP AS "
                f"SELECT {COLUMNS} FROM rating WITH NO DATA")
    cur.execute("TRUNCATE rating_import")
    with cur.copy(f"COPY rating_import ({COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    for retry in (False, True):
        found = _stored_before(cur)
        if found or retry:
            cur.execute(sql)
            return found
        cur.execute("SAVEPOINT rating_import_new")
        try:
            cur.execute(f"INSERT INTO rating ({COLUMNS}) SELECT {COLUMNS} FROM rating_import")
        except UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT rating_import_new")
            continue
        cur.execute("RELEASE SAVEPOINT rating_import_new")
        return found
    raise AssertionError("unreachable")


def _stored_before(cur) -> dict[str, tuple]:
    """The state of the scratch table's ratings stored before, locked until commit."""
    return {r[0]: r[1:] for r in cur.execute(
        f"SELECT {', '.join('r.' + c for c in STATE.split(', '))} FROM rating r "
        "JOIN rating_import i ON i.client_id = r.client_id FOR UPDATE OF r")}


def import_ratings(fh: IO[str], tz: ZoneInfo, default_channel: str = "kiosk",
                   progress: Callable[[], None] | None = None,
                   open_cases: bool = False) -> RatingImport:
    """Import ratings from CSV with the export's columns. Flushes; the caller commits.

    ``progress`` is called after every chunk (to move a progress bar). History opens
    no follow-up case unless ``open_cases``: then each imported rating that calls for
    one and has none gets it (kiosk/caseopen.py), in the same transaction."""
    session = db.session
    windows = dict(session.execute(sa.select(Window.code, Window.id)).all())
    staff = dict(session.execute(sa.select(Staff.staff_no, Staff.id)).all())
    reasons = set(session.scalars(sa.select(ReasonCode.code)))
    roster = DutyRoster(session.scalars(sa.select(Duty)))
    conn = session.connection()
    result = RatingImport(rows=0, created=0, updated=0)
    reader, names = read_header(fh, REQUIRED)
    header = frozenset(n for n in names if n in REQUIRED | OPTIONAL)
    parse = RowParser(windows, staff, reasons, roster, tz, default_channel, utcnow())
    columns = ColumnParser(names, parse)
    errors: list[str] = []
    error_count = 0
    seen: set[str] = set()
    case_keys: list[str] = []  # client_ids of rows that may call for a case

    def take(lines: list[int], records: list[list[str]]) -> None:
        """Check a chunk of records and, while the file has no bad line, store it."""
        nonlocal error_count
        parsed = columns(records, seen)  # the whole chunk at once, when it is plain
        if parsed is None:
            parsed = [], []
            for line, record in zip(lines, records):
                try:
                    params, key = parse(columns.row(record))
                    if params[0] in seen:
                        raise ValueError(f"client_id {params[0]} appears twice in the file")
                except ValueError as exc:
                    error_count += 1
                    if len(errors) < 50:
                        errors.append(f"line {line}: {exc}")
                    continue
                seen.add(params[0])
                parsed[0].append(params)
                parsed[1].append(key)
        chunk, keys = parsed
        result.rows += len(chunk)
        if error_count or not chunk:
            return
        # Guess from the chunks before whether this one is mostly new or updates.
        old = _store(conn, chunk, keys, tz, header,
                     mostly_new=result.updated <= result.created)
        result.updated += old
        result.created += len(chunk) - old
        if open_cases:  # bad ratings, and good ones with a number (the sample)
            case_keys.extend(p[0] for p in chunk if is_bad(p[3]) or p[7])
        if progress:
            progress()

    # A million rows make tens of millions of short-lived objects and no cycles: the
    # cycle collector would walk them over and over (a third of the time).
    collecting = gc.isenabled()
    gc.disable()
    # SQLite's default 2 MiB page cache spills the import's pages to the WAL before
    # the commit and reads them back for the next chunk.
    cache = (conn.exec_driver_sql("PRAGMA cache_size").scalar()
             if conn.dialect.name == "sqlite" else None)
    if cache is not None:
        conn.exec_driver_sql(f"PRAGMA cache_size={-IMPORT_CACHE_KIB}")
    try:
        for lines, chunk in record_chunks(reader, CHUNK):
            take(lines, chunk)
    finally:
        if collecting:
            gc.enable()
        if cache is not None:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(cache)}")
    if error_count:
        raise ImportFailed(errors, error_count)
    if case_keys:
        result.cases = _open_cases(session, case_keys)
    return result


def _open_cases(session, client_ids: list[str]) -> int:
    """Open the cases the ratings stored under ``client_ids`` call for (the writer's
    rules and deadlines: kiosk/caseopen.py)."""
    ids: list[int] = []
    for i in range(0, len(client_ids), 900):  # SQLite allows 999 parameters
        ids.extend(session.scalars(sa.select(Rating.id).where(
            Rating.client_id.in_(client_ids[i:i + 900]))))
    return caseopen.open_cases(session, ids)


_ROSTER = object()  # a blank staff_no: the clerk on duty by the roster


class RowParser:
    """One CSV row (dict by header) -> (the row to store, its summary key or None).

    Raises ValueError naming what is wrong. This is the rule; ``ColumnParser`` gets
    the same result a chunk at a time. The values a file repeats (codes, scores,
    reason lists, hours) are looked up.
    """

    def __init__(self, windows: dict[str, int], staff: dict[str, int], reasons: set[str],
                 roster: DutyRoster, tz: ZoneInfo, default_channel: str,
                 now: datetime) -> None:
        self.windows, self.staff, self.reasons, self.roster = windows, staff, reasons, roster
        self.default_channel = default_channel
        self.received = sqlite_timestamp(now)
        self.stamps = Stamps(tz)
        self.scores = {str(s): s for s in SCORES}
        self.reason_lists: dict[str, str] = {"": ""}

    def __call__(self, row: dict) -> tuple[Row, DayKey | None]:
        if "__width__" in row:
            raise ValueError(row["__width__"])
        get = row.get
        window_id = self.windows.get(row["window"])
        if window_id is None:
            window_id = self.window(row["window"])
        score = self.scores.get(row["score"])
        if score is None:
            score = self.score(row["score"])
        stamp, day = self.stamps(row["created_at"])
        channel = get("channel")
        if channel not in CHANNELS:
            channel = self.channel(channel)
        reasons = self.reason_lists.get(get("reasons") or "")
        if reasons is None:
            reasons = self.reason_list(get("reasons"))
        comment = get("comment")
        comment = self.comment(comment) if comment else None
        phone = get("phone")
        phone = self.phone(phone) if phone else None
        staff_no = get("staff_no")
        staff_id = self.staff_of(staff_no) if staff_no else _ROSTER
        if staff_id is _ROSTER:
            staff_id = self.roster.staff_at_stamp(window_id, stamp)
        ticket = get("ticket")
        ticket = self.ticket(ticket) if ticket else None
        counted = TRUE.get(get("counted") or "")
        if counted is None:
            counted = self.counted(get("counted"))
        flags = get("flags")
        flags = self.flags(flags) if flags else ""
        client_id = get("client_id")
        client_id = client_id.strip() if client_id else ""
        if not (8 <= len(client_id) <= 64 and client_id.isascii()
                and client_id.isprintable()):  # else the general check
            client_id = self.client_id(client_id)
        return ((client_id, window_id, staff_id, score, channel, reasons, comment, phone,
                 ticket, stamp, self.received, counted, flags),
                (day, window_id, staff_id or summary.NO_STAFF, score) if counted else None)

    # One column's value, checked; each raises ValueError naming what is wrong.

    def window(self, code: str) -> int:
        code = code.strip()
        window_id = self.windows.get(code)
        if window_id is None:
            raise ValueError(f"unknown window {code!r}")
        return window_id

    def score(self, text: str) -> int:
        text = text.strip()
        if not text.isdigit() or int(text) not in SCORES:
            raise ValueError(f"score {text!r} must be a whole number from 1 to 5")
        return int(text)

    def channel(self, text: str | None) -> str:
        channel = (text or "").strip() or self.default_channel
        if channel not in CHANNELS:
            raise ValueError(f"channel {channel!r} must be one of {', '.join(CHANNELS)}")
        return channel

    def reason_list(self, text: str) -> str:
        codes = [c.strip() for c in text.split(";") if c.strip()]
        unknown = [c for c in codes if c not in self.reasons]
        if unknown:
            raise ValueError("unknown reason code " + ", ".join(map(ascii, unknown[:5])))
        joined = ";".join(codes)
        if len(joined) > REASONS_MAX_LEN:
            raise ValueError("too many reasons")
        if len(self.reason_lists) < 10_000:
            self.reason_lists[text] = joined
        return joined

    @staticmethod
    def comment(text: str) -> str:
        storable(text, "comment")
        if len(text) > COMMENT_MAX:
            raise ValueError(f"comment is longer than {COMMENT_MAX} characters")
        return text

    @staticmethod
    def phone(text: str) -> str | None:
        """The number as stored: normalized, then sealed (kiosk/phonekeys.py)."""
        phone = text.strip()
        if not phone:
            return None
        # A masked number (from an export without --with-phone) carries nothing to keep.
        if privacy.is_masked(phone):
            return None
        return phonekeys.keyring().seal(privacy.normalize_phone(phone))

    def staff_of(self, text: str) -> int | object:
        """The clerk of a ``staff_no`` cell; ``_ROSTER`` when it is blank."""
        staff_no = text.strip()
        if not staff_no:
            return _ROSTER
        staff_id = self.staff.get(staff_no)
        if staff_id is None:
            raise ValueError(f"unknown staff_no {staff_no!r}")
        return staff_id

    @staticmethod
    def ticket(text: str) -> str | None:
        ticket = text.strip()
        if not (ticket.isascii() and ticket.isprintable()):  # else the NUL check
            ticket = storable(ticket, "ticket")
        if len(ticket) > TICKET_MAX:
            raise ValueError(f"ticket is longer than {TICKET_MAX} characters")
        return ticket or None

    @staticmethod
    def counted(text: str) -> bool:
        text = text.strip().lower()
        if text not in TRUE:
            raise ValueError(f"counted {text!r} must be true or false")
        return TRUE[text]

    @staticmethod
    def flags(text: str) -> str:
        flags = ";".join(c.strip() for c in text.split(";") if c.strip())
        if len(storable(flags, "flags")) > FLAGS_MAX_LEN:
            raise ValueError(f"flags are longer than {FLAGS_MAX_LEN} characters")
        return flags

    @staticmethod
    def client_id(stripped: str) -> str:
        return fields.client_id(
            {"client_id": stripped or f"import-{uuid.uuid4().hex}"}, required=True)


class ColumnParser:
    """A chunk of CSV records -> (rows to store, summary keys), as ``RowParser`` makes
    them row by row, but a column at a time: a file's columns hold a few distinct
    values (codes, scores, channels, reason lists), each checked once and mapped in C.

    Returns None when the chunk needs the row-by-row check: a bad value, a duplicate
    client_id, a cell the common case does not cover. Only then are lines named.
    """

    def __init__(self, names: list[str], parse: RowParser) -> None:
        self.parse = parse
        self.width = len(names)
        known = REQUIRED | OPTIONAL
        self.keep = [(i, h) for i, h in enumerate(names) if h in known]
        self.at = {h: i for i, h in self.keep}  # the last column of a name wins

    def row(self, record: list[str]) -> dict:
        """A record as ``RowParser`` takes it."""
        if len(record) != self.width:
            return {"__width__": f"has {len(record)} fields, the header {self.width}"}
        return {h: record[i] for i, h in self.keep}

    def __call__(self, records: list[list[str]],
                 seen: set[str]) -> tuple[list[Row], list] | None:
        if any(len(r) != self.width for r in records):
            return None
        try:
            parsed = self._parse(records, seen)
        except ValueError:
            return None
        if parsed is not None:
            seen.update(r[0] for r in parsed[0])
        return parsed

    def _parse(self, records: list[list[str]], seen: set[str]):
        parse, at, n = self.parse, self.at, len(records)
        columns = list(zip(*records))

        def column(name: str):
            i = at.get(name)
            return None if i is None else columns[i]

        def mapped(name: str, check, default=None) -> list | None:
            """The column through ``check`` once per distinct value."""
            col = column(name)
            if col is None:
                return None if default is None else [default] * n
            values = {v: check(v) for v in set(col)}
            return list(map(values.__getitem__, col))

        window_ids = list(map(parse.windows.get, column("window")))
        scores = list(map(parse.scores.get, column("score")))
        if None in window_ids or None in scores:
            return None
        stamps, days = parse.stamps.column(column("created_at"))
        channels = mapped("channel", parse.channel, parse.channel(None))
        reasons = mapped("reasons", lambda v: parse.reason_lists.get(v or "")
                         or parse.reason_list(v), "")
        comments = column("comment")
        if comments is None:
            comments = [None] * n
        else:
            text = "".join(comments)
            if "\x00" in text or max(map(len, comments)) > COMMENT_MAX:
                return None
            if not text.isascii():
                text.encode("utf-8")  # UnicodeEncodeError is a ValueError: row by row
            comments = [c or None for c in comments]
        phones = column("phone")
        phones = [None] * n if phones is None else [
            parse.phone(p) if p else None for p in phones]
        staff_ids = mapped("staff_no", lambda v: parse.staff_of(v) if v else _ROSTER,
                           _ROSTER)
        at_duty = parse.roster.staff_at_stamp
        staff_ids = [at_duty(w, st) if s is _ROSTER else s
                     for s, w, st in zip(staff_ids, window_ids, stamps)]
        tickets = mapped("ticket", lambda v: parse.ticket(v) if v else None, None)
        tickets = tickets or [None] * n
        counted = mapped("counted", lambda v: TRUE[v] if v in TRUE else parse.counted(v),
                         True)
        flags = mapped("flags", lambda v: parse.flags(v) if v else "", "")
        ids = column("client_id")
        if ids is None:
            return None  # generated ids: row by row
        ids = list(map(str.strip, ids))
        text = "".join(ids)
        if not (text.isascii() and text.isprintable() and min(map(len, ids)) >= 8
                and max(map(len, ids)) <= 64):
            return None
        if len(set(ids)) != n or not seen.isdisjoint(ids):
            return None
        rows = list(zip(ids, window_ids, staff_ids, scores, channels, reasons, comments,
                        phones, tickets, stamps, [parse.received] * n, counted, flags))
        staff_keys = [s or summary.NO_STAFF for s in staff_ids]
        keys = list(zip(days, window_ids, staff_keys, scores))
        if False in counted:
            keys = [k if c else None for k, c in zip(keys, counted)]
        return rows, keys
