"""The live summary behind every league table and assessment.

Counted ratings are summed per period (day, ISO week, month and year in the hall's
time zone), window, clerk and level in ``rating_summary``, inside the same
transaction that stores, imports or excludes them. A table is then a sum over a few
thousand summary rows instead of a scan of the ratings. The summary is derived data:
``rebuild`` recomputes it from the ratings, and ``scan`` computes what it must equal.

Every change goes through ``Delta`` and ``apply``, on a DB-API cursor, so the lean
rating writer, bulk imports and ORM services all keep it the same way.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock
from .db import utcnow
from .models import Rating, RatingSummary, SummaryState

GRAINS = ("d", "w", "m", "y")
NO_STAFF = 0  # staff_id of ratings tapped with no clerk on duty
Key = tuple[str, date, int, int, int]  # grain, period, window_id, staff_id, score

UPSERT = ("INSERT INTO rating_summary (grain, period, window_id, staff_id, score, n) "
          "VALUES ({marks}) ON CONFLICT (grain, period, window_id, staff_id, score) "
          "DO UPDATE SET n = rating_summary.n + excluded.n")


def period_start(grain: str, day: date) -> date:
    """The first day of the ``grain`` period (d, w, m, y) that holds ``day``."""
    if grain == "d":
        return day
    if grain == "w":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if grain == "m":
        return day.replace(day=1)
    if grain == "y":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown grain {grain!r}")


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    """The hall-time day of a stored naive-UTC timestamp."""
    return clock.to_local(moment, tz).date()


class Periods:
    """The periods (day, week, month and year starts, in the hall's time zone) that a
    stored time falls in. A million-row import sees a few thousand distinct hours:
    each is converted once."""

    __slots__ = ("tz", "_cache")

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._cache: dict[tuple[int, int, int], tuple[date, ...]] = {}

    def of(self, created_at: datetime) -> tuple[date, ...]:
        """The start of each of GRAINS' periods holding ``created_at`` (naive UTC)."""
        hour = (created_at.toordinal(), created_at.hour, created_at.minute)
        found = self._cache.get(hour)
        if found is None:
            if len(self._cache) >= 4096:  # a long-lived writer's: keep it small
                self._cache.clear()
            day = local_day(created_at, self.tz)
            found = self._cache[hour] = tuple(period_start(g, day) for g in GRAINS)
        return found


class Delta:
    """Changes to the summary, collected before they are written in one go."""

    __slots__ = ("tz", "counts", "_periods")

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.counts: Counter[Key] = Counter()
        self._periods = Periods(tz)

    def add(self, created_at: datetime, window_id: int, staff_id: int | None,
            score: int, sign: int = 1) -> None:
        """Count (``sign`` 1) or uncount (-1) one rating tapped at ``created_at``."""
        staff = staff_id or NO_STAFF
        counts = self.counts
        for grain, period in zip(GRAINS, self._periods.of(created_at)):
            counts[(grain, period, window_id, staff, score)] += sign

    def rows(self) -> list[Key | tuple]:
        """Nonzero changes as (grain, period, window_id, staff_id, score, n), in key
        order, so concurrent writers lock summary rows in the same order."""
        return [(*key, n) for key, n in sorted(self.counts.items()) if n]

    def __bool__(self) -> bool:
        return any(self.counts.values())


def apply(cursor, delta: Delta, paramstyle: str) -> None:
    """Write ``delta`` with a DB-API ``cursor`` inside the caller's transaction.

    ``paramstyle`` is the driver's: ``qmark`` (sqlite3) or ``format``/``pyformat``
    (psycopg). Dates go to SQLite as ISO text, as SQLAlchemy stores them.
    """
    rows = delta.rows()
    if not rows:
        return
    if paramstyle == "qmark":
        marks = ", ".join("?" * 6)
        rows = [(g, p.isoformat(), w, s, sc, n) for g, p, w, s, sc, n in rows]
    else:
        marks = ", ".join(["%s"] * 6)
    cursor.executemany(UPSERT.format(marks=marks), rows)


def apply_in_session(session, delta: Delta) -> None:
    """``apply`` through the session's own connection and transaction."""
    conn = session.connection()
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        apply(cursor, delta, conn.dialect.paramstyle)
    finally:
        cursor.close()


def set_counted(session, rating_ids: Iterable[int], counted: bool, tz: ZoneInfo) -> int:
    """Count or exclude ratings (misuse, an upheld appeal, a supervisor's decision),
    keeping the summary in step. Returns how many ratings changed. Flushes only.

    Only rows whose ``counted`` really changes are touched, so two servers making the
    same decision at once cannot count it twice.
    """
    ids = list(rating_ids)
    if not ids:
        return 0
    session.flush()
    changed = session.execute(
        sa.update(Rating)
        .where(Rating.id.in_(ids), Rating.counted.is_not(counted))
        .values(counted=counted)
        .returning(Rating.created_at, Rating.window_id, Rating.staff_id, Rating.score)
        .execution_options(synchronize_session="fetch")).all()
    delta = Delta(tz)
    for created_at, window_id, staff_id, score in changed:
        delta.add(created_at, window_id, staff_id, score, 1 if counted else -1)
    apply_in_session(session, delta)
    return len(changed)


def scan(session, tz: ZoneInfo) -> Counter[Key]:
    """What the summary must hold, computed from the ratings themselves."""
    delta = Delta(tz)
    result = session.execute(
        sa.select(Rating.created_at, Rating.window_id, Rating.staff_id, Rating.score)
        .where(Rating.counted).execution_options(yield_per=20000))
    for created_at, window_id, staff_id, score in result:
        delta.add(created_at, window_id, staff_id, score)
    return +delta.counts  # drops zero entries


def stored(session) -> Counter[Key]:
    """What the summary holds now (zero rows left by exclusions are dropped)."""
    rows = session.execute(sa.select(
        RatingSummary.grain, RatingSummary.period, RatingSummary.window_id,
        RatingSummary.staff_id, RatingSummary.score, RatingSummary.n))
    return +Counter({tuple(r[:5]): r[5] for r in rows})


def rebuild(session, tz: ZoneInfo) -> int:
    """Recompute the summary from the ratings; returns how many keys were wrong.

    Flushes only; the caller commits. Deleting first takes the write lock on SQLite;
    on PostgreSQL the table lock makes writers wait, so none is counted twice or lost.
    Either way ratings wait while it runs: on a large database, run it off-hours.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("LOCK TABLE rating_summary IN EXCLUSIVE MODE"))
    before = stored(session)
    session.execute(sa.delete(RatingSummary))
    truth = scan(session, tz)
    delta = Delta(tz)
    delta.counts = truth
    apply_in_session(session, delta)
    state = session.get(SummaryState, 1) or SummaryState(id=1)
    state.timezone, state.built_at = tz.key, utcnow()
    session.add(state)
    session.flush()
    keys = set(before) | set(truth)
    return sum(1 for k in keys if before.get(k) != truth.get(k))


def is_current(session, tz: ZoneInfo) -> bool:
    """Whether the summary was built in the hall's time zone ``tz`` (so it holds every
    rating, counted by ``tz``'s days). False for one never built since the upgrade
    that added it, or built before TIMEZONE changed."""
    state = session.get(SummaryState, 1)
    return state is not None and state.timezone == tz.key


def rebuild_if_stale(session, tz: ZoneInfo) -> bool:
    """Rebuild the summary unless it is current; True if it did."""
    if is_current(session, tz):
        return False
    rebuild(session, tz)
    return True
