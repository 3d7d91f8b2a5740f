"""Deadlines in Chinese working days (kiosk/workdays.py): the package's calendar, an
admin-entered year, a year nobody knows, the cache, and recomputing case dues."""
from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta

import chinese_calendar
import pytest
import sqlalchemy as sa

from kiosk import clock, workdays
from kiosk.db import db
from kiosk.fields import InputError
from kiosk.models import CalendarDay, CalendarYear, FollowupCase, Rating, Window

from .helpers import make_window

TZ = clock.zone("Asia/Shanghai")
NOTICE_2027 = """# 2027 年国庆节（格式示例）
2027-10-01~2027-10-07 休 国庆节
2027-09-26 班 国庆节
10月9日 班 国庆节
"""


def rated(day: date, hour: int = 10) -> datetime:
    """A rating at ``hour`` o'clock hall time on ``day``, as stored (naive UTC)."""
    return clock.to_utc(datetime.combine(day, time(hour)), TZ)


@pytest.fixture
def deadlines(app):
    return workdays.Deadlines(db.engine, TZ, contact_days=1, resolve_days=15)


def enter(year: int, text: str, shared: workdays.Deadlines) -> workdays.SavedYear:
    saved = workdays.save_year(db.session, None, year, text, shared)
    db.session.commit()
    shared.invalidate()
    return saved


def test_a_rating_on_friday_is_due_on_monday_and_fifteen_working_days_on(deadlines):
    # 2026-11-27 is a Friday; no holiday until New Year.
    assert deadlines.due(rated(date(2026, 11, 27))) == (date(2026, 11, 30), date(2026, 12, 18))
    # Saturday and Sunday count from the same Monday.
    assert deadlines.due(rated(date(2026, 11, 28))) == (date(2026, 11, 30), date(2026, 12, 18))
    assert deadlines.due(rated(date(2026, 11, 29), 23)) == (date(2026, 11, 30), date(2026, 12, 18))


def test_the_day_of_a_rating_is_the_halls_day_not_utcs(deadlines):
    # 00:30 on Monday 30 November in the hall is still Sunday in UTC.
    moment = datetime(2026, 11, 29, 16, 30)
    assert deadlines.local_day(moment) == date(2026, 11, 30)
    assert deadlines.due(moment)[0] == date(2026, 12, 1)


def test_national_day_2026_skips_the_holiday_and_counts_its_make_up_days(deadlines):
    # The package's 2026: 1–7 October off; Sunday 20 September and Saturday 10 October
    # are working days (调休上班).
    assert deadlines.source(2026) == "package"
    assert not any(deadlines.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert deadlines.is_workday(date(2026, 9, 20)) and deadlines.is_workday(date(2026, 10, 10))
    # Rated on Wednesday 30 September: first working day after is Thursday 8 October.
    contact, resolve = deadlines.due(rated(date(2026, 9, 30)))
    assert contact == date(2026, 10, 8)
    # 8, 9, 10 (Saturday, make-up), 12–16, 19–23, 26, 27 October: the 15th is the 27th.
    assert resolve == date(2026, 10, 27)
    # Rated on Friday 9 October: due on the make-up Saturday, not on Monday.
    assert deadlines.due(rated(date(2026, 10, 9)))[0] == date(2026, 10, 10)
    # Rated on Saturday 19 September: due on the make-up Sunday the 20th.
    assert deadlines.due(rated(date(2026, 9, 19)))[0] == date(2026, 9, 20)
    # Mid-Autumn (Friday 25 September) is a day off of its own.
    assert deadlines.due(rated(date(2026, 9, 24)))[0] == date(2026, 9, 28)


def test_the_spring_festival_2026(deadlines):
    # 15–23 February off; Saturdays 14 and 28 February are working days.
    assert deadlines.due(rated(date(2026, 2, 13)))[0] == date(2026, 2, 14)
    assert deadlines.due(rated(date(2026, 2, 14)))[0] == date(2026, 2, 24)
    # 24–27 Feb (4), 28 Feb (5, make-up), 2–6 Mar (10), 9–13 Mar (15).
    assert deadlines.due(rated(date(2026, 2, 14)))[1] == date(2026, 3, 13)


def test_an_entered_year_takes_precedence_over_monday_to_friday(app, deadlines, caplog):
    # 2027 is beyond the package: until someone enters it, Monday–Friday.
    assert deadlines.source(2027) == "unknown"
    assert deadlines.due(rated(date(2027, 9, 30)))[0] == date(2027, 10, 1)
    assert deadlines.due(rated(date(2027, 9, 25)))[0] == date(2027, 9, 27)

    enter(2027, NOTICE_2027, deadlines)

    assert deadlines.source(2027) == "entered"
    assert deadlines.due(rated(date(2027, 9, 30)))[0] == date(2027, 10, 8)
    assert deadlines.due(rated(date(2027, 9, 25)))[0] == date(2027, 9, 26)  # make-up Sunday
    assert deadlines.due(rated(date(2027, 10, 8)))[0] == date(2027, 10, 9)  # make-up Saturday
    # Every day the entry does not list follows Monday–Friday.
    assert not deadlines.is_workday(date(2027, 10, 16))
    assert deadlines.is_workday(date(2027, 5, 3))
    assert deadlines.unknown_years(date(2027, 1, 1), date(2028, 1, 1)) == [2028]


def test_an_entered_year_takes_precedence_over_the_package(app, deadlines):
    assert not deadlines.is_workday(date(2026, 10, 5))
    enter(2026, "2026-10-01~2026-10-03 休 国庆节（只放三天）", deadlines)
    assert deadlines.source(2026) == "entered"
    assert deadlines.is_workday(date(2026, 10, 5))  # not listed: a Monday
    # The entry is the whole year: the package's Spring Festival no longer counts.
    assert deadlines.is_workday(date(2026, 2, 17))
    assert deadlines.is_workday(date(2027, 2, 17))  # other years are untouched
    assert not deadlines.is_workday(date(2025, 10, 6))


def test_a_year_nobody_knows_falls_back_to_monday_to_friday_with_a_warning(
        app, deadlines, caplog):
    caplog.set_level(logging.WARNING, logger="kiosk.workdays")
    assert deadlines.source(2030) == "unknown"
    # 2030-02-01 is a Friday: Monday 4 February, whatever the Spring Festival does.
    assert deadlines.due(rated(date(2030, 2, 1))) == (date(2030, 2, 4), date(2030, 2, 22))
    deadlines.due(rated(date(2030, 3, 1)))
    warnings = [r for r in caplog.records if "2030" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    text = workdays.calendar_warning(deadlines, date(2030, 3, 1))
    assert text and "2030 年" in text and "周一至周五" in text


def test_calendar_warning_names_this_year_and_next_year_from_october(app, deadlines):
    assert workdays.calendar_warning(deadlines, date(2026, 6, 1)) is None
    autumn = workdays.calendar_warning(deadlines, date(2026, 11, 30))
    assert autumn and "2027 年" in autumn and "2026 年" not in autumn
    enter(2027, NOTICE_2027, deadlines)
    assert workdays.calendar_warning(deadlines, date(2026, 11, 30)) is None
    assert "2029 年" in workdays.calendar_warning(deadlines, date(2029, 1, 2))


def test_the_apps_deadlines_follow_its_config(app):
    shared = workdays.deadlines(app)
    assert shared is workdays.deadlines(app)
    assert (shared.contact_days, shared.resolve_days) == (
        app.config["CONTACT_DUE_WORKDAYS"], app.config["RESOLVE_DUE_WORKDAYS"])
    assert shared.tz.key == app.config["TIMEZONE"]


def test_due_reads_the_database_once_then_serves_from_memory(app, deadlines):
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        start = date(2026, 1, 1)
        for i in range(3000):
            deadlines.due(rated(start + timedelta(days=i % 700)))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    assert 1 <= len(statements) <= 2, statements  # the entered years and days, once


def test_an_entry_committed_elsewhere_is_seen_after_the_refresh_interval(app):
    cached = workdays.Deadlines(db.engine, TZ, 1, 15, refresh_seconds=3600)
    fresh = workdays.Deadlines(db.engine, TZ, 1, 15, refresh_seconds=0)
    assert cached.is_workday(date(2027, 10, 4)) and fresh.is_workday(date(2027, 10, 4))
    db.session.add(CalendarYear(year=2027, source="x"))
    db.session.add(CalendarDay(day=date(2027, 10, 4), workday=False, name="国庆节"))
    db.session.commit()
    assert not fresh.is_workday(date(2027, 10, 4))
    assert cached.is_workday(date(2027, 10, 4))  # still the old reading...
    cached.invalidate()
    assert not cached.is_workday(date(2027, 10, 4))  # ...until invalidated


def test_due_is_thread_safe_while_the_calendar_is_invalidated(app, deadlines):
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(0, 500, 3)]
    expected = {d: deadlines.due(rated(d)) for d in days}
    errors, stop = [], threading.Event()

    def work():
        try:
            for _ in range(5):
                for d in days:
                    if deadlines.due(rated(d)) != expected[d]:
                        errors.append(d)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    def churn():
        while not stop.is_set():
            deadlines.invalidate()

    threads = [threading.Thread(target=work) for _ in range(8)]
    churner = threading.Thread(target=churn)
    churner.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    churner.join()
    assert not errors, errors[:5]


# -- parse_notice ---------------------------------------------------------------------

def test_parse_notice_reads_ranges_make_up_days_and_chinese_dates():
    days = workdays.parse_notice(NOTICE_2027 + "1月1日至3日 休 元旦\n", 2027)
    as_dict = {d: (w, n) for d, w, n in days}
    assert len(days) == 12
    assert as_dict[date(2027, 10, 3)] == (False, "国庆节")
    assert as_dict[date(2027, 9, 26)] == (True, "国庆节")
    assert as_dict[date(2027, 10, 9)] == (True, "国庆节")
    assert as_dict[date(2027, 1, 2)] == (False, "元旦")
    # A New Year holiday may start in December of the year before (the 2019 notice).
    early = workdays.parse_notice("2018-12-30 ~ 2019-01-01 休 元旦\n2018-12-29 班 元旦", 2019)
    assert [d for d, _, _ in early] == [date(2018, 12, 29), date(2018, 12, 30),
                                        date(2018, 12, 31), date(2019, 1, 1)]


def test_parse_notice_names_every_bad_line():
    text = "\n".join([
        "2027-10-01~2027-10-07 休 国庆节",  # 1 fine
        "国庆节放假",  # 2 no kind
        "2027-09-27 班 国庆节",  # 3 a Monday is no make-up day
        "2027-10-03 休",  # 4 listed twice
        "2028-01-01 休 元旦",  # 5 another year
        "2027-02-30 休",  # 6 no such date
        "2027-10-08~2027-10-01 休",  # 7 backwards
        "2027-10-01 加班",  # 8 unknown kind
    ])
    with pytest.raises(InputError) as caught:
        workdays.parse_notice(text, 2027)
    lines = caught.value.message.split("\n")
    assert [line.split("：")[0] for line in lines] == [
        f"第 {n} 行" for n in range(2, 9)]
    assert "星期一" in lines[1] and "第 1 行" in lines[2] and "不在 2027 年" in lines[3]
    assert "不存在" in lines[4] and "早于" in lines[5] and "休" in lines[6]


def test_parse_notice_refuses_an_empty_entry():
    with pytest.raises(InputError, match="请按通知填写"):
        workdays.parse_notice("# 只有备注\n\n", 2027)


# -- recomputing the dues of existing cases ---------------------------------------------

def make_case(rated_at: datetime, dues: tuple[date, date]) -> FollowupCase:
    """A case made with the ORM, with the dues given (whatever the calendar says)."""
    window = db.session.scalar(sa.select(Window)) or make_window()
    rating = Rating(client_id=f"c{rated_at.isoformat()}", window=window, score=1,
                    channel="kiosk", created_at=rated_at)
    case = FollowupCase(rating=rating, window=window, rated_at=rated_at, kind="verify",
                        contact_due=dues[0], resolve_due=dues[1])
    db.session.add(case)
    db.session.commit()
    return case


def test_recompute_dues_changes_the_cases_an_entered_year_touches(app, deadlines):
    autumn = make_case(rated(date(2027, 9, 30)), deadlines.due(rated(date(2027, 9, 30))))
    december = make_case(rated(date(2026, 12, 28)), deadlines.due(rated(date(2026, 12, 28))))
    # A case whose deadlines never reach 2027 is left as it is (its odd dues prove it).
    spring = make_case(rated(date(2026, 3, 2)), (date(2026, 3, 4), date(2026, 3, 31)))
    assert autumn.contact_due == date(2027, 10, 1)

    saved = enter(2027, NOTICE_2027 + "2027-01-01 休 元旦\n", deadlines)

    for case in (autumn, december, spring):
        db.session.refresh(case)
    assert saved.cases == 2
    assert (autumn.contact_due, autumn.resolve_due) == deadlines.due(autumn.rated_at)
    assert autumn.contact_due == date(2027, 10, 8)
    # 29–31 Dec 2026, then 1 Jan 2027 is now a holiday: one day later than before.
    assert december.resolve_due == date(2027, 1, 19)
    assert (spring.contact_due, spring.resolve_due) == (date(2026, 3, 4), date(2026, 3, 31))


def test_recompute_dues_directly(app, deadlines):
    case = make_case(rated(date(2027, 9, 30)), (date(2000, 1, 1), date(2027, 12, 31)))
    assert workdays.recompute_dues(db.session, deadlines, [2027]) == 1
    assert workdays.recompute_dues(db.session, deadlines, [2027]) == 0
    assert case.contact_due == date(2027, 10, 1)
    assert workdays.recompute_dues(db.session, deadlines, []) == 0


def test_replacing_and_deleting_an_entered_year(app, deadlines):
    enter(2027, NOTICE_2027, deadlines)
    enter(2027, "2027-05-03~2027-05-05 休 劳动节", deadlines)
    assert deadlines.is_workday(date(2027, 10, 4))  # the old entry's days are gone
    assert not deadlines.is_workday(date(2027, 5, 4))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 3
    assert workdays.delete_year(db.session, None, 2027, deadlines) is not None
    db.session.commit()
    deadlines.invalidate()
    assert deadlines.source(2027) == "unknown" and deadlines.is_workday(date(2027, 5, 4))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 0


def test_without_entries_every_day_the_package_knows_reads_as_the_package_says():
    # kiosk/workdays.py looks the package's tables up itself (its is_workday is slow).
    deadlines = workdays.Deadlines(None, TZ, 1, 15)
    day, last = date(2004, 1, 1), date(2026, 12, 31)
    while day <= last:
        assert deadlines.is_workday(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))  # ...and knows nothing after 2026
    assert deadlines.source(2026) == "package" and deadlines.source(2027) == "unknown"
