"""The hall display board (/board): figures for today and this week in hall time, the
week's leading windows with the clerk on duty now, no personal data, and a page that
keeps its figures while the server restarts."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk import board, clock, summary
from kiosk.db import db, utcnow
from kiosk.models import Department, Duty, Hall, Rating, Staff, Suggestion, Window

from .helpers import make_window, rating_body, wait_js
from .liveserver import LiveServer

TZ = clock.zone("Asia/Shanghai")
# Wednesday 25 November 2026, 10:00 in the hall (02:00 UTC).
NOW = datetime(2026, 11, 25, 2, 0)
PHONE = "13812345678"
COMMENT = "窗口工作人员态度生硬"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def hall(local: str) -> str:
    """A hall-time moment as the ISO text a tablet sends."""
    return datetime.fromisoformat(local).replace(tzinfo=TZ).isoformat()


def rate(app, window: str, score: int, at: str | None = None, now: datetime = NOW, **more):
    body = rating_body(window=window, score=score, **more)
    if at is not None:
        body["created_at"] = hall(at)
    return app.extensions["kiosk.intake"].accept(body, now=now)


@pytest.fixture
def week(app):
    """Two windows with ratings either side of midnight and of the week's start."""
    since = NOW - timedelta(days=60)
    make_window("A01", name="综合受理窗口", dept="政务服务中心", staff_no="S001",
                staff_name="张丽", on_duty_since=since)
    make_window("B01", name="企业开办窗口", dept="市场监督管理局", staff_no="S002",
                staff_name="王伟", on_duty_since=since)
    make_window("C01", name="社保窗口", dept="人社局", staff_no="S003", staff_name="陈静",
                on_duty_since=since)
    for score in (5, 5, 4):
        rate(app, "A01", score, "2026-11-25 09:30")
    rate(app, "A01", 5, "2026-11-25 07:00")  # Tuesday 23:00 UTC: today in the hall
    rate(app, "B01", 2, "2026-11-25 08:00", phone=PHONE, comment=COMMENT,
         reasons=["attitude"])
    rate(app, "A01", 3, "2026-11-23 00:30")  # Monday 00:30, still Sunday in UTC
    rate(app, "B01", 1, "2026-11-22 23:30")  # last week
    rate(app, "B01", 1, "2026-11-24 15:00")  # excluded below: not counted anywhere
    misuse = db.session.scalar(sa.select(Rating.id).where(Rating.score == 1)
                               .order_by(Rating.created_at.desc()))
    summary.set_counted(db.session, [misuse], False, TZ)
    db.session.commit()


def test_today_and_this_week_are_hall_time_days_and_iso_weeks(app, week):
    figures = board.board(db.session, NOW, TZ)
    # Today: 5, 5, 4, 5 at A01 and 2 at B01.
    assert figures.today.ratings == 5
    assert figures.today.satisfaction == pytest.approx(80.0)
    assert figures.today.good_rate == pytest.approx(80.0)
    # This week adds Monday's 3; last Sunday's 1 and the excluded 1 are not in it.
    assert figures.week.ratings == 6
    assert figures.week.satisfaction == pytest.approx(75.0)
    assert figures.week_label == "2026-W48"
    assert figures.date_text == "2026年11月25日 星期三"
    assert figures.week_text == "第48周（11月23日—11月29日）"


def test_leaders_are_ranked_by_the_league_score_with_the_clerk_on_duty_now(app, week):
    # A clerk change after the ratings: the board names who is at the window now.
    a01 = db.session.scalar(sa.select(Window).where(Window.code == "A01"))
    current = db.session.scalar(sa.select(Duty).where(Duty.window_id == a01.id))
    current.ended_at = NOW - timedelta(hours=1)
    relief = Staff(staff_no="S009", name="李娜", department=a01.department)
    db.session.add(Duty(window=a01, staff=relief, started_at=NOW - timedelta(hours=1)))
    db.session.commit()

    leaders = board.board(db.session, NOW, TZ).leaders
    assert [(w.rank, w.window) for w in leaders] == [(1, "A01"), (2, "B01")]  # C01: none
    first, second = leaders
    # A01: 5,5,4,5,3 -> x = 85, n = 5; B01: 2 -> x = 25, n = 1; m = 75, C = 10.
    assert first.satisfaction == pytest.approx(85.0)
    assert first.score == 78.33  # (10 x 75 + 5 x 85) / 15, rounded half up
    assert second.score == 70.45  # (10 x 75 + 25) / 11
    assert (first.staff, first.staff_no) == ("李娜", "S009")
    assert (second.staff, second.staff_no) == ("王伟", "S002")


def test_the_board_shows_only_the_top_five(app):
    for i in range(7):
        make_window(f"W{i}", name=f"窗口{i}", staff_no=f"S{i}", staff_name=f"员工{i}")
    for i in range(7):
        for _ in range(i + 1):
            rate(app, f"W{i}", 5, now=utcnow())
    leaders = board.board(db.session, utcnow(), TZ).leaders
    assert [w.window for w in leaders] == ["W6", "W5", "W4", "W3", "W2"]


def test_no_phone_comment_or_citizen_text_reaches_the_page_or_the_json(app, client):
    make_window("A01")
    rate(app, "A01", 1, now=utcnow(), phone=PHONE, comment=COMMENT, reasons=["attitude"],
         ticket="T-0042")
    rate(app, "A01", 5, now=utcnow(), comment="态度很好谢谢")
    db.session.add(Suggestion(text="希望增加停车位", phone="13900001111",
                              window_id=db.session.scalar(sa.select(Window.id))))
    db.session.commit()

    page = client.get("/board")
    data = client.get("/board.json")
    assert page.status_code == 200 and data.status_code == 200
    for text in (page.get_data(as_text=True), json.dumps(data.get_json(), ensure_ascii=False)):
        for private in (PHONE, "****", COMMENT, "态度很好谢谢", "T-0042", "希望增加停车位",
                        "13900001111", "服务态度"):
            assert private not in text
    figures = data.get_json()
    assert figures["today"]["ratings"] == 2
    assert figures["this_week"]["satisfaction"] == 50.0
    assert figures["leaders"][0]["staff"] == "张丽"


def test_the_page_carries_the_figures_and_fetches_them_from_the_json(app, client):
    make_window("A01", name="综合受理窗口", staff_name="张丽", staff_no="QH0101")
    for score in (5, 4):
        rate(app, "A01", score, now=utcnow())
    html = client.get("/board").get_data(as_text=True)
    assert "综合受理窗口" in html and "张丽" in html and "QH0101" in html
    assert re.search(r'data-f="today.ratings">2<', html)
    assert re.search(r'data-f="today.satisfaction">87.5<', html)
    assert 'data-source="/board.json"' in html
    assert "<script>" not in html and "onclick" not in html  # JS only from static files


def test_a_city_with_several_halls_picks_one_with_hall(app, client):
    make_window("A01")
    other = Hall(name="城东分中心")
    window = Window(code="Z01", name="城东综合窗口", hall=other,
                    department=Department(hall=other, name="城东政务服务中心"))
    db.session.add(window)
    db.session.commit()
    rate(app, "A01", 5, now=utcnow())
    for _ in range(3):
        rate(app, "Z01", 1, now=utcnow())

    east = client.get(f"/board.json?hall={other.id}").get_json()
    assert east["hall"] == "城东分中心"
    assert east["today"]["ratings"] == 3
    assert [w["window"] for w in east["leaders"]] == ["Z01"]
    page = client.get(f"/board?hall={other.id}").get_data(as_text=True)
    assert "城东分中心" in page and f'data-source="/board.json?hall={other.id}"' in page
    assert client.get("/board.json").get_json()["today"]["ratings"] == 4  # every hall
    assert client.get("/board?hall=999").status_code == 404
    assert client.get("/board.json?hall=abc").status_code == 404


def test_a_week_without_ratings_says_so(app, client):
    make_window("A01")
    html = client.get("/board").get_data(as_text=True)
    assert "本周暂无评价" in html
    data = client.get("/board.json").get_json()
    assert data["leaders"] == [] and data["today"] == {
        "ratings": 0, "bad": 0, "satisfaction": None, "good_rate": None}


# -- in real Chromium (the shared ``browser`` fixture of tests/conftest.py) ------

REFRESH = {"BOARD_REFRESH_SECONDS": "1"}


def test_the_board_on_the_hall_tv_survives_a_server_restart(app, database_uri, tmp_path,
                                                            browser):
    layout = [("A01", "综合受理窗口（一）", "县政务服务中心", "QH0101", "张丽", (5, 5, 4)),
              ("B01", "企业开办窗口", "县市场监督管理局", "QH0201", "李娜", (5, 5, 5, 5)),
              ("D01", "不动产登记受理窗口", "县不动产登记中心", "QH0501", "黄磊", (4, 3, 5)),
              ("E01", "税费综合服务窗口", "国家税务总局清河县税务局", "QH0601", "吴刚", (5, 4)),
              ("F03", "婚姻登记窗口", "县民政局", "QH0901", "朱军", (5, 5, 5)),
              ("C03", "医保经办窗口", "县医疗保障局", "QH0401", "赵敏", (2, 4))]
    for code, name, dept, no, clerk, _ in layout:
        make_window(code, name=name, dept=dept, staff_no=no, staff_name=clerk)
    for code, *_, scores in layout:
        for score in scores:
            rate(app, code, score, now=utcnow(), phone=PHONE, comment=COMMENT)
    srv = LiveServer(database_uri, tmp_path / "srv", config=REFRESH)
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(srv.url + "/board")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "board.png"))
        today = page.locator('[data-f="today.ratings"]')
        assert today.inner_text() == "17"
        assert page.locator("#leaders .row").count() == 5
        assert page.locator("#leaders .row").first.locator(".wname").inner_text() == "企业开办窗口"
        body = page.locator("body").inner_text()
        assert PHONE not in body and COMMENT not in body
        # Everything fits the screen: nothing scrolls or spills.
        assert page.evaluate("document.documentElement.scrollHeight") <= 1080
        assert page.evaluate("document.documentElement.scrollWidth") <= 1920

        # A new rating shows within a refresh, without reloading the page.
        page.evaluate("window.__same_page = true")
        rate(app, "C03", 5, now=utcnow())
        wait_js(page,
            "document.querySelector('[data-f=\"today.ratings\"]').textContent === '18'",
            timeout=10000)

        port = srv.port
        srv.stop()  # the server restarts (or the hall's network drops)
        offline = page.locator("#offline")
        offline.wait_for(state="visible", timeout=10000)
        assert offline.inner_text() == "连接中断，稍后自动恢复"
        assert today.inner_text() == "18"  # the last figures stay
        assert page.locator("#leaders .row").count() == 5
        page.screenshot(path=str(ARTIFACTS / "board-offline.png"))

        rate(app, "A01", 5, now=utcnow())  # stored while the board could not see it
        srv = LiveServer(database_uri, tmp_path / "srv", port=port, config=REFRESH)
        offline.wait_for(state="hidden", timeout=15000)
        wait_js(page,
            "document.querySelector('[data-f=\"today.ratings\"]').textContent === '19'",
            timeout=10000)
        assert page.evaluate("window.__same_page") is True  # updated in place
    finally:
        context.close()
        srv.stop()
