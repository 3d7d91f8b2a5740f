"""The holiday calendar page /admin/calendar (admin/calendar.py): what each role sees,
entering and replacing a year through the form, and what that does to case dues."""
from __future__ import annotations

import re
from datetime import date, datetime, time

import sqlalchemy as sa

from kiosk import audit, clock, workdays
from kiosk.db import db, utcnow
from kiosk.models import AuditEntry, CalendarDay, CalendarYear, FollowupCase, Rating

from ..helpers import csrf_token, make_window

TZ = clock.zone("Asia/Shanghai")
NOTICE_2027 = "2027-10-01~2027-10-07 休 国庆节\n2027-09-26 班 国庆节\n2027-10-09 班 国庆节\n"


def this_year() -> int:
    return clock.to_local(utcnow(), TZ).year


def post(client, data: dict, path: str = "/admin/calendar"):
    token = csrf_token(client.get("/admin/calendar").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def test_the_page_shows_last_to_next_year_with_sources_and_holidays(app, login):
    client = login("admin")
    html = client.get("/admin/calendar").get_data(as_text=True)
    year = this_year()
    for shown in (year - 1, year, year + 1):
        assert f'id="y{shown}"' in html
    assert f'id="y{year - 2}"' not in html
    if year == 2026:  # the package's 2026, as the tests of kiosk/workdays.py know it
        assert "内置日历" in html
        # 国庆: 1–7 October, with make-up days 20 September and 10 October.
        assert "10月1日（星期四） 至 10月7日（星期三）" in html
        assert "9月20日（星期日）、10月10日（星期六）" in html
        assert "2月15日（星期日） 至 2月23日（星期一）" in html
        assert "未知：暂按周一至周五计算" in html  # 2027
        assert "2027 年的法定节假日和调休安排尚未录入" in html
    # The form, with the help text's worked example.
    assert 'action="/admin/calendar#entry"' in html and "2027-09-26 班 国庆节" in html


def test_a_supervisor_sees_the_calendar_but_no_form(app, login):
    client = login("supervisor")
    response = client.get("/admin/calendar")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "节假日安排" in html and "<textarea" not in html
    assert post(client, {"year": "2027", "text": NOTICE_2027}).status_code == 403
    assert db.session.get(CalendarYear, 2027) is None


def test_callers_and_department_heads_are_refused(app, login):
    make_window()
    for role in ("caller", "department"):
        client = login(role)
        assert client.get("/admin/calendar").status_code == 403
        # The nav does not offer it to them either.
        assert "/admin/calendar" not in client.get("/admin/").get_data(as_text=True)
    assert "/admin/calendar" in login("supervisor").get("/admin/").get_data(as_text=True)


def test_a_post_without_csrf_token_is_refused(app, login):
    client = login("admin")
    response = client.post("/admin/calendar", data={"year": "2027", "text": NOTICE_2027})
    assert response.status_code == 400
    assert db.session.get(CalendarYear, 2027) is None


def test_an_admin_enters_a_year_and_case_dues_follow(app, login):
    window = make_window()
    moment = clock.to_utc(datetime.combine(date(2027, 9, 30), time(10)), TZ)
    shared = workdays.deadlines(app)
    rating = Rating(client_id="r1", window=window, score=1, channel="kiosk", created_at=moment)
    case = FollowupCase(rating=rating, window=window, rated_at=moment, kind="verify",
                        contact_due=shared.due(moment)[0], resolve_due=shared.due(moment)[1])
    db.session.add(case)
    db.session.commit()
    assert case.contact_due == date(2027, 10, 1)  # Monday–Friday: 2027 is unknown

    client = login("admin")
    response = post(client, {"year": "2027", "text": NOTICE_2027})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已保存 2027 年的节假日安排（9 天）；1 件回访的期限随之重新计算" in page
    assert re.search(r'id="y2027".*?管理员录入', page, re.S)
    assert "10月1日（星期五） 至 10月7日（星期四）" in page

    db.session.refresh(case)
    assert case.contact_due == date(2027, 10, 8)
    assert shared.due(moment)[0] == date(2027, 10, 8)  # the shared cache was invalidated
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "calendar.update"))
    assert entry.username == client.user.username and entry.target_id == "2027"
    assert "2027-09-26 班 国庆节" in entry.after and '"cases_recomputed": 1' in entry.after
    assert audit.action_label("calendar.update") == "录入节假日安排"

    # Replacing it: the form is filled with what was entered.
    form = client.get("/admin/calendar?edit=2027").get_data(as_text=True)
    assert "2027-10-09 班 国庆节</textarea>" in form
    assert post(client, {"year": "2027", "text": "2027-10-01~2027-10-03 休 国庆节"}) \
        .status_code == 302
    db.session.refresh(case)
    assert case.contact_due == date(2027, 10, 4)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 3


def test_bad_input_is_shown_by_line_and_nothing_is_stored(app, login):
    client = login("admin")
    text = "2027-10-01~2027-10-07 休 国庆节\n2027-09-27 班 国庆节\n国庆放假"
    response = post(client, {"year": "2027", "text": text})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "没有保存" in html and "第 2 行" in html and "第 3 行" in html
    assert "星期一" in html
    assert "国庆放假</textarea>" in html  # the input is kept to correct
    assert db.session.get(CalendarYear, 2027) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 0
    bad_year = post(client, {"year": "明年", "text": NOTICE_2027})
    assert bad_year.status_code == 400 and "请填写年份" in bad_year.get_data(as_text=True)
    assert post(client, {"year": "2027", "text": "  "}).status_code == 400


def test_an_admin_deletes_an_entered_year(app, login):
    client = login("admin")
    post(client, {"year": "2027", "text": NOTICE_2027})
    assert not workdays.deadlines(app).is_workday(date(2027, 10, 4))
    response = post(client, {}, "/admin/calendar/2027/delete")
    assert response.status_code == 302
    assert db.session.get(CalendarYear, 2027) is None
    assert workdays.deadlines(app).is_workday(date(2027, 10, 4))
    assert db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.action == "calendar.delete")) is not None
    again = post(client, {}, "/admin/calendar/2027/delete")
    assert "没有录入的安排" in client.get(again.headers["Location"]).get_data(as_text=True)
