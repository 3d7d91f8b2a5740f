"""League tables and assessments from the live summary, against hand-computed cases."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk import clock, summary
from kiosk import league as leagues
from kiosk.db import db
from kiosk.models import Department, Duty, Hall, Rating, Staff, Window

from .helpers import make_window

TZ = clock.zone("Asia/Shanghai")
LONG_AGO = datetime(2025, 1, 1)
W45 = leagues.parse_week("2026-W45")  # Monday 2 November to Sunday 8 November 2026


def rate(app, code: str, score: int, local: datetime, times: int = 1) -> list[int]:
    """Store ``times`` ratings of ``score`` at window ``code``, tapped at hall time
    ``local``, through the real write path."""
    tapped = clock.to_utc(local, TZ)
    ids = []
    for _ in range(times):
        stored = app.extensions["kiosk.intake"].accept(
            {"window": code, "score": score, "channel": "qr",
             "client_id": uuid.uuid4().hex, "created_at": tapped.isoformat() + "Z"},
            now=tapped + timedelta(minutes=1))
        ids.append(stored.id)
    return ids


def window(code: str, dept: str = "政务服务中心", staff_no: str | None = None,
           staff_name: str = "张丽") -> Window:
    return make_window(code, name=f"{code}号窗口", dept=dept, staff_no=staff_no,
                       staff_name=staff_name, on_duty_since=LONG_AGO)


def table(period=W45, **kwargs) -> leagues.League:
    db.session.expire_all()
    return leagues.league_table(db.session, period, TZ, **kwargs)


def by_code(league: leagues.League) -> dict[str, dict]:
    return {row.code: row.as_dict(league.by) for row in league.rows}


# -- periods -----------------------------------------------------------------------

def test_periods_parse_format_and_step():
    week = leagues.parse_week("2026-W01")
    assert (week.first, week.last) == (date(2025, 12, 29), date(2026, 1, 4))
    assert week.previous().label == "2025-W52"  # 2025 has 52 ISO weeks
    assert leagues.parse_week("2026-W53").next().label == "2027-W01"  # 2026 has 53
    month = leagues.parse_month("2026-02")
    assert (month.first, month.last, month.label) == (date(2026, 2, 1), date(2026, 2, 28), "2026-02")
    assert month.previous().label == "2026-01"
    assert leagues.parse_month("2026-01").previous().label == "2025-12"
    quarter = leagues.parse_quarter("2026-Q1")
    assert (quarter.first, quarter.last) == (date(2026, 1, 1), date(2026, 3, 31))
    assert quarter.previous().label == "2025-Q4"
    assert quarter.summary_periods() == ("m", (date(2026, 1, 1), date(2026, 2, 1),
                                               date(2026, 3, 1)))
    year = leagues.parse_year("2026")
    assert (year.last, year.previous().label, year.summary_periods()) == (
        date(2026, 12, 31), "2025", ("y", (date(2026, 1, 1),)))
    assert leagues.period_of("quarter", date(2026, 8, 15)).label == "2026-Q3"
    assert leagues.period_of("week", date(2026, 3, 8)).label == "2026-W10"  # a Sunday


def test_a_week_runs_from_monday_midnight_in_the_hall():
    start, end = leagues.parse_week("2026-W11").utc_range(TZ)
    assert (start, end) == (datetime(2026, 3, 8, 16, 0), datetime(2026, 3, 15, 16, 0))


@pytest.mark.parametrize("kind, text, says", [
    ("week", "2026-W99", "2026 has ISO weeks 1-53"),
    ("week", "2027-W53", "2027 has ISO weeks 1-52"),
    ("week", "2026-10", "YYYY-Www"),
    ("month", "2026-13", "no such month"),
    ("quarter", "2026-Q5", "no such quarter"),
    ("year", "twenty", "YYYY"),
])
def test_a_bad_period_says_what_is_wrong(kind, text, says):
    with pytest.raises(ValueError, match=says):
        leagues.parse_period(kind, text)


# -- the table ---------------------------------------------------------------------

def test_the_smoothed_score_keeps_two_lucky_ratings_off_the_top(app):
    for code in ("A01", "A02", "A03"):
        window(code)
    monday = datetime(2026, 11, 2, 10, 0)
    rate(app, "A01", 5, monday, times=2)                    # x = 100, n = 2
    rate(app, "A02", 5, monday, times=27)                   # 27 x 100 + 3 x 75
    rate(app, "A02", 4, monday + timedelta(days=1), times=3)  # x = 97.5, n = 30
    rate(app, "A03", 3, monday, times=10)                   # 10 x 50 + 10 x 75
    rate(app, "A03", 4, monday, times=10)                   # x = 62.5, n = 20

    league = table(prior=10)
    # m = (200 + 2925 + 1250) / 52 = 84.1346...
    assert league.as_dict()["mean_satisfaction"] == 84.1
    rows = by_code(league)
    # A02: (10 m + 2925) / 40 = 94.1587; A01: (10 m + 200) / 12 = 86.7788;
    # A03: (10 m + 1250) / 30 = 69.7115
    assert [r.code for r in league.rows] == ["A02", "A01", "A03"]
    assert [rows[c]["score"] for c in ("A02", "A01", "A03")] == [94.16, 86.78, 69.71]
    assert [rows[c]["satisfaction"] for c in ("A02", "A01", "A03")] == [97.5, 100.0, 62.5]
    assert rows["A02"]["ratings"] == 30 and rows["A02"]["level_5"] == 27
    assert rows["A02"]["level_4"] == 3 and rows["A03"]["level_3"] == 10
    assert rows["A03"]["good_rate"] == 100.0 and rows["A03"]["bad"] == 0

    # With no prior the raw satisfaction ranks them.
    assert [r.code for r in table(prior=0).rows] == ["A01", "A02", "A03"]


def test_counts_rates_and_bad_ratings(app):
    window("A01")
    day = datetime(2026, 11, 4, 9, 30)
    for score in (5, 4, 3, 2, 1, 1):
        rate(app, "A01", score, day)
    row = by_code(table())["A01"]
    assert row["ratings"] == 6 and row["bad"] == 3
    assert [row[f"level_{lv}"] for lv in (5, 4, 3, 2, 1)] == [1, 1, 1, 1, 2]
    # (100 + 75 + 50 + 25 + 0 + 0) / 6 = 41.67
    assert row["satisfaction"] == 41.7
    assert (row["good_rate"], row["bad_rate"]) == (50.0, 50.0)


def test_ties_go_to_more_ratings_then_to_the_window_code(app):
    for code in ("A03", "A01", "A02"):
        window(code)
    day = datetime(2026, 11, 5, 14, 0)
    rate(app, "A03", 5, day, times=2)
    rate(app, "A01", 5, day, times=2)
    rate(app, "A02", 5, day, times=4)
    league = table()
    assert [(r.code, r.rank) for r in league.rows] == [("A02", 1), ("A01", 2), ("A03", 3)]
    assert {row.as_dict("window")["score"] for row in league.rows} == {100.0}


def test_windows_without_ratings_are_listed_last_unranked(app):
    for code in ("A01", "B01", "B02", "C01"):
        window(code)
    closed = window("Z99")
    closed.active = False
    db.session.commit()
    rate(app, "C01", 4, datetime(2026, 11, 6, 10, 0))
    rate(app, "A01", 3, datetime(2026, 11, 6, 10, 0))
    rows = [r.as_dict("window") for r in table().rows]
    assert [(r["window"], r["rank"]) for r in rows] == [
        ("C01", 1), ("A01", 2), ("B01", None), ("B02", None)]  # a closed window is left out
    assert rows[2]["score"] is None and rows[2]["satisfaction"] is None
    assert rows[2]["ratings"] == 0 and rows[2]["rank_change"] is None


def test_rank_change_compares_with_last_week(app):
    for code in ("A01", "A02", "A03"):
        window(code)
    last_week = datetime(2026, 10, 28, 10, 0)  # Wednesday of 2026-W44
    rate(app, "A01", 5, last_week, times=3)
    rate(app, "A02", 3, last_week, times=3)
    this_week = datetime(2026, 11, 3, 10, 0)
    rate(app, "A01", 2, this_week, times=3)
    rate(app, "A02", 5, this_week, times=3)
    rate(app, "A03", 4, this_week, times=3)
    rows = by_code(table())
    assert (rows["A02"]["rank"], rows["A02"]["rank_change"]) == (1, 1)    # up from 2nd
    assert (rows["A01"]["rank"], rows["A01"]["rank_change"]) == (3, -2)   # down from 1st
    assert (rows["A03"]["rank"], rows["A03"]["rank_change"]) == (2, None)  # new
    before = by_code(table(W45.previous()))
    assert (before["A01"]["rank"], before["A02"]["rank"], before["A03"]["rank"]) == (1, 2, None)


def test_a_week_ends_at_midnight_between_sunday_and_monday_in_shanghai(app):
    window("A01")
    rate(app, "A01", 2, datetime(2026, 3, 8, 23, 59))  # Sunday night: week 10
    rate(app, "A01", 5, datetime(2026, 3, 9, 0, 0))    # Monday 00:00 = Sunday 16:00 UTC
    assert clock.to_utc(datetime(2026, 3, 9), TZ) == datetime(2026, 3, 8, 16, 0)
    w10 = by_code(table(leagues.parse_week("2026-W10")))["A01"]
    w11 = by_code(table(leagues.parse_week("2026-W11")))["A01"]
    assert (w10["ratings"], w10["level_2"], w10["satisfaction"]) == (1, 1, 25.0)
    assert (w11["ratings"], w11["level_5"], w11["satisfaction"]) == (1, 1, 100.0)


def test_a_quarter_sums_its_three_months_in_hall_time(app):
    window("A01")
    window("A02")
    rate(app, "A01", 1, datetime(2025, 12, 31, 23, 59))  # 2025-Q4
    rate(app, "A02", 5, datetime(2025, 11, 15, 9, 0))    # 2025-Q4
    rate(app, "A01", 5, datetime(2026, 1, 1, 0, 0))      # the first minute of Q1
    rate(app, "A01", 4, datetime(2026, 2, 15, 9, 0))
    rate(app, "A01", 3, datetime(2026, 3, 31, 23, 59))
    rate(app, "A02", 2, datetime(2026, 3, 10, 9, 0))
    rate(app, "A02", 5, datetime(2026, 4, 1, 0, 0))      # 2026-Q2
    league = table(leagues.parse_quarter("2026-Q1"))
    data = league.as_dict()
    assert (data["quarter"], data["from"], data["to"]) == ("2026-Q1", "2026-01-01", "2026-03-31")
    rows = by_code(league)
    assert (rows["A01"]["ratings"], rows["A01"]["satisfaction"]) == (3, 75.0)
    assert (rows["A02"]["ratings"], rows["A02"]["bad"]) == (1, 1)
    # Last quarter A02 (100) led A01 (0); now A01 leads.
    assert (rows["A01"]["rank"], rows["A01"]["rank_change"]) == (1, 1)
    assert (rows["A02"]["rank"], rows["A02"]["rank_change"]) == (2, -1)
    year = by_code(table(leagues.parse_year("2026")))
    assert year["A01"]["ratings"] + year["A02"]["ratings"] == 5


def test_excluded_ratings_are_not_counted(app):
    window("A01")
    window("A02")
    day = datetime(2026, 11, 3, 11, 0)
    rate(app, "A01", 5, day, times=2)
    mashed = rate(app, "A02", 1, day, times=3)
    rate(app, "A02", 5, day)
    summary.set_counted(db.session, mashed[1:], False, TZ)  # two presses were a child's
    db.session.commit()
    rows = by_code(table())
    assert (rows["A02"]["ratings"], rows["A02"]["bad"], rows["A02"]["satisfaction"]) == (2, 1, 50.0)
    month = by_code(table(leagues.parse_month("2026-11")))
    assert month["A02"]["ratings"] == 2
    summary.set_counted(db.session, mashed[1:2], True, TZ)  # one reinstated on appeal
    db.session.commit()
    assert by_code(table())["A02"]["ratings"] == 3


def test_per_clerk_ratings_go_to_the_clerk_on_duty(app):
    a01 = window("A01", staff_no="S001", staff_name="张丽")
    window("B01")  # no clerk on duty: counts for the window only
    zhang = db.session.scalar(sa.select(Duty).where(Duty.window_id == a01.id))
    handover = clock.to_utc(datetime(2026, 11, 4, 12, 0), TZ)
    zhang.ended_at = handover
    wang = Staff(staff_no="S002", name="王强", department=a01.department)
    db.session.add(Duty(window_id=a01.id, staff=wang, started_at=handover))
    db.session.add(Staff(staff_no="S003", name="李娜"))  # never on duty: not listed
    db.session.commit()
    rate(app, "A01", 5, datetime(2026, 11, 4, 11, 59), times=2)  # 张丽
    rate(app, "A01", 1, datetime(2026, 11, 4, 12, 0))            # 王强
    rate(app, "B01", 1, datetime(2026, 11, 4, 12, 0), times=3)   # nobody

    staff = table(by="staff")
    data = staff.as_dict()
    assert data["by"] == "staff"
    rows = {r["staff_no"]: r for r in data["rows"]}
    assert set(rows) == {"S001", "S002"}
    assert (rows["S001"]["staff"], rows["S001"]["ratings"], rows["S001"]["windows"]) == (
        "张丽", 2, "A01")
    assert (rows["S002"]["staff"], rows["S002"]["ratings"], rows["S002"]["bad"]) == ("王强", 1, 1)
    assert "window" not in rows["S001"] and "name" not in rows["S001"]
    # m = 200 / 3 over the ratings with a clerk (B01's three are not in it):
    # 张丽 (10 m + 200) / 12 = 72.22; 王强 (10 m + 0) / 11 = 60.61
    assert data["mean_satisfaction"] == 66.7
    assert (rows["S001"]["rank"], rows["S001"]["score"]) == (1, 72.22)
    assert (rows["S002"]["rank"], rows["S002"]["score"]) == (2, 60.61)
    # The window table names both clerks who were on duty that week.
    assert by_code(table())["A01"]["clerks"] == "张丽、王强"


def test_red_flag_and_laggard_marks(app):
    for i in range(8):
        window(f"A0{i}")
    day = datetime(2026, 11, 5, 10, 0)
    for i, score in enumerate((5, 5, 4, 4, 3, 3, 2, 1)):
        rate(app, f"A0{i}", score, day, times=i + 1)
    marks = [(r.code, r.mark) for r in table().rows]
    # 8 ranked: a quarter of them (2) at either end.
    assert [m for _, m in marks] == ["red_flag"] * 2 + [None] * 4 + ["laggard"] * 2


def test_a_small_league_marks_nobody(app):
    for code in ("A01", "A02", "A03"):
        window(code)
    for code, score in (("A01", 5), ("A02", 3), ("A03", 1)):
        rate(app, code, score, datetime(2026, 11, 5, 10, 0))
    assert [r.mark for r in table().rows] == [None, None, None]


def test_a_department_filter_shows_its_rows_of_the_hall_league(app):
    window("A01", dept="税务")
    window("A02", dept="税务")
    window("B01", dept="社保")
    day = datetime(2026, 11, 3, 10, 0)
    rate(app, "A01", 5, day)
    rate(app, "A02", 3, day)
    rate(app, "B01", 1, day, times=6)
    tax = db.session.scalar(sa.select(Department.id).where(Department.name == "税务"))
    league = table(department_id=tax)
    assert [r.code for r in league.rows] == ["A01", "A02"]
    # m is the hall's (100 + 50 + 6 x 0) / 8 = 18.75, shown half up as 18.8, and the
    # rows keep the score and rank management sees in the hall table.
    assert league.as_dict()["mean_satisfaction"] == 18.8
    hall = db.session.scalar(sa.select(Hall.id))
    whole = table(hall_id=hall)
    assert [r.code for r in whole.rows] == ["A01", "A02", "B01"]
    assert [(r.rank, r.score) for r in league.rows] == [(r.rank, r.score)
                                                         for r in whole.rows[:2]]


def test_numbers_are_rounded_half_up_from_their_exact_values(app):
    window("A01")
    day = datetime(2026, 11, 3, 10, 0)
    rate(app, "A01", 5, day)  # 1 of 16 good: 6.25 % -> 6.3, satisfaction 6.25 -> 6.3
    rate(app, "A01", 1, day, times=15)
    row = by_code(table())["A01"]
    assert (row["good_rate"], row["bad_rate"], row["satisfaction"]) == (6.3, 93.8, 6.3)


def test_the_league_is_a_sum_of_the_summary_not_a_scan(app):
    window("A01")
    rate(app, "A01", 4, datetime(2026, 11, 3, 10, 0), times=2)
    # Tamper with the ratings behind the summary's back: the table must not notice.
    db.session.execute(sa.update(Rating).values(score=1))
    db.session.commit()
    assert by_code(table())["A01"]["level_4"] == 2


# -- chart data --------------------------------------------------------------------

def test_satisfaction_trend_over_twelve_weeks(app):
    a01 = window("A01")
    window("A02")
    rate(app, "A01", 5, datetime(2026, 11, 3, 10, 0))           # W45
    rate(app, "A02", 1, datetime(2026, 11, 3, 10, 0))           # W45
    rate(app, "A02", 4, datetime(2026, 10, 20, 10, 0))          # W43
    trend = leagues.satisfaction_trend(db.session, W45, window_id=a01.id)
    assert len(trend.weeks) == 12
    assert trend.weeks[0] == "2026-W34" and trend.weeks[-1] == "2026-W45"
    assert trend.hall[-1] == 50.0 and trend.hall[-3] == 75.0 and trend.hall[-2] is None
    assert trend.window[-1] == 100.0 and trend.window[-3] is None


def test_level_counts_for_the_levels_chart(app):
    window("A01")
    window("A02")
    window("A03")
    rate(app, "A01", 5, datetime(2026, 11, 3, 10, 0), times=2)
    rate(app, "A02", 2, datetime(2026, 11, 3, 10, 0))
    counts = leagues.level_counts(table())
    assert counts == [("A01 A01号窗口", {5: 2, 4: 0, 3: 0, 2: 0, 1: 0}),
                      ("A02 A02号窗口", {5: 0, 4: 0, 3: 0, 2: 1, 1: 0})]
