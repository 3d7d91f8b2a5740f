"""This week at a glance: hall figures for a period, the reasons most given and the
newest comments, for the dashboard and the hall display board.

Figures are small sums over the live summary (kiosk/summary.py), never a scan of the
ratings. Reasons and comments come from one week of ratings through bounded queries
(reasons grouped in SQL, comments limited).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock, summary
from .league import LEVELS, LeagueRow, Period, hall_today
from .models import Rating, RatingSummary, ReasonCode, Window
from .scale import SCORES, is_bad

NOTHING = 0  # no department or window has id 0: a Scope of it holds nothing


@dataclass(frozen=True)
class Scope:
    """The windows a figure covers: one hall, one department, or (both None) all."""

    hall_id: int | None = None
    department_id: int | None = None

    @property
    def everything(self) -> bool:
        return self.hall_id is None and self.department_id is None

    def window_ids(self) -> sa.Select:
        """The ids of the windows in scope, as a subquery for ``in_``."""
        query = sa.select(Window.id)
        if self.hall_id is not None:
            query = query.where(Window.hall_id == self.hall_id)
        if self.department_id is not None:
            query = query.where(Window.department_id == self.department_id)
        return query

    def where(self, window_column) -> list:
        """Conditions that keep rows whose ``window_column`` is in scope."""
        return [] if self.everything else [window_column.in_(self.window_ids())]


@dataclass(frozen=True)
class Totals:
    """Counted ratings per level over a period, and the numbers of DOMAIN.md (computed
    by kiosk/league.py, the one place that defines them)."""

    counts: dict[int, int] = field(default_factory=dict)  # score -> n

    @property
    def _row(self) -> LeagueRow:
        return LeagueRow(0, "", "", "", levels={lv: self.counts.get(lv, 0) for lv in LEVELS})

    @property
    def ratings(self) -> int:
        return sum(self.counts.values())

    @property
    def bad(self) -> int:
        return self._row.bad

    @property
    def satisfaction(self) -> float | None:
        """满意度 0–100; None without ratings."""
        return _float(self._row.satisfaction)

    @property
    def good_rate(self) -> float | None:
        """好评率 in percent; None without ratings."""
        return _float(self._row.good_rate)

    def as_json(self) -> dict:
        row = self._row.as_dict("window")  # rounded as the league rounds
        return {"ratings": self.ratings, "bad": self.bad,
                "satisfaction": row["satisfaction"], "good_rate": row["good_rate"]}


def _float(value) -> float | None:
    return None if value is None else float(value)


def totals(session, grain: str, period: date, scope: Scope = Scope()) -> Totals:
    """The counted ratings of one summary period (``grain`` d/w/m/y starting ``period``)."""
    query = (sa.select(RatingSummary.score, sa.func.sum(RatingSummary.n))
             .where(RatingSummary.grain == grain, RatingSummary.period == period,
                    *scope.where(RatingSummary.window_id))
             .group_by(RatingSummary.score))
    return Totals({score: int(n) for score, n in session.execute(query) if n})


def totals_between(session, first: date, last: date, scope: Scope = Scope()) -> Totals:
    """The counted ratings of the hall-time days ``first`` to ``last`` (inclusive)."""
    query = (sa.select(RatingSummary.score, sa.func.sum(RatingSummary.n))
             .where(RatingSummary.grain == "d", RatingSummary.period >= first,
                    RatingSummary.period <= last, *scope.where(RatingSummary.window_id))
             .group_by(RatingSummary.score))
    return Totals({score: int(n) for score, n in session.execute(query) if n})


def totals_until(session, first: date, moment: datetime, tz: ZoneInfo,
                 scope: Scope = Scope()) -> Totals:
    """The counted ratings from the start of the hall-time day ``first`` up to
    ``moment`` (naive UTC, exclusive): the whole days from the summary, and the day
    ``moment`` falls in counted from the ratings (one bounded query, at most a day)."""
    day = hall_today(tz, moment)
    counts: Counter[int] = Counter()
    if day > first:
        counts.update(totals_between(session, first, day - timedelta(days=1), scope).counts)
    start = clock.day_start_utc(max(day, first), tz)
    if start < moment:
        counts.update({score: int(n) for score, n in session.execute(
            sa.select(Rating.score, sa.func.count())
            .where(Rating.counted, Rating.created_at >= start, Rating.created_at < moment,
                   *scope.where(Rating.window_id))
            .group_by(Rating.score))})
    return Totals(dict(counts))


@dataclass(frozen=True)
class Change:
    """A figure this week next to last week's."""

    now: float | None
    before: float | None

    @property
    def delta(self) -> float | None:
        if self.now is None or self.before is None:
            return None
        return self.now - self.before


@dataclass(frozen=True)
class ReasonCount:
    code: str
    label: str
    n: int


@dataclass(frozen=True)
class Comment:
    rating_id: int
    at: datetime  # hall time
    window: str
    window_name: str
    score: int
    text: str
    counted: bool

    @property
    def face(self) -> str:
        return SCORES[self.score].zh

    @property
    def bad(self) -> bool:
        return is_bad(self.score)


def top_reasons(session, start: datetime, end: datetime, scope: Scope = Scope(),
                limit: int = 5) -> list[ReasonCount]:
    """The reasons most given by counted ratings tapped in [start, end) (naive UTC).

    Grouped by the stored reason string in SQL, so the rows read are the distinct
    combinations of reasons, however many ratings there are.
    """
    rows = session.execute(
        sa.select(Rating.reasons, sa.func.count())
        .where(Rating.created_at >= start, Rating.created_at < end, Rating.counted,
               Rating.reasons != "", *scope.where(Rating.window_id))
        .group_by(Rating.reasons))
    counts: Counter[str] = Counter()
    for reasons, n in rows:
        for code in reasons.split(";"):
            if code:
                counts[code] += n
    labels = dict(session.execute(sa.select(ReasonCode.code, ReasonCode.zh)).all())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [ReasonCount(code, labels.get(code, code), n) for code, n in ranked]


def newest_comments(session, start: datetime, end: datetime, tz: ZoneInfo,
                    scope: Scope = Scope(), limit: int = 10) -> list[Comment]:
    """The newest ``limit`` comments left with ratings tapped in [start, end)."""
    rows = session.execute(
        sa.select(Rating.id, Rating.created_at, Window.code, Window.name, Rating.score,
                  Rating.comment, Rating.counted)
        .join(Window, Window.id == Rating.window_id)
        .where(Rating.created_at >= start, Rating.created_at < end,
               Rating.comment.is_not(None), Rating.comment != "",
               *scope.where(Rating.window_id))
        .order_by(Rating.created_at.desc(), Rating.id.desc())
        .limit(limit))
    return [Comment(rid, clock.to_local(at, tz), code, name, score, text, counted)
            for rid, at, code, name, score, text, counted in rows]


@dataclass(frozen=True)
class WeekGlance:
    """This week so far (ISO week in hall time) next to last week up to the same
    moment (Monday 00:00 to now − 7 days), so 11:00 on a Monday is set against last
    Monday until 11:00, not a whole week nor a whole Monday."""

    monday: date
    today: date
    this_week: Totals
    last_week: Totals  # last week up to the same moment
    reasons: list[ReasonCount]
    comments: list[Comment]
    last_week_until: datetime | None = None  # hall time: where last week's count stops

    @property
    def label(self) -> str:
        """``2026-W48``"""
        return Period("week", self.monday).label

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def change(self, name: str) -> Change:
        """``ratings``, ``bad``, ``satisfaction`` or ``good_rate`` against last week
        (no comparison when last week had no ratings)."""
        before = getattr(self.last_week, name) if self.last_week.ratings else None
        return Change(getattr(self.this_week, name), before)


def week_glance(session, now: datetime, tz: ZoneInfo, scope: Scope = Scope()) -> WeekGlance:
    """The dashboard's figures for the hall-time week holding ``now`` (naive UTC)."""
    today = hall_today(tz, now)
    monday = summary.period_start("w", today)
    start, end = clock.day_range_utc(monday, monday + timedelta(days=6), tz)
    return WeekGlance(
        monday=monday, today=today,
        this_week=totals(session, "w", monday, scope),
        last_week=totals_until(session, monday - timedelta(weeks=1),
                               now - timedelta(weeks=1), tz, scope),
        reasons=top_reasons(session, start, end, scope),
        comments=newest_comments(session, start, end, tz, scope),
        last_week_until=clock.to_local(now - timedelta(weeks=1), tz))
