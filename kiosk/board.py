"""The hall display board (/board): what the TV in the hall shows.

This week's leading windows with the clerk on duty now, and the hall's satisfaction
and rating count today and this week. Only what the hall already shows in public (the
挂牌 card: window, clerk's name and staff number) and totals: never a citizen's phone,
comment or any other text a citizen wrote.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock, items, league, summary
from .glance import Scope, Totals, totals
from .models import Hall, Staff, Window

TOP = 5
# 事项公示 (kiosk/items.py): while the figures stay unchanged, the board steps through
# the hall's service items, ITEMS_PER_PAGE at a time, after showing the leaders.
ITEMS_PER_PAGE = 4
LEADERS_SECONDS = 20
ITEM_PAGE_SECONDS = 10
ROTATION = {"leaders": LEADERS_SECONDS, "page": ITEM_PAGE_SECONDS, "per_page": ITEMS_PER_PAGE}
WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


@dataclass(frozen=True)
class Leader:
    """One of this week's leading windows, as the board shows it."""

    rank: int
    window: str  # code
    name: str
    department: str
    ratings: int
    satisfaction: float
    score: float
    staff: str | None  # the clerk on duty now
    staff_no: str | None
    photo: str | None  # file name under instance/photos

    def as_json(self, photo_url=None) -> dict:
        return {"rank": self.rank, "window": self.window, "name": self.name,
                "department": self.department, "ratings": self.ratings,
                "satisfaction": self.satisfaction, "score": self.score,
                "staff": self.staff, "staff_no": self.staff_no,
                "photo": photo_url(self.photo) if (photo_url and self.photo) else None}


@dataclass(frozen=True)
class Board:
    hall: str
    hall_id: int | None
    at: datetime  # hall time of the figures
    monday: date
    today: Totals
    week: Totals
    leaders: list[Leader]
    items: list[items.PublicItem] = field(default_factory=list)

    @property
    def week_label(self) -> str:
        return league.Period("week", self.monday).label

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    @property
    def date_text(self) -> str:
        """``11月30日 星期一``"""
        day = self.at.date()
        return f"{day.year}年{day.month}月{day.day}日 {WEEKDAYS[day.weekday()]}"

    @property
    def week_text(self) -> str:
        """``第48周（11月24日—11月30日）``"""
        first, last = self.monday, self.sunday
        return (f"第{first.isocalendar()[1]}周（{first.month}月{first.day}日—"
                f"{last.month}月{last.day}日）")

    def as_json(self, photo_url=None) -> dict:
        """The board's figures for /board.json (and nothing else)."""
        return {"hall": self.hall, "hall_id": self.hall_id,
                "at": self.at.isoformat(timespec="seconds"),
                "updated": self.at.strftime("%H:%M"),
                "date": self.at.date().isoformat(), "date_text": self.date_text,
                "week": self.week_label, "week_text": self.week_text,
                "week_from": self.monday.isoformat(), "week_to": self.sunday.isoformat(),
                "today": self.today.as_json(), "this_week": self.week.as_json(),
                "leaders": [leader.as_json(photo_url) for leader in self.leaders],
                "items": [item.as_json() for item in self.items]}


def league_leaders(session, tz: ZoneInfo, monday: date, scope: Scope, prior: float,
                   top: int = TOP) -> list[league.LeagueRow]:
    """The ``top`` ranked windows of the league of the week starting ``monday``
    (kiosk/league.py: the same table as /admin/league), best first."""
    table = league.league_table(session, league.Period("week", monday), tz,
                                hall_id=scope.hall_id, department_id=scope.department_id,
                                prior=prior)
    return [row for row in table.rows if row.rank is not None][:top]


def on_duty(session, window_id: int, now: datetime) -> Staff | None:
    """The clerk on duty at a window at ``now`` (naive UTC), by Window.duty_at."""
    window = session.get(Window, window_id)
    duty = session.scalar(window.duty_at(now)) if window else None
    return duty.staff if duty else None


def halls(session) -> list[Hall]:
    return list(session.scalars(sa.select(Hall).order_by(Hall.id)))


def board(session, now: datetime, tz: ZoneInfo, hall_id: int | None = None,
          prior: float = 10) -> Board | None:
    """The board of hall ``hall_id`` (every hall when None) at ``now`` (naive UTC);
    None when there is no such hall."""
    if hall_id is None:
        all_halls = halls(session)
        name = all_halls[0].name if len(all_halls) == 1 else "政务服务大厅"
        scope = Scope()
    else:
        hall = session.get(Hall, hall_id)
        if hall is None:
            return None
        name, scope = hall.name, Scope(hall_id=hall.id)
    today = league.hall_today(tz, now)
    monday = summary.period_start("w", today)
    ranked = league_leaders(session, tz, monday, scope, prior)
    leaders = []
    for row in ranked:
        clerk = on_duty(session, row.id, now)
        figures = row.as_dict("window")  # rounded as the league rounds
        leaders.append(Leader(
            rank=row.rank, window=row.code, name=row.name, department=row.department,
            ratings=row.ratings, satisfaction=figures["satisfaction"], score=figures["score"],
            staff=clerk.name if clerk else None, staff_no=clerk.staff_no if clerk else None,
            photo=clerk.photo if clerk else None))
    return Board(hall=name, hall_id=hall_id, at=clock.to_local(now, tz), monday=monday,
                 today=totals(session, "d", today, scope),
                 week=totals(session, "w", monday, scope), leaders=leaders,
                 items=items.hall_items(session, hall_id))
