"""How well bad ratings are followed up (回访整改考核): per window, per clerk, per
department and overall, over the cases of the ratings tapped in a period.

- ``cases``: follow-up cases of the period's ratings (every kind), except those closed
  because an appeal was upheld (their rating left the tables, so do they).
- ``callback_cases``: of those, call backs (a bad rating that left a number);
  ``called_back``: the call backs with at least one attempt recorded (DOMAIN.md's
  target: 100 %). ``callback_rate`` = called_back / callback_cases, in percent.
- ``on_time_rate``: of the cases whose timeliness is settled, the share settled on
  time. A case is *late* once it was contacted after the end of its contact day, or
  not contacted by then, or closed after its resolve day, or is still open past it;
  it is *on time* when it closed with neither. Cases still within their deadlines are
  not counted either way yet.
- ``overdue``: cases overdue today (kiosk/followups.py's rule, the one the call list
  uses).

Rates are None when there is nothing to divide by; rounded half up like the league's.
Timeliness is judged in hall days, so it is computed in Python over one narrow query
(a period's cases are thousands, not millions).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock, followups
from .league import half_up, hall_today
from .models import FollowupCase, Rating, Window

EXCLUDED_OUTCOMES = ("appeal_upheld",)
FIELDS = ("cases", "callback_cases", "called_back", "callback_rate", "on_time_rate",
          "overdue")


@dataclass
class CaseStats:
    """The follow-up figures of one window, clerk, department or the whole scope."""

    cases: int = 0
    callback_cases: int = 0
    called_back: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0

    @property
    def callback_rate(self) -> float | None:
        """回访率 in percent."""
        if not self.callback_cases:
            return None
        return half_up(Fraction(100 * self.called_back, self.callback_cases), 1)

    @property
    def on_time_rate(self) -> float | None:
        """按时办结率 in percent."""
        settled = self.on_time + self.late
        return half_up(Fraction(100 * self.on_time, settled), 1) if settled else None

    def as_dict(self) -> dict:
        return {"cases": self.cases, "callback_cases": self.callback_cases,
                "called_back": self.called_back, "callback_rate": self.callback_rate,
                "on_time_rate": self.on_time_rate, "overdue": self.overdue}

    def add(self, case, today: date, tz: ZoneInfo) -> None:
        self.cases += 1
        if case.kind == "callback":
            self.callback_cases += 1
            if case.contacted_at is not None:
                self.called_back += 1
        verdict = timeliness(case, today, tz)
        if verdict == "on_time":
            self.on_time += 1
        elif verdict == "late":
            self.late += 1
        if followups.is_overdue(case, today):
            self.overdue += 1


def _local_day(moment: datetime | None, tz: ZoneInfo) -> date | None:
    return None if moment is None else clock.to_local(moment, tz).date()


def contacted_in_time(contacted_at: datetime, contact_due: date, tz: ZoneInfo) -> bool:
    """The contact rule: first contacted by the end of the contact day (hall time)."""
    return _local_day(contacted_at, tz) <= contact_due


def timeliness(case, today: date, tz: ZoneInfo) -> str | None:
    """``"on_time"``, ``"late"`` or None (still within its deadlines) for one case."""
    closed = _local_day(case.closed_at, tz) if case.status == "closed" else None
    if case.contacted_at is None and (today > case.contact_due
                                      or (closed is not None and closed > case.contact_due)):
        return "late"
    if case.contacted_at is not None and not contacted_in_time(case.contacted_at,
                                                               case.contact_due, tz):
        return "late"
    if closed is not None:
        return "late" if closed > case.resolve_due else "on_time"
    return "late" if today > case.resolve_due else None


@dataclass
class Report:
    """Follow-up figures of a period: overall and per window, clerk and department."""

    overall: CaseStats
    by_window: dict[int, CaseStats]
    by_staff: dict[int, CaseStats]
    by_department: dict[int, CaseStats]

    def window(self, window_id: int) -> CaseStats:
        return self.by_window.get(window_id) or CaseStats()

    def staff(self, staff_id: int) -> CaseStats:
        return self.by_staff.get(staff_id) or CaseStats()

    def department(self, department_id: int) -> CaseStats:
        return self.by_department.get(department_id) or CaseStats()


def report(session, start: datetime | None, end: datetime | None, today: date,
           tz: ZoneInfo, *, hall_id: int | None = None,
           department_id: int | None = None) -> Report:
    """The figures of the cases whose rating was tapped in [start, end) (naive UTC;
    None is open), of one hall or department (all without), as of hall day ``today``."""
    session.flush()
    stmt = (sa.select(FollowupCase.kind, FollowupCase.status, FollowupCase.contact_due,
                      FollowupCase.resolve_due, FollowupCase.contacted_at,
                      FollowupCase.closed_at, FollowupCase.window_id,
                      Window.department_id, Rating.staff_id)
            .join(Window, Window.id == FollowupCase.window_id)
            .join(Rating, Rating.id == FollowupCase.rating_id)
            .where(sa.or_(FollowupCase.outcome.is_(None),
                          FollowupCase.outcome.not_in(EXCLUDED_OUTCOMES))))
    if start is not None:
        stmt = stmt.where(FollowupCase.rated_at >= start)
    if end is not None:
        stmt = stmt.where(FollowupCase.rated_at < end)
    if hall_id is not None:
        stmt = stmt.where(Window.hall_id == hall_id)
    if department_id is not None:
        stmt = stmt.where(Window.department_id == department_id)
    overall = CaseStats()
    by_window: dict[int, CaseStats] = defaultdict(CaseStats)
    by_staff: dict[int, CaseStats] = defaultdict(CaseStats)
    by_department: dict[int, CaseStats] = defaultdict(CaseStats)
    for case in session.execute(stmt):
        overall.add(case, today, tz)
        by_window[case.window_id].add(case, today, tz)
        by_department[case.department_id].add(case, today, tz)
        if case.staff_id is not None:
            by_staff[case.staff_id].add(case, today, tz)
    return Report(overall, dict(by_window), dict(by_staff), dict(by_department))


def open_now(session, today: date, *, department_id: int | None = None) -> CaseStats:
    """Cases not closed, whenever rated (the dashboard's 待办 and 逾期): ``cases`` is
    how many are open, ``overdue`` how many of them are overdue today."""
    where = [FollowupCase.status != "closed"]
    if department_id is not None:
        where.append(FollowupCase.window_id.in_(
            sa.select(Window.id).where(Window.department_id == department_id)))
    total = session.scalar(sa.select(sa.func.count()).select_from(FollowupCase).where(*where))
    overdue = session.scalar(sa.select(sa.func.count()).select_from(FollowupCase)
                             .where(*where, followups.overdue_clause(today)))
    return CaseStats(cases=total, overdue=overdue)


# The follow-up figures each league and assessment row carries (JSON, CSV, pages and
# the read API), after the league's own fields.
LEAGUE_FIELDS = ("callback_rate", "on_time_rate", "overdue")


def for_table(session, table, tz: ZoneInfo, *, hall_id: int | None = None,
              department_id: int | None = None) -> Report:
    """The figures of the cases of a league table's period (kiosk/league.py League),
    of one hall or department (all without), as of today in the hall."""
    start, end = table.period.utc_range(tz)
    return report(session, start, end, hall_today(tz), tz,
                  hall_id=hall_id, department_id=department_id)


def league_rows(table, figures: Report) -> list[dict]:
    """The table's rows (as dicts) with each row's LEAGUE_FIELDS added."""
    rows = []
    for row in table.rows:
        stats = figures.window(row.id) if table.by == "window" else figures.staff(row.id)
        values = stats.as_dict()
        rows.append({**row.as_dict(table.by), **{f: values[f] for f in LEAGUE_FIELDS}})
    return rows


def league_document(table, figures: Report) -> dict:
    """What league.json and assessment.json (and the read API's league) answer."""
    data = table.as_dict()
    data["rows"] = league_rows(table, figures)
    data["followups"] = figures.overall.as_dict()
    return data
