"""The dashboard (/admin/): this week at a glance, next to last week up to the same moment."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest

from kiosk import clock, glance, summary
from kiosk.db import db
from kiosk.models import Suggestion, Window

from ..helpers import make_window, rating_body

TZ = clock.zone("Asia/Shanghai")
NOW = datetime(2026, 11, 25, 2, 0)  # Wednesday 25 November 2026, 10:00 in the hall
PHONE = "13812345678"


def rate(app, window: str, score: int, local: str, **more) -> None:
    body = rating_body(window=window, score=score, **more)
    body["created_at"] = datetime.fromisoformat(local).replace(tzinfo=TZ).isoformat()
    app.extensions["kiosk.intake"].accept(body, now=NOW)


@pytest.fixture
def hall(app, monkeypatch):
    monkeypatch.setattr("admin.dashboard.utcnow", lambda: NOW)
    since = NOW - timedelta(days=60)
    make_window("A01", name="综合受理窗口", dept="政务服务中心", staff_no="S001",
                on_duty_since=since)
    make_window("B01", name="企业开办窗口", dept="市场监督管理局", staff_no="S002",
                on_duty_since=since)
    # This week (Monday 23 to Wednesday 25 November).
    for score in (5, 5, 4):
        rate(app, "A01", score, "2026-11-25 09:00")
    rate(app, "A01", 1, "2026-11-24 11:20", reasons=["waiting", "attitude"],
         comment="等了一个小时还没办完")
    rate(app, "B01", 2, "2026-11-23 00:10", reasons=["waiting"], comment="排队太久",
         phone=PHONE)
    # The same days of last week, and a later day of last week.
    rate(app, "A01", 5, "2026-11-17 10:00")
    rate(app, "B01", 1, "2026-11-18 15:00")
    rate(app, "A01", 1, "2026-11-19 10:00", reasons=["other"], comment="上周四的留言")
    rate(app, "A01", 1, "2026-11-22 23:50", reasons=["facilities"], comment="上周日深夜")


def stats(html: str) -> dict[str, tuple[str, str]]:
    """label -> (value, change) of the figures at the top of the page."""
    found = re.findall(r'<div class="value">(.*?)</div>\s*<div class="label">(.*?)</div>'
                       r'<div class="delta">(.*?)</div>', html, re.S)
    return {label: (value, re.sub(r"<[^>]+>", "", delta).strip())
            for value, label, delta in found}


def section(html: str, title: str) -> str:
    """The HTML of the dashboard section headed ``title``."""
    start = html.index(f"<h2>{title}</h2>")
    end = html.find("</section>", start)
    return html[start:end]


def test_this_week_next_to_last_week_up_to_the_same_moment(hall, login):
    html = login("supervisor").get("/admin/").get_data(as_text=True)
    assert "2026-W48" in html and "11月23日—11月29日" in html
    figures = stats(html)
    # This week: 5, 5, 4, 1, 2. Last week up to Wednesday 10:00: only the 5 of Tuesday
    # (Wednesday's 1 came at 15:00, later in the day than now).
    assert figures["评价数"] == ("5", "较上周同期 ↑ 4 条")
    assert figures["满意度"] == ("60.0", "较上周同期 ↓ 40.0")
    assert figures["好评率"] == ("60.0%", "较上周同期 ↓ 40.0 个百分点")
    assert figures["差评数"] == ("2", "较上周同期 ↑ 2 条")
    assert 'class="down">较上周同期 ↑ 2 条' in html  # more bad ratings reads as worse
    assert "上周一 00:00 至上周三 10:00" in html  # the page says what it compares with


MONDAY = datetime(2026, 11, 30, 2, 58)  # Monday 30 November 2026, 10:58 in the hall


@pytest.fixture
def monday_morning(app, monkeypatch):
    """Monday 10:58: this week has four ratings; last Monday had some before 10:58,
    some after, and one excluded."""
    monkeypatch.setattr("admin.dashboard.utcnow", lambda: MONDAY)
    since = MONDAY - timedelta(days=60)
    make_window("A01", dept="政务服务中心", staff_no="S001", on_duty_since=since)
    make_window("B01", name="企业开办窗口", dept="市场监督管理局", staff_no="S002",
                on_duty_since=since)
    intake = app.extensions["kiosk.intake"]

    def tap(window: str, score: int, local: str) -> int:
        body = rating_body(window=window, score=score)
        body["created_at"] = datetime.fromisoformat(local).replace(tzinfo=TZ).isoformat()
        return intake.accept(body, now=MONDAY).id

    for window, score, at in (("A01", 5, "08:30"), ("A01", 4, "09:10"), ("A01", 5, "10:00"),
                              ("B01", 2, "10:30")):
        tap(window, score, f"2026-11-30 {at}")
    tap("A01", 1, "2026-11-22 23:00")  # the Sunday before last week
    for window, score, at in (("A01", 5, "09:00"), ("A01", 1, "10:00"), ("B01", 5, "10:57"),
                              ("A01", 1, "10:59"), ("A01", 1, "15:00")):
        tap(window, score, f"2026-11-23 {at}")
    excluded = tap("A01", 1, "2026-11-23 09:30")
    tap("A01", 1, "2026-11-24 09:00")
    summary.set_counted(db.session, [excluded], False, TZ)
    db.session.commit()


def test_monday_morning_is_set_against_last_monday_until_the_same_minute(monday_morning,
                                                                       login):
    """At 10:58 on Monday, not against the whole of last Monday (which read as a false
    drop of ratings): last Monday until 10:58 had 5, 1, 5 (the 1 at 09:30 excluded)."""
    figures = stats(login("supervisor").get("/admin/").get_data(as_text=True))
    assert figures["评价数"] == ("4", "较上周同期 ↑ 1 条")  # not ↓ 2 against all of Monday
    assert figures["满意度"] == ("75.0", "较上周同期 ↑ 8.3")
    assert figures["好评率"] == ("75.0%", "较上周同期 ↑ 8.3 个百分点")
    assert figures["差评数"] == ("1", "与上周同期持平")


def test_a_department_head_compares_their_own_last_monday_morning(monday_morning, login):
    figures = stats(login("department", "市场监督管理局").get("/admin/").get_data(as_text=True))
    assert figures["评价数"] == ("1", "与上周同期持平")
    assert figures["满意度"] == ("25.0", "较上周同期 ↓ 75.0")


def test_on_a_later_day_whole_days_come_from_the_summary_and_today_from_the_ratings(
        monday_morning, app):
    monday = date(2026, 11, 23)
    # Last Tuesday 08:58: all of last Monday (5, 1, 5, 1, 1; the excluded one not)...
    early = glance.totals_until(db.session, monday, datetime(2026, 11, 24, 0, 58), TZ)
    assert early.counts == {5: 2, 1: 3}
    # ... and at 09:58 also Tuesday's 1 of 09:00.
    later = glance.totals_until(db.session, monday, datetime(2026, 11, 24, 1, 58), TZ)
    assert later.counts == {5: 2, 1: 4}
    # At Monday 00:00 nothing yet.
    assert glance.totals_until(db.session, monday, datetime(2026, 11, 22, 16, 0), TZ).ratings == 0


def test_the_reasons_most_given_this_week_with_their_chinese_labels(hall, login):
    reasons = section(login("supervisor").get("/admin/").get_data(as_text=True), "本周差评原因")
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">(\d+)</td>", reasons)
    assert rows == [("等候时间长", "2"), ("服务态度", "1")]  # last week's are not counted


def test_the_newest_comments_of_this_week_without_phones(hall, login, app):
    for minute in range(10):
        rate(app, "A01", 5, f"2026-11-25 08:{minute:02d}", comment=f"很满意{minute}")
    html = login("supervisor").get("/admin/").get_data(as_text=True)
    comments = section(html, "本周最新留言")
    shown = re.findall(r"<td>([^<]*)</td>\s*</tr>", comments)
    assert shown == [f"很满意{m}" for m in range(9, -1, -1)]  # the newest 10, newest first
    assert "等了一个小时还没办完" not in comments and "上周" not in comments
    assert "11-25 08:09" in comments and "A01 综合受理窗口" in comments and "非常满意" in comments
    assert PHONE not in html and PHONE[:3] + "****" not in html


def test_bad_comments_stand_out(hall, login):
    comments = section(login("supervisor").get("/admin/").get_data(as_text=True), "本周最新留言")
    assert re.search(r'<tr class="row-bad">.*?非常不满意.*?等了一个小时还没办完', comments, re.S)
    assert re.search(r'<span class="badge red">不满意</span>.*?排队太久', comments, re.S)


def test_a_department_head_sees_their_own_department(hall, login):
    html = login("department", "市场监督管理局").get("/admin/").get_data(as_text=True)
    assert "本周概览 · 市场监督管理局" in html
    figures = stats(html)
    assert figures["评价数"][0] == "1" and figures["满意度"][0] == "25.0"
    assert "排队太久" in html and "等了一个小时还没办完" not in html
    reasons = section(html, "本周差评原因")
    assert "等候时间长" in reasons and "服务态度" not in reasons


def test_a_department_head_without_a_department_sees_nothing(hall, login):
    html = login("department").get("/admin/").get_data(as_text=True)
    assert stats(html)["评价数"] == ("0", "上周同期无评价")
    assert "排队太久" not in html


@pytest.mark.parametrize("role", ["admin", "supervisor", "caller", "department"])
def test_every_role_opens_the_dashboard(hall, login, role):
    assert login(role).get("/admin/").status_code == 200


def add_suggestions(texts: list[tuple[str | None, str]]) -> list[Suggestion]:
    windows = {w.code: w.id for w in db.session.query(Window)}
    made = []
    for i, (code, text) in enumerate(texts):
        s = Suggestion(text=text, window_id=windows.get(code),
                       created_at=NOW - timedelta(hours=len(texts) - i))
        db.session.add(s)
        made.append(s)
    db.session.commit()
    return made


def test_the_newest_suggestions_link_to_the_inbox(hall, login):
    made = add_suggestions([("A01", f"建议{i}") for i in range(6)])
    html = login("supervisor").get("/admin/").get_data(as_text=True)
    box = section(html, "最新意见建议")
    assert re.findall(r">(建议\d)</a>", box) == ["建议5", "建议4", "建议3", "建议2", "建议1"]
    assert f'href="/admin/suggestions/{made[-1].id}"' in box
    assert 'href="/admin/suggestions"' in box and "6 条未处理" in box


def test_a_department_head_sees_the_suggestions_of_their_windows(hall, login):
    add_suggestions([("A01", "综合窗口的建议"), ("B01", "企业开办的建议"), (None, "大厅的建议")])
    head = login("department", "市场监督管理局").get("/admin/").get_data(as_text=True)
    assert "企业开办的建议" in head
    assert "综合窗口的建议" not in head and "大厅的建议" not in head


def test_a_caller_is_not_shown_the_inbox(hall, login):
    add_suggestions([("B01", "企业开办的建议")])
    caller = login("caller").get("/admin/").get_data(as_text=True)
    assert "企业开办的建议" not in caller and 'href="/admin/suggestions"' not in caller


def test_the_charts_of_the_week_are_shown_to_those_who_may_see_them(hall, login):
    client = login("supervisor")
    html = client.get("/admin/").get_data(as_text=True)
    sources = re.findall(r'<img class="chart" src="([^"]+)"', html)
    assert sources, "the dashboard shows the week's charts"
    for src in sources:
        assert "week=2026-W48" in src
        image = client.get(src.replace("&amp;", "&"))
        assert image.status_code == 200 and image.mimetype == "image/png"


def test_a_caller_gets_no_charts_they_could_not_open(hall, login):
    caller = login("caller").get("/admin/").get_data(as_text=True)
    assert 'class="chart"' not in caller


def test_times_read_in_hall_time_on_every_page_that_shows_them(hall, login, app):
    """One formatter (kiosk.clock.format_local, the ``hall_time`` filter) for them all:
    a comment tapped 23 Nov 00:10 in the hall (22 Nov 16:10 UTC) reads 11-23 00:10."""
    admin = login("admin")
    comments = section(admin.get("/admin/").get_data(as_text=True), "本周最新留言")
    assert "11-23 00:10" in comments and "11-22 16:10" not in comments
    db.session.add(Suggestion(text="夜里留的建议", created_at=NOW - timedelta(hours=10)))
    db.session.commit()
    inbox = admin.get("/admin/suggestions").get_data(as_text=True)
    assert "2026-11-25 00:00" in inbox  # 16:00 UTC the day before
    users = admin.get("/admin/users").get_data(as_text=True)
    created = clock.to_local(admin.user.created_at, TZ).strftime("%Y-%m-%d %H:%M")
    assert created in users


def test_a_department_head_without_a_department_sees_nothing_anywhere(hall, login):
    """The one department scope (admin/scope.py) holds every page to no department."""
    db.session.add(Suggestion(text="A01 的建议", window_id=db.session.query(Window)
                              .filter_by(code="A01").one().id, created_at=NOW))
    db.session.commit()
    head = login("department")
    assert "A01 的建议" not in head.get("/admin/suggestions").get_data(as_text=True)
    for url in ("/admin/roster", "/admin/manage/staff"):
        page = head.get(url).get_data(as_text=True)
        assert "A01" not in page and "S001" not in page, url
    assert "您的账号还没有关联部门" in head.get("/admin/manage").get_data(as_text=True)
