"""Misuse and suspicious ratings: screening each batch as it is stored, and the
supervisor's decisions afterwards (DOMAIN.md, "Integrity").

Two kinds of trouble, treated differently:

- **misuse** (重复按键): a child pressing five times, a phone tapping again and again.
  A press from one paired tablet (``device_id``) or one phone (``rater``, the hash of
  the QR page's first-party cookie, never the IP address: a hall's citizens share one)
  within ``MISUSE_INTERVAL_SECONDS`` of a press stored before it is kept but flagged
  ``misuse`` and not counted, so five fast presses count once. ``0`` turns this off.
- **suspect** (可疑; 待核查 until decided): what may be 刷好评 but may be genuine, so
  it stays counted until a supervisor decides: an on-site rating (kiosk, terminal) tapped while the hall is
  closed (``SUSPECT_GRACE_MINUTES`` after closing still count as open, for the last
  citizen), and bursts of top ratings at one window with no service event behind them
  (``SUSPECT_BURST`` "N/M": N or more 非常满意 within M minutes; "" turns it off).

The screen runs in the rating writer's thread, inside the transaction that stores the
batch (ratings.RatingWriter._insert), on the writer's DB-API cursor: one indexed
SELECT for both checks, only when some rating of the batch could qualify, and an
UPDATE only when a burst forms. A supervisor's decision marks the rating ``kept``
(计入) or ``excluded`` (不计入) next to the flag it answers, so the flag stays visible
with its outcome; the audit log says who decided and when (``integrity.keep`` /
``.exclude`` / ``.undo``).
"""
from __future__ import annotations

import json
import re
import secrets
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from . import audit, caseopen, clock, summary
from .fields import InputError
from .hours import OpeningHours, opening_hours
from .models import AuditEntry, Device, Rating, User, Window
from .paging import Page, fetch
from .ratings import RATER_COOKIE, DriverSQL, NewRating
from .scale import EXCLUDED, KEPT, MISUSE, SUSPECT, codes, counts, with_flag

TOP_SCORE = 5  # a burst is of 非常满意: what 刷好评 presses
ON_SITE = ("kiosk", "terminal")  # channels that exist only while the hall is open
RATER_COOKIE_MAX_AGE = 365 * 24 * 3600


def parse_burst(spec: str | None) -> tuple[int, int] | None:
    """``"6/10"`` as (6 ratings, 10 minutes); None for "" (off). ValueError if bad."""
    if spec is None or not str(spec).strip():
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(spec))
    if not m or int(m.group(1)) < 2 or int(m.group(2)) < 1:
        raise ValueError(f"SUSPECT_BURST {spec!r} is not N/M (N ≥ 2 ratings within M ≥ 1 "
                         "minutes), or empty to turn burst checks off")
    return int(m.group(1)), int(m.group(2))


def _parse_time(value: Any) -> datetime:
    # psycopg gives datetimes; sqlite3 the text SQLAlchemy stored.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


# --- screening a batch in the writer ----------------------------------------------

class Screen:
    """The writer's screening step (ratings.Screen): the batch with misuse and
    suspicion decided, stored neighbours flagged into a burst in the same transaction.

    Built once per app from its config; called from the writer thread only.
    """

    def __init__(self, app) -> None:
        config = app.config
        self.interval = timedelta(seconds=float(config["MISUSE_INTERVAL_SECONDS"]))
        self.burst = parse_burst(config.get("SUSPECT_BURST"))
        self.grace = timedelta(minutes=float(config.get("SUSPECT_GRACE_MINUTES", 0)))
        self.hours: OpeningHours = opening_hours(app)
        self.require_prompt = bool(config.get("REQUIRE_PROMPT", False))
        self._sql: dict[tuple, str] = {}

    def __call__(self, cur, sql: DriverSQL, ratings: list[NewRating]) -> list[NewRating]:
        # Who pressed (misuse) and which windows may hold a burst, then one statement
        # that reads both: one round trip per batch, none when nothing can qualify.
        who = [(("d", r.device_id) if r.device_id is not None else ("r", r.rater))
               if self.interval else ("", None) for r in ratings]
        keys = sorted({k for k in who if k[1] is not None}, key=str)
        by_window: dict[int, list[int]] = defaultdict(list)
        if self.burst is not None:
            for i, r in enumerate(ratings):
                if _burst_kind(r):
                    by_window[r.window_id].append(i)
        misuse_rows: list[tuple] = []
        burst_rows: list[tuple] = []
        if keys or by_window:
            for part, *row in self._read(cur, sql, ratings, who, keys, by_window):
                (misuse_rows if part == 0 else burst_rows).append(row)
        if keys:
            ratings = self._misuse(ratings, who, keys, misuse_rows)
        ratings = [self._out_of_hours(r) for r in ratings]
        if by_window:
            ratings = self._bursts(cur, sql, ratings, by_window, burst_rows)
        return ratings

    def _statement(self, key: tuple, sql: DriverSQL, build: Callable[[], str]) -> str:
        found = self._sql.get(key)
        if found is None:
            found = sql.style(build())
            if len(self._sql) < 256:
                self._sql[key] = found
        return found

    def _read(self, cur, sql: DriverSQL, ratings: list[NewRating], who: list[tuple],
              keys: list[tuple], by_window: dict[int, list[int]]) -> list[tuple]:
        """Rows (0, device_id, rater, client_id, created_at, None, None, None) of the
        presses near the batch's from the same tablets and phones, and rows (1, None,
        None, client_id, created_at, id, window_id, flags) of the stored top ratings
        around the batch's at each window that may hold a burst."""
        devices = [k[1] for k in keys if k[0] == "d"]
        raters = [k[1] for k in keys if k[0] == "r"]
        if sql.pyformat:
            return self._read_pg(cur, ratings, who, keys, by_window, devices, raters)
        params: dict[str, Any] = {f"d{i}": v for i, v in enumerate(devices)}
        params.update({f"r{i}": v for i, v in enumerate(raters)})
        if keys:
            taps = [r.created_at for k, r in zip(who, ratings) if k[1] is not None]
            params.update(lo=sql.timestamp(min(taps) - self.interval),
                          hi=sql.timestamp(max(taps) + self.interval))
        windows = sorted(by_window)
        if windows:
            n_burst, minutes = self.burst
            span = timedelta(minutes=minutes)
            for j, window_id in enumerate(windows):
                times = [ratings[i].created_at for i in by_window[window_id]]
                # The nearest N-1 stored before a rating decide its burst; in a live
                # hall the batch is the newest, so the newest N-1 (+1 per rating) do.
                params.update({f"w{j}": window_id,
                               f"wlo{j}": sql.timestamp(min(times) - span),
                               f"whi{j}": sql.timestamp(max(times) + span),
                               f"l{j}": n_burst - 1 + len(times)})

        def build() -> str:
            parts = []
            if keys:
                pressed = []
                if devices:
                    pressed.append("device_id IN (" + ", ".join(
                        f":d{i}" for i in range(len(devices))) + ")")
                if raters:
                    pressed.append("rater IN (" + ", ".join(
                        f":r{i}" for i in range(len(raters))) + ")")
                parts.append(
                    "SELECT 0 AS part, device_id, rater, client_id, created_at, "
                    "CAST(NULL AS INTEGER) AS id, CAST(NULL AS INTEGER) AS window_id, "
                    "CAST(NULL AS VARCHAR(200)) AS flags FROM rating WHERE ("
                    + " OR ".join(pressed) + ") AND created_at >= :lo AND created_at <= :hi")
            parts += [
                f"SELECT * FROM (SELECT 1 AS part, CAST(NULL AS INTEGER) AS device_id, "
                f"CAST(NULL AS VARCHAR(32)) AS rater, client_id, created_at, id, window_id, "
                f"flags FROM rating WHERE window_id = :w{j} AND created_at >= :wlo{j} "
                f"AND created_at <= :whi{j} AND score = {TOP_SCORE} "
                f"AND evaluation_id IS NULL AND counted "
                f"ORDER BY created_at DESC LIMIT :l{j}) AS b{j}"
                for j in range(len(windows))]
            return " UNION ALL ".join(parts)
        cur.execute(self._statement((len(devices), len(raters), len(windows)), sql, build),
                    params)
        return cur.fetchall()

    def _read_pg(self, cur, ratings: list[NewRating], who: list[tuple], keys: list[tuple],
                 by_window: dict[int, list[int]], devices: list, raters: list) -> list[tuple]:
        """``_read`` on PostgreSQL: PG_READ, one text for every batch, so it is
        prepared once per connection, whatever the batch's mix of tablets, phones and
        windows. The lists come in one JSON parameter: psycopg dumps a string at a
        fraction of the cost of six arrays (see ratings.STORE_SQL)."""
        lo = hi = None
        if keys:
            taps = [r.created_at for k, r in zip(who, ratings) if k[1] is not None]
            lo, hi = min(taps) - self.interval, max(taps) + self.interval
        windows = sorted(by_window)
        bounds = []
        if windows:
            n_burst, minutes = self.burst
            span = timedelta(minutes=minutes)
            for window_id in windows:
                times = [ratings[i].created_at for i in by_window[window_id]]
                bounds.append((window_id, min(times) - span, max(times) + span,
                               n_burst - 1 + len(times)))
        cur.execute(PG_READ, {"q": json.dumps({
            "devices": devices, "raters": raters,
            "windows": [{"w": w, "lo": lo_.isoformat(), "hi": hi_.isoformat(), "l": n}
                        for w, lo_, hi_, n in bounds]}), "lo": lo, "hi": hi})
        return cur.fetchall()

    # -- misuse -------------------------------------------------------------------

    def _misuse(self, ratings: list[NewRating], who: list[tuple], keys: list[tuple],
                rows: list[tuple]) -> list[NewRating]:
        """A press within the interval of one stored before it, from the same tablet
        or phone, is misuse. "Before" is in the order stored, on either side in tap
        time: a tablet's offline queue may arrive out of order. A rating bound to a
        service event is never misuse: the event is the proof of a service (and takes
        one rating only)."""
        batch_ids = {r.client_id for r in ratings}
        device_set = {k[1] for k in keys if k[0] == "d"}
        seen: dict[tuple, list[datetime]] = defaultdict(list)
        for device_id, rater, client_id, created_at, *_ in rows:
            if client_id not in batch_ids:  # (a retry of a stored rating is itself)
                key = ("d", device_id) if device_id in device_set else ("r", rater)
                seen[key].append(_parse_time(created_at))
        for times in seen.values():
            times.sort()
        out = list(ratings)
        # Within the batch, the earliest tap of a tablet or phone is the one that counts.
        for n in sorted(range(len(ratings)), key=lambda n: ratings[n].created_at):
            key, r = who[n], ratings[n]
            if key[1] is None:
                continue
            times = seen[key]
            near = (bisect_right(times, r.created_at + self.interval)
                    > bisect_left(times, r.created_at - self.interval))
            if near and r.evaluation_id is None:
                flags = with_flag(r.flags, MISUSE)
                out[n] = replace(r, counted=counts(flags, self.require_prompt), flags=flags)
            times.insert(bisect_left(times, r.created_at), r.created_at)
        return out

    # -- out of hours ---------------------------------------------------------------

    def _out_of_hours(self, r: NewRating) -> NewRating:
        if r.channel not in ON_SITE:
            return r
        if self.hours.is_open(r.created_at) or (
                self.grace and self.hours.is_open(r.created_at - self.grace)):
            return r
        return replace(r, flags=with_flag(r.flags, SUSPECT))

    # -- bursts ---------------------------------------------------------------------

    def _bursts(self, cur, sql: DriverSQL, ratings: list[NewRating],
                by_window: dict[int, list[int]], rows: list[tuple]) -> list[NewRating]:
        """N or more counted top ratings with no service event at one window within M
        minutes: each of them is suspect, those stored before included (their flags
        change in this transaction; they stay counted, so the summary is unchanged).
        Misuse presses (decided just before) make no burst."""
        n_burst, minutes = self.burst
        span = timedelta(minutes=minutes)
        batch_ids = {r.client_id for r in ratings}
        # (tap time, stored id or None, batch index or None, stored flags) per window
        members: dict[int, list[tuple]] = defaultdict(list)
        for _, _, client_id, created_at, rid, window_id, flags in rows:
            if client_id not in batch_ids:
                members[window_id].append((_parse_time(created_at), rid, None, flags))
        for window_id, indexes in by_window.items():
            members[window_id].extend((ratings[i].created_at, None, i, None)
                                      for i in indexes if ratings[i].counted)
        out = list(ratings)
        updates: list[dict] = []
        for window_id, members_at in members.items():
            members_at.sort(key=lambda row: row[0])
            flagged = set()
            for k in range(len(members_at) - n_burst + 1):
                if members_at[k + n_burst - 1][0] - members_at[k][0] <= span:
                    flagged.update(range(k, k + n_burst))
            for k in flagged:
                _, rid, i, flags = members_at[k]
                if i is not None:
                    out[i] = replace(out[i], flags=with_flag(out[i].flags, SUSPECT))
                elif SUSPECT not in codes(flags):
                    updates.append({"i": rid, "o": flags or "", "f": with_flag(flags, SUSPECT)})
        if updates:
            updates.sort(key=lambda u: u["i"])  # one lock order for concurrent writers
            # Only where the flags are still what was read: a supervisor's decision
            # made meanwhile is never overwritten (the burst's next rating tries again).
            cur.executemany(self._statement(("flag",), sql, lambda: (
                "UPDATE rating SET flags = :f WHERE id = :i AND flags = :o")), updates)
        return out


# PostgreSQL reads each tablet's and phone's presses through its own index, newest
# first, whatever the planner believes of a table that grew a minute ago; more presses
# than this around one batch is mashing whichever way it is counted.
PRESSES_READ = 64
PG_READ = f"""SELECT 0 AS part, m.device_id, m.rater, m.client_id, m.created_at,
  NULL::int AS id, NULL::int AS window_id, NULL::varchar AS flags
FROM json_array_elements_text(%(q)s::json -> 'devices') AS k (device_id),
  LATERAL (SELECT device_id, rater, client_id, created_at FROM rating
           WHERE rating.device_id = k.device_id::int
             AND created_at >= %(lo)s::timestamp AND created_at <= %(hi)s::timestamp
           ORDER BY created_at DESC LIMIT {PRESSES_READ}) AS m
UNION ALL
SELECT 0, m.device_id, m.rater, m.client_id, m.created_at, NULL, NULL, NULL
FROM json_array_elements_text(%(q)s::json -> 'raters') AS k (rater),
  LATERAL (SELECT device_id, rater, client_id, created_at FROM rating
           WHERE rating.rater = k.rater
             AND created_at >= %(lo)s::timestamp AND created_at <= %(hi)s::timestamp
           ORDER BY created_at DESC LIMIT {PRESSES_READ}) AS m
UNION ALL
SELECT 1, NULL, NULL, b.client_id, b.created_at, b.id, b.window_id, b.flags
FROM json_to_recordset(%(q)s::json -> 'windows') AS q (w int, lo timestamp, hi timestamp,
                                                        l int),
  LATERAL (SELECT id, window_id, client_id, created_at, flags FROM rating
           WHERE window_id = q.w AND created_at >= q.lo AND created_at <= q.hi
             AND score = {TOP_SCORE} AND evaluation_id IS NULL AND counted
           ORDER BY created_at DESC LIMIT q.l) AS b"""


def _burst_kind(r: NewRating) -> bool:
    """Whether ``r`` is the kind of rating a burst is made of."""
    return r.score == TOP_SCORE and r.evaluation_id is None and r.counted


# --- the QR page's rater cookie ------------------------------------------------------

def give_rater_cookie(request, response) -> None:
    """Give a phone opening the QR page its first-party rater cookie, unless it has one:
    what tells two phones on one hall Wi-Fi apart (ratings.Caller). A random value,
    HttpOnly; the write path stores only its hash."""
    if request.cookies.get(RATER_COOKIE):
        return
    response.set_cookie(RATER_COOKIE, secrets.token_urlsafe(18),
                        max_age=RATER_COOKIE_MAX_AGE, path="/", httponly=True,
                        samesite="Lax", secure=request.is_secure)


# --- what counts -------------------------------------------------------------------

# --- review: states and decisions -------------------------------------------------

PENDING, KEPT_STATE, EXCLUDED_STATE, AUTO = "pending", "kept", "excluded", "auto"
STATE_LABELS = {PENDING: "待核查", KEPT_STATE: "已核查：计入", EXCLUDED_STATE: "已核查：不计入",
                AUTO: "重复按键：自动不计入"}
DECISIONS = {"keep": "计入", "exclude": "不计入", "undo": "撤销核查结论"}
# Which decisions each state allows. 计入 on a misuse press is 恢复计入.
ALLOWED = {PENDING: ("exclude", "keep"), AUTO: ("keep",),
           KEPT_STATE: ("undo",), EXCLUDED_STATE: ("undo",)}
ACTIONS = {"keep": "integrity.keep", "exclude": "integrity.exclude",
           "undo": "integrity.undo"}


def state(flags: str) -> str | None:
    """Where a flagged rating stands in review: ``pending`` (suspect, undecided),
    ``auto`` (misuse, not counted, undecided), ``kept``, ``excluded``; None for a
    rating with nothing to review."""
    marks = codes(flags)
    if KEPT in marks:
        return KEPT_STATE
    if EXCLUDED in marks:
        return EXCLUDED_STATE
    if SUSPECT in marks:
        return PENDING
    if MISUSE in marks:
        return AUTO
    return None


def _decided(flags: str, decision: str) -> str:
    flags = with_flag(with_flag(flags, KEPT, False), EXCLUDED, False)
    if decision == "keep":
        return with_flag(flags, KEPT)
    if decision == "exclude":
        return with_flag(flags, EXCLUDED)
    return flags


class DecisionConflict(InputError):
    """Someone decided (some of) these ratings meanwhile: nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=409)


@dataclass(frozen=True)
class Decided:
    changed: int  # ratings decided
    recounted: int  # of them, how many now count or stopped counting


def decide(session, rating_ids: Iterable[int], decision: str, user: User | None,
           tz: ZoneInfo, require_prompt: bool) -> Decided:
    """Apply a supervisor's decision to ratings (one, or a whole burst), all or none.

    Each rating must be in a state that allows the decision; the flags are changed
    only where they are still what was read (compare and set), so two supervisors
    deciding at once cannot both apply: the second gets DecisionConflict (409) and
    changes nothing. ``counted`` then follows ``counts`` through summary.set_counted
    (every table and the live summary follow); a restored bad rating gets its
    follow-up case. Audited per rating. Flushes only; the caller commits."""
    if decision not in DECISIONS:
        raise InputError("未知的核查结论")
    ids = sorted({int(i) for i in rating_ids})
    if not ids:
        raise InputError("请选择要核查的评价")
    rows = session.execute(sa.select(Rating.id, Rating.flags, Rating.counted)
                           .where(Rating.id.in_(ids))).all()
    if len(rows) != len(ids):
        raise InputError("有评价不存在", status=404)
    stale = [rid for rid, flags, _ in rows if decision not in ALLOWED.get(state(flags), ())]
    if stale:
        raise DecisionConflict(
            "评价 " + "、".join(f"#{i}" for i in stale[:10]) + (" 等" if len(stale) > 10 else "")
            + " 的核查状态已变化（可能已由他人处理），请刷新后再操作")
    to_count: dict[bool, list[int]] = {True: [], False: []}
    restored: list[int] = []
    entries = []
    for rid, flags, counted in rows:
        new = _decided(flags, decision)
        done = session.execute(sa.update(Rating).where(Rating.id == rid, Rating.flags == flags)
                               .values(flags=new).execution_options(synchronize_session=False))
        if done.rowcount != 1:
            raise DecisionConflict(f"评价 #{rid} 刚被他人处理，请刷新后再操作")
        now_counts = counts(new, require_prompt)
        to_count[now_counts].append(rid)
        if now_counts and not counted:
            restored.append(rid)
        entries.append((rid, {"flags": flags, "counted": counted},
                        {"flags": new, "counted": now_counts}))
    recounted = sum(summary.set_counted(session, group, value, tz)
                    for value, group in to_count.items() if group)
    if restored:
        caseopen.open_cases(session, restored)
    for rid, before, after in entries:
        # ACTIONS[decision], spelled out: the audit test reads the codes from the source.
        audit.record(user, "integrity.keep" if decision == "keep" else (
            "integrity.exclude" if decision == "exclude" else "integrity.undo"),
            "rating", rid, before, after)
    session.expire_all()
    return Decided(len(rows), recounted)


# --- the review list ----------------------------------------------------------------

FILTERS = {"pending": "待核查", "suspect": "可疑（全部）", "misuse": "重复按键",
           "decided": "已核查", "all": "全部标记"}


def has_flag(code: str) -> sa.ColumnElement[bool]:
    """``Rating.flags`` holds ``code`` (codes joined by ';'). The one LIKE first rules
    out most rows of a scan at half the cost of the exact test."""
    return sa.and_(Rating.flags.like(f"%{code}%"), sa.or_(
        Rating.flags == code, Rating.flags.like(f"{code};%"),
        Rating.flags.like(f"%;{code}"), Rating.flags.like(f"%;{code};%")))


def is_pending() -> sa.ColumnElement[bool]:
    return sa.and_(has_flag(SUSPECT), sa.not_(has_flag(KEPT)), sa.not_(has_flag(EXCLUDED)))


@dataclass(frozen=True)
class ReviewFilter:
    flag: str = "pending"
    window: str = ""
    start: date | None = None  # hall-time days, both inclusive
    end: date | None = None

    def args(self) -> dict[str, str]:
        return {k: v for k, v in (("flag", self.flag), ("window", self.window),
                                  ("start", self.start.isoformat() if self.start else ""),
                                  ("end", self.end.isoformat() if self.end else "")) if v}


def parse_filter(args) -> ReviewFilter:
    """The list's filter from query arguments; InputError with a readable message."""
    flag = args.get("flag") or "pending"
    if flag not in FILTERS:
        raise InputError("未知的筛选条件")
    days = []
    for name, label in (("start", "开始日期"), ("end", "结束日期")):
        raw = (args.get(name) or "").strip()
        try:
            days.append(date.fromisoformat(raw) if raw else None)
        except ValueError:
            raise InputError(f"{label}应为 YYYY-MM-DD") from None
    if days[0] and days[1] and days[1] < days[0]:
        raise InputError("结束日期早于开始日期")
    return ReviewFilter(flag, (args.get("window") or "").strip(), days[0], days[1])


def _where(flt: ReviewFilter, tz: ZoneInfo) -> list:
    conditions = {
        "pending": [is_pending()],
        "suspect": [has_flag(SUSPECT)],
        "misuse": [has_flag(MISUSE)],
        "decided": [sa.or_(has_flag(KEPT), has_flag(EXCLUDED))],
        "all": [sa.or_(has_flag(SUSPECT), has_flag(MISUSE))],
    }[flt.flag]
    if flt.window:
        conditions.append(Rating.window_id.in_(
            sa.select(Window.id).where(Window.code == flt.window).scalar_subquery()))
    start, end = clock.day_range_utc(flt.start, flt.end, tz)
    if start is not None:
        conditions.append(Rating.created_at >= start)
    if end is not None:
        conditions.append(Rating.created_at < end)
    return conditions


def find(session, flt: ReviewFilter, tz: ZoneInfo, page: int = 1, per_page: int = 50) -> Page:
    """Flagged ratings: pending suspects first, window by window (so a burst reads as
    one block), then the rest; newest first within each."""
    conditions = _where(flt, tz)
    total = session.scalar(sa.select(sa.func.count()).select_from(Rating).where(*conditions))
    pending_first = sa.case((is_pending(), 0), else_=1)
    ordered = (sa.select(Rating).where(*conditions)
               .options(selectinload(Rating.window), selectinload(Rating.staff))
               .order_by(pending_first, sa.case((is_pending(), Rating.window_id), else_=0),
                         Rating.created_at.desc(), Rating.id.desc()))
    return fetch(ordered, total or 0, page, per_page)


def pending_count(session, since: datetime | None = None) -> int:
    """How many suspect ratings wait for a supervisor, of those tapped ``since`` (the
    dashboard's 待核查 N: bounded by the created_at index, it stays quick on a hall with
    years of ratings, where an unbounded count scans them all)."""
    query = sa.select(sa.func.count()).select_from(Rating).where(is_pending())
    if since is not None:
        query = query.where(Rating.created_at >= since)
    return session.scalar(query) or 0


@dataclass(frozen=True)
class Burst:
    """Pending suspect ratings of one window close together on a page: decided at once."""
    window_id: int
    ratings: list[Rating]

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.ratings]


def bursts(ratings: list[Rating], minutes: int) -> dict[int, Burst]:
    """The pending ratings of a page grouped into bursts (one window, each within
    ``minutes`` of the next), by the id of each burst's first rating on the page.
    Single ratings are no burst."""
    groups: list[list[Rating]] = []
    for r in ratings:
        if state(r.flags) != PENDING:
            continue
        last = groups[-1][-1] if groups else None
        if (last is not None and last.window_id == r.window_id
                and abs(last.created_at - r.created_at) <= timedelta(minutes=minutes)):
            groups[-1].append(r)
        else:
            groups.append([r])
    return {g[0].id: Burst(g[0].window_id, g) for g in groups if len(g) > 1}


def devices_of(session, ratings: list[Rating]) -> dict[int, Device]:
    """The tablets that sent these ratings, by id."""
    ids = {r.device_id for r in ratings if r.device_id is not None}
    if not ids:
        return {}
    return {d.id: d for d in session.scalars(sa.select(Device).where(Device.id.in_(ids)))}


def decisions_of(session, rating_ids: list[int]) -> dict[int, AuditEntry]:
    """The latest review decision on each rating (an AuditEntry), for "who and when"."""
    if not rating_ids:
        return {}
    entries = session.scalars(
        sa.select(AuditEntry).where(AuditEntry.target_type == "rating",
                                    AuditEntry.target_id.in_([str(i) for i in rating_ids]),
                                    AuditEntry.action.in_(tuple(ACTIONS.values())))
        .order_by(AuditEntry.id))
    return {int(e.target_id): e for e in entries}
