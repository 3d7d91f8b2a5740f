"""League tables and assessments: periods, sums from the live summary, ranking.

A table is a sum over ``rating_summary`` (kiosk/summary.py), never a scan of the
ratings: one GROUP BY for this period and the last (for the rank change), one query
for the windows and one for the duty roster.

Definitions (DOMAIN.md, "The numbers management reads"):

- ``satisfaction`` = mean of (score - 1) x 25; ``good_rate`` / ``bad_rate`` = share
  with score >= 3 / <= 2, in percent.
- ``score`` = (C*m + n*x) / (C + n), C the prior weight (``LEAGUE_PRIOR``), x and n the
  row's satisfaction and count, m the satisfaction of all counted ratings *in the
  league*. The league is a hall (all halls without a hall filter): a department
  filter, and a department head's view, shows that department's rows *of its hall's
  league*, so its windows keep the score, rank, rank change and mark of the table
  management reads. Per clerk, m covers the ratings that have a clerk (ratings with
  no clerk on duty count for their window only).
- ``rank``: score descending, then more ratings, then code. Rows with no counted
  ratings are listed last, unranked (rank None). A score is the correctly rounded
  quotient of two exact integers, so equal scores are equal floats and really tie.
- ``rank_change`` = last period's rank - this rank, None when unranked either time.
- ``mark``: ``red_flag`` (红旗窗口) for the top and ``laggard`` (后进窗口) for the
  bottom ranked rows, a quarter of the ranked rows at most and never more than
  ``MARKS_MAX`` at either end; a league of fewer than four ranked rows marks none.

Numbers are rounded only when a row is turned into a dict (JSON, CSV, pages), from
their exact values and half up (四舍五入): satisfaction and the rates to 1 decimal,
the score to 2.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock, summary
from .db import utcnow
from .models import Department, Duty, Hall, RatingSummary, Staff, Window
from .scale import BAD_SCORE_MAX, SCORES, satisfaction_points

KINDS = ("week", "month", "quarter", "year")
LEVELS = tuple(sorted(SCORES, reverse=True))  # 5 .. 1, as the columns read
MARKS_MAX = 3
MARK_LABELS = {
    "window": {"red_flag": "红旗窗口", "laggard": "后进窗口"},
    "staff": {"red_flag": "红旗岗", "laggard": "后进岗"},
}
BY = ("window", "staff")
NAMES_JOIN = "、"

# The fields of a row, in the order of the CSV columns (the same names as the JSON).
COMMON_FIELDS = ("ratings", "bad", *(f"level_{lv}" for lv in LEVELS),
                 "satisfaction", "good_rate", "bad_rate", "score")
FIELDS = {
    "window": ("rank", "rank_change", "mark", "window", "name", "department", "hall",
               "clerks", *COMMON_FIELDS),
    "staff": ("rank", "rank_change", "mark", "staff_no", "staff", "department",
              "windows", *COMMON_FIELDS),
}


# -- periods -----------------------------------------------------------------------

_PATTERNS = {
    "week": re.compile(r"(\d{4})-W(\d{1,2})"),
    "month": re.compile(r"(\d{4})-(\d{1,2})"),
    "quarter": re.compile(r"(\d{4})-Q(\d)"),
    "year": re.compile(r"(\d{4})"),
}
_FORMATS = {"week": "YYYY-Www（如 2026-W10）", "month": "YYYY-MM（如 2026-03）",
            "quarter": "YYYY-Qn（如 2026-Q1）", "year": "YYYY（如 2026）"}
_KIND_ZH = {"week": "周", "month": "月", "quarter": "季度", "year": "年"}


def iso_weeks_in(year: int) -> int:
    """How many ISO weeks ``year`` has (52 or 53)."""
    return date(year, 12, 28).isocalendar().week


@dataclass(frozen=True, order=True)
class Period:
    """An ISO week, calendar month, quarter or year in the hall's time zone."""

    kind: str
    first: date  # its first day

    @property
    def last(self) -> date:
        """Its last day (inclusive)."""
        return self.next().first - timedelta(days=1)

    @property
    def label(self) -> str:
        """``2026-W10``, ``2026-03``, ``2026-Q1`` or ``2026``: what the URLs carry."""
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{self.first.year}-{self.first.month:02d}"
        if self.kind == "quarter":
            return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
        return f"{self.first.year}"

    @property
    def kind_zh(self) -> str:
        """周, 月, 季度 or 年."""
        return _KIND_ZH[self.kind]

    @property
    def title(self) -> str:
        """The period as a heading reads: 2026年第10周, 2026年3月, 2026年第1季度, 2026年."""
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}年第{week}周"
        if self.kind == "month":
            return f"{self.first.year}年{self.first.month}月"
        if self.kind == "quarter":
            return f"{self.first.year}年第{(self.first.month - 1) // 3 + 1}季度"
        return f"{self.first.year}年"

    def shifted(self, steps: int) -> Period:
        """The period ``steps`` periods later (earlier when negative)."""
        if self.kind == "week":
            return Period("week", self.first + timedelta(weeks=steps))
        months = {"month": 1, "quarter": 3, "year": 12}[self.kind] * steps
        index = self.first.year * 12 + self.first.month - 1 + months
        return Period(self.kind, date(index // 12, index % 12 + 1, 1))

    def previous(self) -> Period:
        return self.shifted(-1)

    def next(self) -> Period:
        return self.shifted(1)

    def contains(self, day: date) -> bool:
        return self.first <= day <= self.last

    def utc_range(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) of the period as naive UTC timestamps (hall midnight to midnight)."""
        start, end = clock.day_range_utc(self.first, self.last, tz)
        return start, end

    def summary_periods(self) -> tuple[str, tuple[date, ...]]:
        """The summary grain and the summary periods that together cover this period."""
        if self.kind == "week":
            return "w", (self.first,)
        if self.kind == "month":
            return "m", (self.first,)
        if self.kind == "quarter":
            return "m", tuple(self.first.replace(month=self.first.month + i)
                              for i in range(3))
        return "y", (self.first,)


def period_of(kind: str, day: date) -> Period:
    """The period of ``kind`` that holds the hall-time ``day``."""
    if kind == "week":
        return Period("week", summary.period_start("w", day))
    if kind == "month":
        return Period("month", day.replace(day=1))
    if kind == "quarter":
        return Period("quarter", date(day.year, (day.month - 1) // 3 * 3 + 1, 1))
    if kind == "year":
        return Period("year", date(day.year, 1, 1))
    raise ValueError(f"unknown period kind {kind!r}")


def parse_period(kind: str, text: str) -> Period:
    """``text`` (``2026-W10``, ``2026-03``, ``2026-Q1``, ``2026``) as a Period of
    ``kind``; ValueError with a message a person can act on."""
    if kind not in _PATTERNS:
        raise ValueError(f"unknown period kind {kind!r}")
    text = (text or "").strip()
    match = _PATTERNS[kind].fullmatch(text.upper() if kind != "month" else text)
    if not match:
        raise ValueError(f"{_KIND_ZH[kind]}的格式应为 {_FORMATS[kind]}，收到 {text!r} "
                         f"({kind} must look like {_FORMATS[kind].split('（')[0]})")
    year = int(match.group(1))
    if not 1900 <= year <= 9998:
        raise ValueError(f"年份 {year} 超出范围 (year out of range)")
    if kind == "year":
        return Period("year", date(year, 1, 1))
    number = int(match.group(2))
    if kind == "week":
        weeks = iso_weeks_in(year)
        if not 1 <= number <= weeks:
            raise ValueError(f"{year} 年只有 {weeks} 周，没有第 {number} 周 "
                             f"({text}: {year} has ISO weeks 1-{weeks})")
        return Period("week", date.fromisocalendar(year, number, 1))
    if kind == "month":
        if not 1 <= number <= 12:
            raise ValueError(f"月份应为 01–12，收到 {number} ({text}: no such month)")
        return Period("month", date(year, number, 1))
    if not 1 <= number <= 4:
        raise ValueError(f"季度应为 Q1–Q4，收到 Q{number} ({text}: no such quarter)")
    return Period("quarter", date(year, 3 * number - 2, 1))


def parse_week(text: str) -> Period:
    return parse_period("week", text)


def parse_month(text: str) -> Period:
    return parse_period("month", text)


def parse_quarter(text: str) -> Period:
    return parse_period("quarter", text)


def parse_year(text: str) -> Period:
    return parse_period("year", text)


def hall_today(tz: ZoneInfo, now: datetime | None = None) -> date:
    """Today in the hall (``now`` is naive UTC, default the clock)."""
    return clock.to_local(now or utcnow(), tz).date()


def current(kind: str, tz: ZoneInfo, now: datetime | None = None) -> Period:
    """The period of ``kind`` running now in the hall."""
    return period_of(kind, hall_today(tz, now))


def last_complete_month(tz: ZoneInfo, now: datetime | None = None) -> Period:
    """The month before the one running now: what a monthly assessment reviews."""
    return current("month", tz, now).previous()


# -- the table ---------------------------------------------------------------------

@dataclass
class LeagueRow:
    """One window (or one clerk) of a league table; exact numbers, rounded by as_dict."""

    id: int  # window id, or staff id
    code: str  # window code, or staff number
    name: str  # window name, or the clerk's name
    department: str
    hall: str = ""
    people: list[str] = field(default_factory=list)  # clerks on duty, or window codes
    levels: dict[int, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    exact_score: Fraction | None = None
    rank: int | None = None
    rank_change: int | None = None
    mark: str | None = None

    @property
    def ratings(self) -> int:
        return sum(self.levels.values())

    @property
    def score(self) -> float | None:
        """The league score (C·m + n·x) / (C + n), or None when unranked."""
        return None if self.exact_score is None else float(self.exact_score)

    @property
    def bad(self) -> int:
        return sum(n for level, n in self.levels.items() if level <= BAD_SCORE_MAX)

    @property
    def points(self) -> int:
        """Sum of (score - 1) x 25 over the ratings: satisfaction times count."""
        return sum(satisfaction_points(level) * n for level, n in self.levels.items())

    @property
    def satisfaction(self) -> float | None:
        n = self.ratings
        return self.points / n if n else None

    @property
    def good_rate(self) -> float | None:
        n = self.ratings
        return 100 * (n - self.bad) / n if n else None

    @property
    def bad_rate(self) -> float | None:
        n = self.ratings
        return 100 * self.bad / n if n else None

    def as_dict(self, by: str) -> dict:
        """The row as JSON and CSV carry it (FIELDS[by]), numbers rounded half up."""
        if by == "window":
            row = {"rank": self.rank, "rank_change": self.rank_change, "mark": self.mark,
                   "window": self.code, "name": self.name, "department": self.department,
                   "hall": self.hall, "clerks": NAMES_JOIN.join(self.people)}
        else:
            row = {"rank": self.rank, "rank_change": self.rank_change, "mark": self.mark,
                   "staff_no": self.code, "staff": self.name,
                   "department": self.department, "windows": NAMES_JOIN.join(self.people)}
        n, bad = self.ratings, self.bad
        row["ratings"] = n
        row["bad"] = bad
        for lv in LEVELS:
            row[f"level_{lv}"] = self.levels.get(lv, 0)
        row["satisfaction"] = half_up(Fraction(self.points, n), 1) if n else None
        row["good_rate"] = half_up(Fraction(100 * (n - bad), n), 1) if n else None
        row["bad_rate"] = half_up(Fraction(100 * bad, n), 1) if n else None
        row["score"] = None if self.exact_score is None else half_up(self.exact_score, 2)
        return row


def half_up(value: Fraction, digits: int) -> float:
    """``value`` rounded half up (四舍五入) to ``digits`` decimals: 6.25 -> 6.3, where
    Python's round() would give 6.2."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


@dataclass
class League:
    """A ranked table for one period."""

    period: Period
    by: str
    prior: float
    rows: list[LeagueRow]
    mean: Fraction | None  # m: the league's satisfaction, exact

    @property
    def fields(self) -> tuple[str, ...]:
        return FIELDS[self.by]

    def as_dict(self) -> dict:
        """``{"week"|"month"|"quarter"|"year", "from", "to", "by", "mean_satisfaction",
        "prior", "rows"}`` as the JSON endpoints answer."""
        return {self.period.kind: self.period.label, "from": self.period.first.isoformat(),
                "to": self.period.last.isoformat(), "by": self.by,
                "mean_satisfaction": None if self.mean is None else half_up(self.mean, 1),
                "prior": self.prior,
                "rows": [row.as_dict(self.by) for row in self.rows]}

    def csv_rows(self) -> list[list]:
        """The rows as lists in the order of ``fields``."""
        return [[row[f] for f in self.fields] for row in (r.as_dict(self.by) for r in self.rows)]


def rank_rows(rows: list[LeagueRow], prior: float) -> Fraction | None:
    """Score, rank and mark ``rows`` in place (and sort them); returns m, exact.

    m is the satisfaction of all ratings in ``rows``; rows with no ratings are left
    unranked and go last, by code.
    """
    counted = [(row, row.ratings, row.points) for row in rows]
    total_n = sum(n for _, n, _ in counted)
    total_s = sum(s for _, _, s in counted)
    # C = p/q, m = total_s/total_n: (C m + s) / (C + n) as one exact fraction, so equal
    # scores really tie and rounding starts from the exact value.
    p, q = Fraction(prior).as_integer_ratio()
    keyed = []
    for row, n, s in counted:
        row.rank = row.mark = None
        row.exact_score = None
        if n:
            row.exact_score = Fraction(p * total_s + q * s * total_n, total_n * (p + q * n))
            keyed.append((-row.exact_score, -n, row.code, row))
    keyed.sort(key=lambda k: k[:3])
    ranked = [k[3] for k in keyed]
    for i, row in enumerate(ranked, 1):
        row.rank = i
    marks = min(MARKS_MAX, len(ranked) // 4)
    for row in ranked[:marks]:
        row.mark = "red_flag"
    for row in ranked[len(ranked) - marks:] if marks else ():
        row.mark = "laggard"
    unranked = sorted((row for row, n, _ in counted if not n), key=lambda r: r.code)
    rows[:] = ranked + unranked
    return Fraction(total_s, total_n) if total_n else None


def league_table(session, period: Period, tz: ZoneInfo, *, by: str = "window",
                 hall_id: int | None = None, department_id: int | None = None,
                 prior: float = 10) -> League:
    """The league of ``period`` per window (``by="window"``) or per clerk
    (``by="staff"``) of one hall (of all halls without ``hall_id``); with the rank
    change from the period before, computed over the same league. ``department_id``
    keeps that department's rows of its hall's league, ranks and marks unchanged."""
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}")
    session.flush()  # the queries below read through the connection, past autoflush
    if department_id is not None and hall_id is None:
        hall_id = department_hall(session, department_id)
    previous = period.previous()
    counts = _summed(session, (period, previous), by, hall_id, None)
    windows = _windows(session, hall_id, None)
    duties = _duties(session, period, tz, windows)
    if by == "window":
        rows = _window_rows(windows, duties, counts[period])
        before = _window_rows(windows, {}, counts[previous])
    else:
        staff = _staff(session, duties, counts)
        rows = _staff_rows(staff, windows, duties, counts[period])
        before = _staff_rows(staff, windows, {}, counts[previous])
    rank_rows(before, prior)
    mean = rank_rows(rows, prior)
    last_rank = {row.id: row.rank for row in before}
    for row in rows:
        was = last_rank.get(row.id)
        row.rank_change = was - row.rank if row.rank is not None and was is not None else None
    if department_id is not None:
        rows = _of_department(rows, by, windows, department_id)
    return League(period, by, prior, rows, mean)


def _of_department(rows: list[LeagueRow], by: str, windows: dict[int, WindowInfo],
                   department_id: int) -> list[LeagueRow]:
    """The rows of one department: its windows, or the clerks of that department and
    those who served at its windows."""
    own = {w.id: w for w in windows.values() if w.department_id == department_id}
    if by == "window":
        return [row for row in rows if row.id in own]
    codes = {w.code for w in own.values()}
    names = {w.department for w in own.values()}
    return [row for row in rows if row.department in names or codes & set(row.people)]


Counts = dict[int, dict[int, int]]  # window or staff id -> level -> count


def _filtered(stmt: sa.Select, hall_id: int | None, department_id: int | None) -> sa.Select:
    if hall_id is None and department_id is None:
        return stmt
    stmt = stmt.join(Window, Window.id == RatingSummary.window_id)
    if hall_id is not None:
        stmt = stmt.where(Window.hall_id == hall_id)
    if department_id is not None:
        stmt = stmt.where(Window.department_id == department_id)
    return stmt


def _summed(session, periods: Sequence[Period], by: str, hall_id: int | None,
            department_id: int | None) -> dict[Period, Counts]:
    """Counted ratings per window (or clerk) and level for each of ``periods`` (of one
    kind), in one GROUP BY over the summary: a row per summary period and window (or
    clerk), a column per level. Grouping by (period, window) follows the summary's
    primary key, so the database streams it without sorting."""
    grain = periods[0].summary_periods()[0]
    owner = {start: period for period in periods for start in period.summary_periods()[1]}
    key = RatingSummary.window_id if by == "window" else RatingSummary.staff_id
    columns = [sa.func.sum(sa.case((RatingSummary.score == level, RatingSummary.n), else_=0))
               for level in LEVELS]
    stmt = (sa.select(RatingSummary.period, key, *columns)
            .where(RatingSummary.grain == grain, RatingSummary.period.in_(sorted(owner)))
            .group_by(RatingSummary.period, key))
    if by == "staff":
        stmt = stmt.where(RatingSummary.staff_id != summary.NO_STAFF)
    out: dict[Period, Counts] = {period: {} for period in periods}
    for start, owner_id, *sums in session.connection().execute(
            _filtered(stmt, hall_id, department_id)):
        if isinstance(start, str):
            start = date.fromisoformat(start)
        counts = out[owner[start]]
        levels = counts.get(owner_id)
        if levels is None:
            counts[owner_id] = {lv: int(n or 0) for lv, n in zip(LEVELS, sums)}
        else:
            for lv, n in zip(LEVELS, sums):
                levels[lv] += int(n or 0)
    for counts in out.values():  # a row whose ratings were all excluded is no row
        for owner_id in [k for k, levels in counts.items() if not any(levels.values())]:
            del counts[owner_id]
    return out


@dataclass(frozen=True)
class WindowInfo:
    id: int
    code: str
    name: str
    active: bool
    department: str
    hall: str
    department_id: int


def _windows(session, hall_id: int | None, department_id: int | None) -> dict[int, WindowInfo]:
    stmt = (sa.select(Window.id, Window.code, Window.name, Window.active, Department.name,
                      Hall.name, Window.department_id)
            .join(Department, Department.id == Window.department_id)
            .join(Hall, Hall.id == Window.hall_id))
    if hall_id is not None:
        stmt = stmt.where(Window.hall_id == hall_id)
    if department_id is not None:
        stmt = stmt.where(Window.department_id == department_id)
    return {row[0]: WindowInfo(*row) for row in session.connection().execute(stmt)}


@dataclass(frozen=True)
class DutyInfo:
    window_id: int
    staff_id: int
    staff_no: str
    name: str
    department: str | None


def _duties(session, period: Period, tz: ZoneInfo,
            windows: dict[int, WindowInfo]) -> dict[int, list[DutyInfo]]:
    """Who was on duty at the listed windows during the period: one entry per window
    and clerk, per window in the order of their first duty (earliest first)."""
    start, end = period.utc_range(tz)
    # One row per window and clerk, not per duty: a year of shift changes at 500
    # windows is 23,000 duties but 1,500 pairs (bench/league.py).
    first = (sa.select(Duty.window_id, Duty.staff_id,
                       sa.func.min(Duty.started_at).label("first"))
             .where(Duty.started_at < end,
                    sa.or_(Duty.ended_at.is_(None), Duty.ended_at > start))
             .group_by(Duty.window_id, Duty.staff_id).subquery())
    stmt = (sa.select(first.c.window_id, Staff.id, Staff.staff_no, Staff.name,
                      Department.name)
            .join(Staff, Staff.id == first.c.staff_id)
            .outerjoin(Department, Department.id == Staff.department_id)
            .order_by(first.c.first, Staff.id))
    out: dict[int, list[DutyInfo]] = defaultdict(list)
    for row in session.connection().execute(stmt):
        if row[0] in windows:
            out[row[0]].append(DutyInfo(*row))
    return out


def _window_rows(windows: dict[int, WindowInfo], duties: dict[int, list[DutyInfo]],
                 counts: Counts) -> list[LeagueRow]:
    """A row per active window, and per inactive window with ratings."""
    rows = []
    for info in windows.values():
        levels = counts.get(info.id)
        if not info.active and not levels:
            continue
        clerks = list(dict.fromkeys(d.name for d in duties.get(info.id, ())))
        rows.append(LeagueRow(info.id, info.code, info.name, info.department, info.hall,
                              clerks, dict(levels) if levels else dict.fromkeys(LEVELS, 0)))
    return rows


def _staff(session, duties: dict[int, list[DutyInfo]],
           counts: dict[Period, Counts]) -> dict[int, DutyInfo]:
    """Who may appear in a staff table: those on duty at a listed window during the
    period, and anyone with ratings there (looked up only if not on the roster)."""
    staff = {d.staff_id: d for ds in duties.values() for d in ds}
    missing = {sid for c in counts.values() for sid in c} - set(staff)
    if missing:
        stmt = (sa.select(sa.null(), Staff.id, Staff.staff_no, Staff.name, Department.name)
                .outerjoin(Department, Department.id == Staff.department_id)
                .where(Staff.id.in_(sorted(missing))))
        for row in session.execute(stmt):
            staff[row[1]] = DutyInfo(*row)
    return staff


def _staff_rows(staff: dict[int, DutyInfo], windows: dict[int, WindowInfo],
                duties: dict[int, list[DutyInfo]], counts: Counts) -> list[LeagueRow]:
    """A row per clerk on duty at a listed window in the period or with ratings there."""
    by_code = {w.code: w for w in windows.values()}
    worked: dict[int, list[str]] = defaultdict(list)
    for window_id, ds in duties.items():
        for d in ds:
            worked[d.staff_id].append(windows[window_id].code)
    rows = []
    for staff_id in set(counts) | set(worked):
        clerk = staff[staff_id]
        places = sorted(set(worked.get(staff_id, ())))
        department = clerk.department or NAMES_JOIN.join(
            sorted({by_code[code].department for code in places}))
        levels = counts.get(staff_id)
        rows.append(LeagueRow(staff_id, clerk.staff_no, clerk.name, department, "", places,
                              dict(levels) if levels else dict.fromkeys(LEVELS, 0)))
    return rows


# -- chart data --------------------------------------------------------------------

@dataclass
class Trend:
    """Satisfaction per ISO week: the league's (the hall's) and one window's."""

    weeks: list[str]
    hall: list[float | None]
    window: list[float | None] | None = None


def satisfaction_trend(session, last: Period, weeks: int = 12, *,
                       hall_id: int | None = None, department_id: int | None = None,
                       window_id: int | None = None) -> Trend:
    """Satisfaction for the ``weeks`` ISO weeks ending with ``last``: of all windows
    (of the hall or department when given) and, when ``window_id`` is given, of that
    window; None for a week with no ratings."""
    periods = [last.shifted(-i) for i in range(weeks - 1, -1, -1)]
    starts = [p.first for p in periods]
    base = (sa.select(RatingSummary.period, RatingSummary.score, sa.func.sum(RatingSummary.n))
            .where(RatingSummary.grain == "w", RatingSummary.period.in_(starts))
            .group_by(RatingSummary.period, RatingSummary.score))
    trend = Trend([p.label for p in periods],
                  _weekly(session.execute(_filtered(base, hall_id, department_id)), starts))
    if window_id is not None:
        rows = session.execute(base.where(RatingSummary.window_id == window_id))
        trend.window = _weekly(rows, starts)
    return trend


def _weekly(rows: Iterable, starts: list[date]) -> list[float | None]:
    points: dict[date, list[int]] = {}
    for start, score, n in rows:
        if isinstance(start, str):
            start = date.fromisoformat(start)
        cell = points.setdefault(start, [0, 0])
        cell[0] += satisfaction_points(score) * int(n)
        cell[1] += int(n)
    return [half_up(Fraction(points[s][0], points[s][1]), 1) if points.get(s, [0, 0])[1]
            else None for s in starts]


def level_counts(league: League, limit: int = 60) -> list[tuple[str, dict[int, int]]]:
    """(label, {level: count}) per ranked row, best first, for the levels chart; at
    most ``limit`` rows so the picture stays readable."""
    return [(f"{row.code} {row.name}", dict(row.levels))
            for row in league.rows if row.rank is not None][:limit]


def window_ids(session, hall_id: int | None = None,
               department_id: int | None = None) -> list[int] | None:
    """The ids of the windows of a hall or department; None (all) without a filter."""
    if hall_id is None and department_id is None:
        return None
    return sorted(_windows(session, hall_id, department_id))


# -- what the filters offer --------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    id: int
    name: str


def hall_choices(session) -> list[Choice]:
    return [Choice(*row) for row in session.execute(
        sa.select(Hall.id, Hall.name).order_by(Hall.name))]


def department_choices(session, hall_id: int | None = None,
                       department_id: int | None = None) -> list[Choice]:
    """The departments of a hall (of every hall without one); only ``department_id``
    when given (a department head sees only their own)."""
    stmt = sa.select(Department.id, Department.name).order_by(Department.name)
    if hall_id is not None:
        stmt = stmt.where(Department.hall_id == hall_id)
    if department_id is not None:
        stmt = stmt.where(Department.id == department_id)
    return [Choice(*row) for row in session.execute(stmt)]


def department_hall(session, department_id: int) -> int | None:
    """The hall a department belongs to."""
    return session.scalar(sa.select(Department.hall_id).where(Department.id == department_id))


def window_choices(session, hall_id: int | None = None,
                   department_id: int | None = None) -> list[WindowInfo]:
    """The active windows of a hall or department, by code."""
    return sorted((w for w in _windows(session, hall_id, department_id).values() if w.active),
                  key=lambda w: w.code)
