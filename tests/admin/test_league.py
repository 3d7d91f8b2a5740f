"""The league and assessment pages, their JSON and CSV, and the league's charts."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk import charts, clock
from kiosk import league as leagues
from kiosk.db import db
from kiosk.models import Department, Duty, Staff, Window

from ..helpers import make_window

TZ = clock.zone("Asia/Shanghai")
LONG_AGO = datetime(2025, 1, 1)


def rate(app, code: str, score: int, local: datetime, times: int = 1) -> None:
    tapped = clock.to_utc(local, TZ)
    for _ in range(times):
        app.extensions["kiosk.intake"].accept(
            {"window": code, "score": score, "channel": "qr",
             "client_id": uuid.uuid4().hex, "created_at": tapped.isoformat() + "Z"},
            now=tapped + timedelta(minutes=1))


@pytest.fixture
def hall(app):
    """Two departments; week 2026-W45 (2–8 November) and the week before rated."""
    make_window("A01", name="综合受理窗口", dept="税务", staff_no="S001", staff_name="张丽",
                on_duty_since=LONG_AGO)
    make_window("A02", name="发票窗口", dept="税务", staff_no="S002", staff_name="王强",
                on_duty_since=LONG_AGO)
    make_window("B01", name="社保窗口", dept="社保", staff_no="S003", staff_name="=李娜",
                on_duty_since=LONG_AGO)
    make_window("B02", name="医保窗口", dept="社保", staff_no=None)
    rate(app, "A01", 5, datetime(2026, 10, 28, 10, 0), times=2)  # 2026-W44
    rate(app, "B01", 3, datetime(2026, 10, 28, 10, 0))
    rate(app, "A01", 4, datetime(2026, 11, 3, 10, 0), times=3)   # 2026-W45
    rate(app, "A02", 5, datetime(2026, 11, 4, 10, 0), times=2)
    rate(app, "B01", 1, datetime(2026, 11, 5, 10, 0))
    rate(app, "B01", 5, datetime(2026, 11, 5, 11, 0))
    return app


def dept_id(name: str) -> int:
    return db.session.scalar(sa.select(Department.id).where(Department.name == name))


def test_league_json_has_the_contract_shape(hall, login):
    client = login("supervisor")
    data = client.get("/admin/league.json?week=2026-W45").get_json()
    assert (data["week"], data["from"], data["to"]) == ("2026-W45", "2026-11-02", "2026-11-08")
    rows = {r["window"]: r for r in data["rows"]}
    assert [r["window"] for r in data["rows"]] == ["A02", "A01", "B01", "B02"]
    a01 = rows["A01"]
    for name in ("rank", "window", "name", "department", "ratings", "bad", "satisfaction",
                 "good_rate", "score", "rank_change"):
        assert name in a01
    assert (a01["name"], a01["department"], a01["clerks"]) == ("综合受理窗口", "税务", "张丽")
    assert (a01["ratings"], a01["satisfaction"], a01["good_rate"], a01["rank"]) == (3, 75.0, 100.0, 2)
    assert a01["rank_change"] == -1  # first last week
    assert rows["B01"]["rank_change"] == -1 and rows["B01"]["bad"] == 1  # 2nd -> 3rd
    assert rows["A02"]["rank_change"] is None  # unranked last week
    assert rows["B02"]["rank"] is None and rows["B02"]["score"] is None


def test_without_a_week_the_current_hall_week_is_meant(hall, login):
    client = login("supervisor")
    data = client.get("/admin/league.json").get_json()
    assert data["week"] == leagues.current("week", TZ).label


def test_league_csv_is_for_excel_and_other_systems(hall, login):
    client = login("supervisor")
    response = client.get("/admin/league.csv?week=2026-W45")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "league-2026-W45.csv" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    # The JSON's field names, then the follow-up figures (kiosk/casestats.py LEAGUE_FIELDS).
    assert list(rows[0]) == [*leagues.FIELDS["window"], "callback_rate", "on_time_rate",
                             "overdue"]
    by_code = {r["window"]: r for r in rows}
    assert by_code["A01"]["name"] == "综合受理窗口"
    assert by_code["A01"]["satisfaction"] == "75.0"
    assert by_code["B01"]["clerks"] == "'=李娜"  # a name that looks like a formula is defused
    assert by_code["B02"]["rank"] == ""  # unranked


def test_league_per_clerk(hall, login):
    client = login("supervisor")
    data = client.get("/admin/league.json?week=2026-W45&by=staff").get_json()
    assert [(r["staff_no"], r["staff"], r["ratings"]) for r in data["rows"]] == [
        ("S002", "王强", 2), ("S001", "张丽", 3), ("S003", "=李娜", 2)]
    text = client.get("/admin/league.csv?week=2026-W45&by=staff").get_data(as_text=True)
    assert text.lstrip("\ufeff").startswith("rank,rank_change,mark,staff_no,staff,")


def test_a_bad_week_is_refused_with_a_clear_message(hall, login):
    client = login("supervisor")
    for path in ("/admin/league.json?week=2026-W99", "/admin/league.csv?week=2026-W99"):
        response = client.get(path)
        assert response.status_code == 400
        assert "2026 has ISO weeks 1-53" in response.get_json()["error"]
    page = client.get("/admin/league?week=2026-W99")
    assert page.status_code == 400
    assert "没有第 99 周" in page.get_data(as_text=True)
    assert "ISO weeks" not in page.get_data(as_text=True)  # the page says it in Chinese only
    by = client.get("/admin/assessment?month=2026-10&by=desk").get_data(as_text=True)
    assert "by 只能是 window 或 staff，收到 &#39;desk&#39;" in by and "must be" not in by
    assert client.get("/admin/league.json?week=2026-W45&by=desk").status_code == 400
    assert client.get("/admin/assessment.json?month=2026-13").status_code == 400
    assert client.get("/admin/assessment.json?month=2026-10&quarter=2026-Q4").status_code == 400


def test_a_department_head_sees_only_their_department(hall, login):
    client = login("department", department="税务")
    data = client.get("/admin/league.json?week=2026-W45").get_json()
    assert {r["window"] for r in data["rows"]} == {"A01", "A02"}
    # Asking for another department does not widen the view.
    other = client.get(f"/admin/league.json?week=2026-W45&department={dept_id('社保')}")
    assert {r["window"] for r in other.get_json()["rows"]} == {"A01", "A02"}
    staff = client.get("/admin/assessment.json?month=2026-11&by=staff").get_json()
    assert {r["staff_no"] for r in staff["rows"]} == {"S001", "S002"}
    page = client.get("/admin/league?week=2026-W45").get_data(as_text=True)
    assert "综合受理窗口" in page and "社保窗口" not in page
    chart = client.get("/admin/charts/trend.png?week=2026-W45&window=B01")
    assert chart.status_code == 404


def test_a_supervisor_may_filter_by_department(hall, login):
    client = login("supervisor")
    data = client.get(f"/admin/league.json?week=2026-W45&department={dept_id('社保')}")
    assert [r["window"] for r in data.get_json()["rows"]] == ["B01", "B02"]


def test_who_may_open_the_league(hall, login, client):
    assert client.get("/admin/league.json").status_code == 401
    assert client.get("/admin/league").status_code == 302
    caller = login("caller")
    for path in ("/admin/league", "/admin/league.json", "/admin/assessment.csv",
                 "/admin/charts/trend.png"):
        assert caller.get(path).status_code == 403, path
    assert 'href="/admin/league"' not in caller.get("/admin/").get_data(as_text=True)


def test_the_league_and_assessment_are_in_the_nav(login):
    # (one sign-in per test: the test app context keeps Flask-Login's user in g)
    nav = login("supervisor").get("/admin/").get_data(as_text=True)
    assert '<a href="/admin/league">周排名</a>' in nav
    assert '<a href="/admin/assessment">月考核</a>' in nav


def test_the_league_page_marks_and_moves(app, login):
    for i in range(8):
        make_window(f"C0{i}", name=f"窗口{i}", staff_no=f"T{i}", staff_name=f"人员{i}",
                    on_duty_since=LONG_AGO)
    for i in range(8):
        rate(app, f"C0{i}", 5 - i % 5, datetime(2026, 10, 27, 9, 0), times=2)
        rate(app, f"C0{i}", 1 + i % 5, datetime(2026, 11, 3, 9, 0), times=i + 1)
    client = login("supervisor")
    response = client.get("/admin/league?week=2026-W45")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count("红旗窗口</span>") == 2 and page.count("后进窗口</span>") == 2
    assert "▲" in page and "▼" in page
    assert 'href="/admin/league?week=2026-W44"' in page
    assert 'href="/admin/league?week=2026-W46"' in page
    assert 'href="/admin/league.csv?week=2026-W45"' in page
    assert 'src="/admin/charts/levels.png?week=2026-W45"' in page
    assert "<script>" not in page
    staff = client.get("/admin/league?week=2026-W45&by=staff").get_data(as_text=True)
    assert "红旗岗" in staff and "人员7" in staff


def test_the_current_week_has_no_next_week_link(hall, login):
    page = login("supervisor").get("/admin/league").get_data(as_text=True)
    nxt = leagues.current("week", TZ).next().label
    assert f"week={nxt}" not in page


def test_assessment_by_month_quarter_and_year(hall, login):
    client = login("supervisor")
    month = client.get("/admin/assessment.json?month=2026-11").get_json()
    assert (month["month"], month["from"], month["to"]) == ("2026-11", "2026-11-01", "2026-11-30")
    assert {r["window"]: r["ratings"] for r in month["rows"]} == {
        "A01": 3, "A02": 2, "B01": 2, "B02": 0}
    october = client.get("/admin/assessment.json?month=2026-10").get_json()
    assert {r["window"]: r["ratings"] for r in october["rows"]}["A01"] == 2
    quarter = client.get("/admin/assessment.json?quarter=2026-Q4").get_json()
    assert (quarter["quarter"], quarter["from"], quarter["to"]) == (
        "2026-Q4", "2026-10-01", "2026-12-31")
    assert {r["window"]: r["ratings"] for r in quarter["rows"]}["A01"] == 5
    year = client.get("/admin/assessment.json?year=2026").get_json()
    assert year["year"] == "2026" and len(year["rows"]) == 4
    response = client.get("/admin/assessment.csv?quarter=2026-Q4")
    assert "assessment-2026-Q4.csv" in response.headers["Content-Disposition"]
    assert response.get_data().startswith("\ufeff".encode())
    page = client.get("/admin/assessment?quarter=2026-Q4").get_data(as_text=True)
    assert "窗口季度考核" in page and "2026年第4季度" in page


def test_assessment_defaults_to_the_last_complete_month(hall, login):
    client = login("supervisor")
    data = client.get("/admin/assessment.json").get_json()
    assert data["month"] == leagues.current("month", TZ).previous().label
    page = client.get("/admin/assessment").get_data(as_text=True)
    assert "窗口月考核" in page


# -- charts --------------------------------------------------------------------------

def test_charts_are_png_kept_a_minute_by_the_browser(hall, login):
    client = login("supervisor")
    for path in ("/admin/charts/trend.png?week=2026-W45&window=A01",
                 "/admin/charts/levels.png?week=2026-W45",
                 "/admin/charts/heatmap.png?week=2026-W45"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "image/png"
        assert response.get_data().startswith(b"\x89PNG")
        assert response.headers["Cache-Control"] == "private, max-age=60"
    assert client.get("/admin/charts/levels.png?week=2026-W99").status_code == 400
    assert client.get("/admin/charts/trend.png?window=NOPE").status_code == 404


def test_a_chart_is_drawn_again_only_when_its_data_changes(hall, login, monkeypatch):
    charts.clear_cache()
    drawn = []
    real = charts.levels_png
    monkeypatch.setattr(charts, "levels_png", lambda rows: drawn.append(rows) or real(rows))
    client = login("supervisor")
    first = client.get("/admin/charts/levels.png?week=2026-W45").get_data()
    assert client.get("/admin/charts/levels.png?week=2026-W45").get_data() == first
    assert len(drawn) == 1
    rate(hall, "B02", 2, datetime(2026, 11, 6, 15, 0))
    assert client.get("/admin/charts/levels.png?week=2026-W45").get_data() != first
    assert len(drawn) == 2
    assert dict(drawn[1])["B02 医保窗口"][2] == 1


def test_the_trend_follows_the_chosen_window(hall, login, monkeypatch):
    charts.clear_cache()
    seen = []
    monkeypatch.setattr(charts, "satisfaction_trend_png",
                        lambda weeks, hall, window=None, label=None:
                        seen.append((weeks, hall, window, label)) or b"\x89PNG")
    client = login("supervisor")
    client.get("/admin/charts/trend.png?week=2026-W45&window=A01")
    weeks, hall_line, window_line, label = seen[0]
    assert weeks[-2:] == ["2026-W44", "2026-W45"] and len(weeks) == 12
    # W44: A01 2 x 100 and B01 1 x 50; W45: 3 x 75, 2 x 100, 0 and 100 over 7.
    assert hall_line[-2:] == [83.3, 75.0]
    assert window_line[-2:] == [100.0, 75.0]
    assert label == "A01 综合受理窗口"


def test_the_heatmap_counts_the_league_week(hall, login, monkeypatch):
    charts.clear_cache()
    seen = []
    monkeypatch.setattr(charts, "heatmap_png",
                        lambda ratings, bad, hours: seen.append((ratings, bad, hours)) or b"x")
    login("department", department="社保").get("/admin/charts/heatmap.png?week=2026-W45")
    ratings, bad, hours = seen[0]
    thursday = 3
    assert ratings[thursday][hours.index(10)] == 1 and bad[thursday][hours.index(10)] == 1
    assert ratings[thursday][hours.index(11)] == 1
    assert sum(map(sum, ratings)) == 2  # B01's two; 税务's windows are not in it


def test_excluded_ratings_leave_the_league_page(hall, login):
    from kiosk import summary
    from kiosk.models import Rating

    ids = db.session.scalars(sa.select(Rating.id).where(Rating.score == 1)).all()
    summary.set_counted(db.session, ids, False, TZ)
    db.session.commit()
    data = login("supervisor").get("/admin/league.json?week=2026-W45").get_json()
    b01 = next(r for r in data["rows"] if r["window"] == "B01")
    assert (b01["ratings"], b01["bad"]) == (1, 0)


def test_a_clerk_moved_mid_week_is_named_with_the_window(hall, login):
    duty = db.session.scalar(sa.select(Duty).join(Window).where(Window.code == "A01"))
    duty.ended_at = clock.to_utc(datetime(2026, 11, 4, 12, 0), TZ)
    relief = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "S003"))
    db.session.add(Duty(window_id=duty.window_id, staff=relief, started_at=duty.ended_at))
    db.session.commit()
    client = login("supervisor")
    rows = client.get("/admin/league.json?week=2026-W45").get_json()["rows"]
    assert next(r for r in rows if r["window"] == "A01")["clerks"] == "张丽、=李娜"
    # The week before, only 张丽 was on duty there.
    rows = client.get("/admin/league.json?week=2026-W44").get_json()["rows"]
    assert next(r for r in rows if r["window"] == "A01")["clerks"] == "张丽"


# -- from a number to the window -----------------------------------------------------

def test_a_window_in_the_table_opens_its_trend_and_keeps_it_from_week_to_week(hall, login):
    client = login("supervisor")
    page = client.get("/admin/league?week=2026-W45").get_data(as_text=True)
    assert 'href="/admin/league?week=2026-W45&amp;window=A01#trend"' in page
    chosen = client.get("/admin/league?week=2026-W45&window=A01").get_data(as_text=True)
    assert '<option value="A01" selected>' in chosen
    assert 'src="/admin/charts/trend.png?week=2026-W45&amp;window=A01"' in chosen
    assert 'href="/admin/league?week=2026-W44&amp;window=A01"' in chosen  # previous week
    assert '<input type="hidden" name="window" value="A01">' in chosen  # the week form
    staff = client.get("/admin/league?week=2026-W45&by=staff").get_data(as_text=True)
    assert 'href="/admin/league?by=staff&amp;week=2026-W45&amp;window=B01#trend"' in staff
    # The assessment has no chart: its windows open the league of the period's last week.
    month = client.get("/admin/assessment?month=2026-10").get_data(as_text=True)
    assert 'href="/admin/league?week=2026-W44&amp;window=A01#trend"' in month


def test_the_staff_league_charts_its_clerks(hall, login, monkeypatch):
    charts.clear_cache()
    drawn = []
    monkeypatch.setattr(charts, "levels_png", lambda rows: drawn.append(rows) or b"\x89PNG")
    client = login("supervisor")
    page = client.get("/admin/league?week=2026-W45&by=staff").get_data(as_text=True)
    assert "各工作人员评价等级分布" in page and "各窗口评价等级分布" not in page
    assert 'src="/admin/charts/levels.png?by=staff&amp;week=2026-W45"' in page
    assert "<h3 class=\"chart-title\">评价时段分布" in page
    client.get("/admin/charts/levels.png?by=staff&week=2026-W45")
    assert [label for label, _ in drawn[0]] == ["S002 王强", "S001 张丽", "S003 =李娜"]
    assert "各窗口评价等级分布" in client.get("/admin/league?week=2026-W45").get_data(as_text=True)
