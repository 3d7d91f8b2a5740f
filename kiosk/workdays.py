"""Working days in China (工作日) and the follow-up deadlines counted in them.

Which day is a working day, in order of precedence:

1. a year an admin entered from the State Council's notice (CalendarYear and its
   CalendarDay rows): the listed holidays and make-up working days (调休), Monday–Friday
   for every other day of that year. The package lags each new year; the notice comes
   out in the autumn before, so this is how a hall gets next year right in time;
2. the ``chinese_calendar`` package (it knows 2004 up to the year it was released for
   and raises NotImplementedError after);
3. Monday–Friday, with a warning in the log (once per year) and on the call list
   (``calendar_warning``): a deadline may then fall on a holiday.

``Deadlines.due`` is called by the rating writer for every case it opens, in its own
thread and inside its transaction: it needs no app context, keeps what it read in
memory (re-read at most every ``refresh_seconds`` or after ``invalidate``), and
caches the answer per hall-local day.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import sqlalchemy as sa

from . import audit, clock
from .db import db, utcnow
from .fields import InputError
from .models import CalendarDay, CalendarYear, FollowupCase, User

log = logging.getLogger(__name__)

SOURCE_LABELS = {"entered": "管理员录入", "package": "内置日历（chinese-calendar）",
                 "unknown": "未知：暂按周一至周五计算"}
# The package's holiday names, as the notice calls them.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}
WEEKDAYS = "一二三四五六日"
NAME_MAX = 32  # CalendarDay.name
NOTICE_MAX = 5000  # characters of an entered notice
SPAN_MAX = 31  # days in one line's range: more is a typo, no holiday is that long
DUE_CACHE_MAX = 4096  # local days whose due dates are kept (an import spans years)
# From this month on the call list warns that next year is unknown: the notice is out
# by then, and a rating of late December is due in January.
WARN_NEXT_YEAR_FROM_MONTH = 10


@dataclass(frozen=True)
class _Entered:
    """What admins entered, as read at one moment; never changed once built."""

    years: frozenset[int]
    days: dict[date, tuple[bool, str | None]]
    loaded_at: float
    # Due dates per hall-local day, valid for exactly this reading.
    dues: dict[date, tuple[date, date]] = field(default_factory=dict, compare=False)

    def same_as(self, other: _Entered | None) -> bool:
        return other is not None and self.years == other.years and self.days == other.days


def _read_entered(conn: sa.Connection) -> tuple[frozenset[int], dict]:
    years = frozenset(conn.scalars(sa.select(CalendarYear.year)))
    days = {day: (bool(workday), name) for day, workday, name in conn.execute(
        sa.select(CalendarDay.day, CalendarDay.workday, CalendarDay.name))}
    return years, days


# The years the package has data for (it raises NotImplementedError for the others).
# Its own is_workday checks that range with max() over every holiday on each call,
# about 30 µs; these lookups are what it does after that check.
_PACKAGE_YEARS = frozenset(day.year for day in chinese_calendar.holidays)
_PACKAGE_HOLIDAYS = chinese_calendar.holidays
_PACKAGE_WORKDAYS = chinese_calendar.workdays


def package_knows(year: int) -> bool:
    """Whether the chinese_calendar package has data for ``year``."""
    return year in _PACKAGE_YEARS


def _package_is_workday(day: date) -> bool:
    return day in _PACKAGE_WORKDAYS or (day.weekday() < 5 and day not in _PACKAGE_HOLIDAYS)


class Deadlines:
    """The hall's working days and the follow-up deadlines derived from them."""

    def __init__(self, engine: sa.Engine | None, tz: ZoneInfo, contact_days: int,
                 resolve_days: int, *, refresh_seconds: float = 30.0) -> None:
        if contact_days < 0 or resolve_days < 0:
            raise ValueError("deadlines are counted in 0 or more working days")
        self.engine = engine
        self.tz = tz
        self.contact_days = contact_days
        self.resolve_days = resolve_days
        self.refresh_seconds = refresh_seconds
        self._entered: _Entered | None = None
        self._pinned = False  # a private view of an open transaction: never re-read
        self._lock = threading.Lock()
        self._warned: set[int] = set()

    # -- what admins entered ------------------------------------------------------

    def _current(self) -> _Entered:
        entered = self._entered
        if entered is not None and (
                self._pinned or time.monotonic() - entered.loaded_at < self.refresh_seconds):
            return entered
        with self._lock:  # one thread reads; the others wait for its result
            entered = self._entered
            if entered is None or (not self._pinned and time.monotonic() - entered.loaded_at
                                   >= self.refresh_seconds):
                entered = self._reload(entered)
                self._entered = entered
        return entered

    def _reload(self, old: _Entered | None) -> _Entered:
        now = time.monotonic()
        if self.engine is None:
            return _Entered(frozenset(), {}, now)
        try:
            with self.engine.connect() as conn:
                years, days = _read_entered(conn)
        except sa.exc.SQLAlchemyError:
            # A database not migrated yet, or a moment's outage: keep counting with what
            # we had (the package and Monday–Friday) and try again after the interval.
            log.exception("could not read the entered holiday calendar")
            if old is not None:
                return _Entered(old.years, old.days, now, old.dues)
            return _Entered(frozenset(), {}, now)
        fresh = _Entered(years, days, now)
        if fresh.same_as(old):  # nothing changed: keep the due dates worked out so far
            return _Entered(years, days, now, old.dues)
        return fresh

    def invalidate(self) -> None:
        """Forget what was read: the next call reads the entered years again."""
        with self._lock:
            self._entered = None

    def seen_by(self, session) -> Deadlines:
        """A private copy that reads the entered years through ``session``'s
        transaction (uncommitted changes included), once; for recomputing dues before
        the change is committed. The shared instance is left as it is."""
        view = Deadlines(None, self.tz, self.contact_days, self.resolve_days)
        years, days = _read_entered(session.connection())
        view._entered = _Entered(years, days, time.monotonic())
        view._pinned = True
        view._warned = self._warned
        return view

    # -- days ----------------------------------------------------------------------

    def _is_workday(self, day: date, entered: _Entered) -> bool:
        listed = entered.days.get(day)
        if listed is not None:
            return listed[0]
        if day.year not in entered.years:
            if day.year in _PACKAGE_YEARS:
                return _package_is_workday(day)
            self._warn_unknown(day.year)
        return day.weekday() < 5

    def _warn_unknown(self, year: int) -> None:
        if year in self._warned:
            return
        with self._lock:
            if year in self._warned:
                return
            self._warned.add(year)
        log.warning("no holiday calendar for %d: deadlines count Monday to Friday; "
                    "enter the State Council's notice at /admin/calendar", year)

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` is a working day in the hall."""
        return self._is_workday(day, self._current())

    def source(self, year: int) -> str:
        """Where ``year``'s working days come from: "entered", "package" or "unknown"."""
        if year in self._current().years:
            return "entered"
        return "package" if package_knows(year) else "unknown"

    def unknown_years(self, first: date, last: date) -> list[int]:
        """The years from ``first`` to ``last`` that nobody knows (Monday–Friday)."""
        return [y for y in range(first.year, last.year + 1) if self.source(y) == "unknown"]

    def add_workdays(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (``day`` itself for 0)."""
        entered = self._current()
        return self._add(day, n, entered)

    def _add(self, day: date, n: int, entered: _Entered) -> date:
        while n > 0:
            day += timedelta(days=1)
            if self._is_workday(day, entered):
                n -= 1
        return day

    def local_day(self, rated_at: datetime) -> date:
        """The hall-local day of a stored (naive UTC) time."""
        return clock.to_local(rated_at, self.tz).date()

    def due(self, rated_at: datetime) -> tuple[date, date]:
        """(contact_due, resolve_due) of a case rated at ``rated_at`` (naive UTC): the
        hall-local ends of the contact_days-th and resolve_days-th working day after
        the day of the rating."""
        entered = self._current()
        day = self.local_day(rated_at)
        found = entered.dues.get(day)
        if found is None:
            contact = self._add(day, self.contact_days, entered)
            resolve = self._add(day, self.resolve_days, entered)
            found = (contact, resolve)
            if len(entered.dues) >= DUE_CACHE_MAX:
                entered.dues.clear()
            entered.dues[day] = found  # a lost race only computes the same twice
        return found


def deadlines(app=None) -> Deadlines:
    """The app's Deadlines (one per app, made on first use)."""
    from flask import current_app

    app = app or current_app._get_current_object()
    found = app.extensions.get("kiosk.deadlines")
    if found is None:
        with app.app_context():
            engine = db.engine
        found = app.extensions.setdefault("kiosk.deadlines", Deadlines(
            engine, clock.zone(app.config["TIMEZONE"]),
            int(app.config["CONTACT_DUE_WORKDAYS"]), int(app.config["RESOLVE_DUE_WORKDAYS"])))
    return found


def calendar_warning(deadlines: Deadlines, today: date) -> str | None:
    """The call list's warning when deadlines are counted Monday–Friday for lack of a
    calendar: this year, and next year from October on (when its notice is out and
    December's ratings fall due in it)."""
    last = date(today.year + 1, 1, 1) if today.month >= WARN_NEXT_YEAR_FROM_MONTH else today
    years = deadlines.unknown_years(today, last)
    if not years:
        return None
    named = "、".join(f"{y} 年" for y in years)
    return (f"{named}的法定节假日和调休安排尚未录入：回访期限暂按周一至周五计算，"
            "遇节假日可能不准。请管理员在“节假日”页面按国务院办公厅的通知录入。")


# -- the admin's entry of a year ------------------------------------------------------

HOLIDAY_WORDS = ("休", "放假", "假", "休息")
WORKDAY_WORDS = ("班", "上班", "补班", "调休上班")
_RANGE = re.compile(r"\s*(?:~|～|至|到)\s*")
_RANGE_SPACED = re.compile(r"\s*(~|～|至|到)\s*")
_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_CN = re.compile(r"^(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日$")
_SHORT = re.compile(r"^(\d{1,2})[-/.](\d{1,2})$")
_DAY_ONLY = re.compile(r"^(\d{1,2})日$")


def _one_date(token: str, year: int, after: date | None) -> date:
    """A date as the notice or an admin writes it: 2027-10-01, 2027/10/1, 10-01,
    10月1日, 2027年10月1日, and after a range's start also just 7日."""
    for pattern in (_ISO, _CN):
        m = pattern.match(token)
        if m:
            y, mo, d = m.groups()
            return date(int(y) if y else year, int(mo), int(d))
    m = _SHORT.match(token)
    if m:
        return date(year, int(m.group(1)), int(m.group(2)))
    m = _DAY_ONLY.match(token)
    if m and after is not None:
        return date(after.year, after.month, int(m.group(1)))
    raise ValueError(f"“{token}”不是日期，应写作 {year}-10-01 或 10月1日")


def _parse_line(line: str, year: int) -> list[tuple[date, bool, str | None]]:
    parts = _RANGE_SPACED.sub(r"\1", line).split(None, 2)
    if len(parts) < 2:
        raise ValueError("应为“日期或日期范围 休/班 节日名称”，如 "
                         f"{year}-10-01~{year}-10-07 休 国庆节")
    when, word = parts[0], parts[1]
    name = parts[2].strip() if len(parts) == 3 else None
    if word in HOLIDAY_WORDS:
        workday = False
    elif word in WORKDAY_WORDS:
        workday = True
    else:
        raise ValueError(f"“{word}”应为“休”（放假）或“班”（调休上班）")
    if name and len(name) > NAME_MAX:
        raise ValueError(f"节日名称不能超过 {NAME_MAX} 个字")
    ends = _RANGE.split(when)
    if len(ends) > 2 or not all(ends):
        raise ValueError(f"“{when}”不是日期范围，应写作 {year}-10-01~{year}-10-07")
    try:
        first = _one_date(ends[0], year, None)
        last = _one_date(ends[1], year, first) if len(ends) == 2 else first
    except ValueError as exc:
        message = str(exc)
        if "month must be" in message or "day is out of range" in message:
            message = f"“{when}”中有不存在的日期"
        raise ValueError(message) from None
    if last < first:
        raise ValueError(f"结束日期 {last} 早于开始日期 {first}")
    if (last - first).days >= SPAN_MAX:
        raise ValueError(f"{first} 至 {last} 超过 {SPAN_MAX} 天，请检查日期")
    for day in (first, last):
        if not (day.year == year or (day.year == year - 1 and day.month == 12)):
            raise ValueError(f"{day} 不在 {year} 年（元旦假期可含上一年 12 月的日子）")
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if workday:
        weekdays = [d for d in days if d.weekday() < 5]
        if weekdays:
            d = weekdays[0]
            raise ValueError(f"{d} 是星期{WEEKDAYS[d.weekday()]}，本来就上班；"
                             "调休上班日应是星期六或星期日")
    return [(d, workday, name) for d in days]


def parse_notice(text: str, year: int) -> list[tuple[date, bool, str | None]]:
    """The days of an admin's entry of ``year``, one line per holiday period or make-up
    day: ``2027-10-01~2027-10-07 休 国庆节``, ``2027-09-26 班 国庆节``. Blank lines and
    lines starting with # are skipped. InputError naming every bad line otherwise."""
    if len(text) > NOTICE_MAX:
        raise InputError(f"内容不能超过 {NOTICE_MAX} 个字")
    errors: list[str] = []
    found: list[tuple[date, bool, str | None]] = []
    first_line: dict[date, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "＃")):
            continue
        try:
            days = _parse_line(line, year)
        except ValueError as exc:
            errors.append(f"第 {number} 行：{exc}")
            continue
        for day, workday, name in days:
            if day in first_line:
                errors.append(f"第 {number} 行：{day} 已在第 {first_line[day]} 行填过")
                break
            first_line[day] = number
            found.append((day, workday, name))
    if errors:
        raise InputError("\n".join(errors))
    if not found:
        raise InputError(f"请按通知填写 {year} 年的放假和调休上班日，每行一段")
    return sorted(found)


@dataclass(frozen=True)
class SavedYear:
    year: int
    days: int  # holiday and make-up days stored
    cases: int  # cases whose due dates changed


YEAR_MIN, YEAR_MAX = 2000, 2100


def check_year(value: object) -> int:
    """The year of the form, or InputError."""
    try:
        year = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError("请填写年份，如 2027") from None
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise InputError(f"年份应在 {YEAR_MIN} 至 {YEAR_MAX} 之间")
    return year


def _entry_days(session, year: int, source: str | None) -> set[date]:
    """The days an entry of ``year`` stored: those of the year, and the December days
    of the year before that its text names (a New Year holiday may start then)."""
    days = set(session.scalars(sa.select(CalendarDay.day).where(
        CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))))
    if source:
        try:
            days.update(d for d, _, _ in parse_notice(source, year) if d.year != year)
        except InputError:
            pass
    return days


def save_year(session, user: User | None, year: int, text: str,
              shared: Deadlines) -> SavedYear:
    """Enter (or replace) ``year``'s holidays and make-up days from the admin's text,
    recompute the due dates of the cases it touches, and audit it. Flushes; the caller
    commits and then calls ``shared.invalidate()``."""
    days = parse_notice(text, year)
    entry = session.get(CalendarYear, year)
    before = {"source": entry.source if entry else None}
    if entry is not None:
        old = _entry_days(session, year, entry.source)
        if old:
            session.execute(sa.delete(CalendarDay).where(CalendarDay.day.in_(old)))
    else:
        entry = CalendarYear(year=year)
        session.add(entry)
    for day in (d for d, _, _ in days if d.year != year):  # December of the year before
        session.execute(sa.delete(CalendarDay).where(CalendarDay.day == day))
    entry.source = text.strip()
    entry.entered_by_id = user.id if user else None
    entry.entered_at = utcnow()
    session.add_all(CalendarDay(day=d, workday=w, name=n) for d, w, n in days)
    session.flush()
    years = {year} | {d.year for d, _, _ in days}
    changed = recompute_dues(session, shared.seen_by(session), years)
    audit.record(user, "calendar.update", "calendar", year, before,
                 {"source": entry.source, "cases_recomputed": changed})
    return SavedYear(year, len(days), changed)


def recompute_dues(session, deadlines: Deadlines, years: Iterable[int]) -> int:
    """Re-derive contact_due/resolve_due of every case whose deadlines were counted
    through one of ``years`` (rated before the year ended, due on or after it began),
    after that year's calendar changed. Returns how many changed. Flushes."""
    years = sorted(set(years))
    if not years:
        return 0
    conditions = []
    for year in years:
        start = date(year, 1, 1)
        conditions.append(sa.and_(
            FollowupCase.rated_at < clock.day_start_utc(date(year + 1, 1, 1), deadlines.tz),
            sa.or_(FollowupCase.resolve_due >= start, FollowupCase.contact_due >= start)))
    changed = 0
    for case in session.scalars(sa.select(FollowupCase).where(sa.or_(*conditions))):
        contact, resolve = deadlines.due(case.rated_at)
        if (case.contact_due, case.resolve_due) != (contact, resolve):
            case.contact_due, case.resolve_due = contact, resolve
            changed += 1
    session.flush()
    return changed


def delete_year(session, user: User | None, year: int, shared: Deadlines) -> SavedYear | None:
    """Forget an entered year (the package or Monday–Friday count again), recompute
    the dues it touched, and audit it. None when the year was not entered. Flushes."""
    entry = session.get(CalendarYear, year)
    if entry is None:
        return None
    old = _entry_days(session, year, entry.source)
    if old:
        session.execute(sa.delete(CalendarDay).where(CalendarDay.day.in_(old)))
    source = entry.source
    session.delete(entry)
    session.flush()
    changed = recompute_dues(session, shared.seen_by(session), {year, year - 1})
    audit.record(user, "calendar.delete", "calendar", year, {"source": source},
                 {"source": None, "cases_recomputed": changed})
    return SavedYear(year, 0, changed)


# -- what the admin page shows ----------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A run of consecutive days off, or make-up days listed on their own."""

    names: tuple[str, ...]
    first: date | None
    last: date | None
    makeup: tuple[date, ...]

    @property
    def length(self) -> int:
        return (self.last - self.first).days + 1 if self.first else 0


@dataclass(frozen=True)
class YearView:
    year: int
    source: str
    periods: list[Period]
    entry: CalendarYear | None
    entered_by: str | None = None  # the admin's user name

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS[self.source]


def _package_days(year: int) -> dict[date, tuple[bool, str | None]]:
    days = {}
    for table, workday in ((_PACKAGE_HOLIDAYS, False), (_PACKAGE_WORKDAYS, True)):
        for day, name in table.items():
            if day.year == year:
                days[day] = (workday, HOLIDAY_NAMES.get(str(name), str(name)))
    return days


def periods(days: dict[date, tuple[bool, str | None]]) -> list[Period]:
    """Days off grouped into runs of consecutive days, each with the make-up days of
    the same holiday; make-up days of no run listed on their own."""
    runs: list[list[date]] = []
    for day in sorted(d for d, (w, _) in days.items() if not w):
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    makeup = sorted(d for d, (w, _) in days.items() if w)
    out, used = [], set()
    for run in runs:
        names = tuple(dict.fromkeys(days[d][1] for d in run if days[d][1]))
        mine = tuple(d for d in makeup if d not in used and days[d][1] in names)
        used.update(mine)
        out.append(Period(names, run[0], run[-1], mine))
    for day in makeup:
        if day not in used:
            out.append(Period((days[day][1],) if days[day][1] else (), None, None, (day,)))
    return sorted(out, key=lambda p: p.first or p.makeup[0])


def year_views(deadlines: Deadlines, years: Iterable[int]) -> list[YearView]:
    """Each year's source and its holidays and make-up days, for the admin page."""
    entered = {d: (bool(w), n) for d, w, n in db.session.execute(
        sa.select(CalendarDay.day, CalendarDay.workday, CalendarDay.name))}
    views = []
    for year in years:
        entry = db.session.get(CalendarYear, year)
        if entry is not None:
            source = "entered"
            mine = _entry_days(db.session, year, entry.source)
            days = {d: v for d, v in entered.items() if d in mine}
        else:
            source = "package" if package_knows(year) else "unknown"
            days = _package_days(year) if source == "package" else {}
        user = db.session.get(User, entry.entered_by_id) if entry and entry.entered_by_id \
            else None
        views.append(YearView(year, source, periods(days), entry,
                              user.username if user else None))
    return views


def weekday_label(day: date) -> str:
    """星期一 … 星期日, as the notice names the days."""
    return "星期" + WEEKDAYS[day.weekday()]
