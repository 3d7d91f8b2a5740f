"""The duty roster (挂牌): starting and ending duties, one-step 换岗, the rules that keep
one clerk at one window, and the kiosk picking up a 换岗 by itself."""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk import clock, league, roster, summary
from kiosk.clock import zone
from kiosk.db import db, utcnow
from kiosk.models import AuditEntry, Rating, Staff, Window
from kiosk.records import FieldError
from kiosk.windows import window_card

from .helpers import PASSWORD, make_user, make_window, pair_device, rating_body, wait_js
from .liveserver import LiveServer
from .test_pages import open_page, shot

TZ = zone("Asia/Shanghai")


def clerk(staff_no: str, name: str, department_id: int | None = None) -> Staff:
    staff = Staff(staff_no=staff_no, name=name, department_id=department_id,
                  duties="不动产登记受理")
    db.session.add(staff)
    db.session.commit()
    return staff


def open_duties(window: Window) -> list[tuple[str, datetime, datetime | None]]:
    db.session.expire_all()
    return [(d.staff.staff_no, d.started_at, d.ended_at)
            for d in db.session.scalars(roster.history(window))]


@pytest.fixture
def hall(app):
    """Window A01 with 张丽 (S001) on duty since yesterday; A02 with nobody."""
    since = utcnow().replace(microsecond=0) - timedelta(days=1)
    a01 = make_window("A01", staff_no="S001", staff_name="张丽", on_duty_since=since)
    a02 = make_window("A02", name="税务窗口", staff_no=None)
    return a01, a02, since


def test_a_clerk_starts_and_ends_a_duty(app, hall):
    _, a02, _ = hall
    wang = clerk("S002", "王芳")
    now = utcnow()
    duty = roster.start_duty(a02, wang, now, now, TZ, None)
    db.session.commit()
    assert window_card("A02", now).staff_name == "王芳"
    later = now + timedelta(hours=2)
    roster.end_duty(duty, later, later, TZ, None)
    db.session.commit()
    assert window_card("A02", later).staff_name is None
    assert window_card("A02", later - timedelta(minutes=1)).staff_name == "王芳"
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["duty.start", "duty.end"]


def test_huangang_ends_the_current_duty_and_starts_the_next_at_the_same_instant(app, hall):
    a01, _, since = hall
    wang = clerk("S002", "王芳")
    at = utcnow().replace(microsecond=0)
    roster.change_duty(a01, wang, at, at, TZ, None)
    db.session.commit()
    assert open_duties(a01) == [("S002", at, None), ("S001", since, at)]
    # A tap a moment before the change is 张丽's; one at the very instant is 王芳's.
    intake = app.extensions["kiosk.intake"]
    for moment in (at - timedelta(milliseconds=1), at):
        intake.accept(rating_body(created_at=moment.isoformat() + "Z"), now=at)
    db.session.expire_all()
    staff = [r.staff.staff_no for r in db.session.scalars(
        sa.select(Rating).order_by(Rating.created_at))]
    assert staff == ["S001", "S002"]
    change = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "duty.change"))
    assert json.loads(change.after)["staff_id"] == wang.id


def test_a_clerk_cannot_be_on_duty_at_two_windows_at_once(app, hall):
    a01, a02, since = hall
    zhang = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "S001"))
    now = utcnow()
    with pytest.raises(FieldError) as refused:
        roster.start_duty(a02, zhang, now, now, TZ, None)
    assert "A01" in refused.value.message and "两个窗口" in refused.value.message
    db.session.rollback()
    wang = clerk("S002", "王芳")
    roster.start_duty(a02, wang, now, now, TZ, None)
    db.session.commit()
    # 换岗 at A01 to a clerk on duty at A02 is refused, and A01 keeps its clerk.
    with pytest.raises(FieldError) as refused:
        roster.change_duty(a01, wang, now, now, TZ, None)
    assert "A02" in refused.value.message
    db.session.rollback()
    assert open_duties(a01) == [("S001", since, None)]


def test_a_past_duty_elsewhere_that_overlaps_is_refused(app, hall):
    _, a02, since = hall
    a03 = make_window("A03", staff_no=None)
    wang = clerk("S002", "王芳")
    now = utcnow()
    duty = roster.start_duty(a02, wang, now - timedelta(hours=5), now, TZ, None)
    roster.end_duty(duty, now - timedelta(hours=1), now, TZ, None)
    db.session.commit()
    with pytest.raises(FieldError) as refused:
        roster.start_duty(a03, wang, now - timedelta(hours=3), now, TZ, None)
    assert "重叠" in refused.value.message
    db.session.rollback()
    roster.start_duty(a03, wang, now - timedelta(hours=1), now, TZ, None)  # back to back
    db.session.commit()


def test_a_window_with_a_clerk_on_duty_takes_a_change_not_a_second_start(app, hall):
    a01, _, _ = hall
    wang = clerk("S002", "王芳")
    now = utcnow()
    with pytest.raises(FieldError) as refused:
        roster.start_duty(a01, wang, now, now, TZ, None)
    assert "换岗" in refused.value.message and "张丽" in refused.value.message


def test_changing_to_the_clerk_already_on_duty_is_refused(app, hall):
    a01, _, _ = hall
    zhang = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "S001"))
    now = utcnow()
    with pytest.raises(FieldError, match="已在该窗口在岗"):
        roster.change_duty(a01, zhang, now, now, TZ, None)


def test_a_duty_cannot_end_before_it_began_nor_twice_nor_in_the_future(app, hall):
    a01, _, since = hall
    duty = roster.current_duty(a01, utcnow())
    now = utcnow()
    with pytest.raises(FieldError) as refused:
        roster.end_duty(duty, since - timedelta(minutes=5), now, TZ, None)
    # The message reads the start in hall time (UTC+8), as the office knows it.
    assert refused.value.field == "ended_at"
    assert (since + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") in refused.value.message
    db.session.rollback()
    with pytest.raises(FieldError, match="不能晚于现在"):
        roster.end_duty(duty, now + timedelta(hours=1), now, TZ, None)
    db.session.rollback()
    roster.end_duty(duty, now, now, TZ, None)
    db.session.commit()
    with pytest.raises(FieldError, match="已于"):
        roster.end_duty(duty, now, now, TZ, None)


def test_a_backdated_change_may_not_cut_into_a_later_duty(app, hall):
    _, a02, _ = hall
    wang, li = clerk("S002", "王芳"), clerk("S003", "李强")
    now = utcnow()
    roster.start_duty(a02, wang, now - timedelta(hours=1), now, TZ, None)
    db.session.commit()
    with pytest.raises(FieldError) as refused:
        roster.change_duty(a02, li, now - timedelta(hours=2), now, TZ, None)
    assert refused.value.field == "at"
    db.session.rollback()
    roster.change_duty(a02, li, now - timedelta(minutes=30), now, TZ, None)
    db.session.commit()
    assert [s for s, _, _ in open_duties(a02)] == ["S003", "S002"]


def test_an_inactive_clerk_cannot_go_on_duty(app, hall):
    _, a02, _ = hall
    gone = clerk("S009", "赵离")
    gone.active = False
    db.session.commit()
    now = utcnow()
    with pytest.raises(FieldError, match="已停用"):
        roster.start_duty(a02, gone, now, now, TZ, None)


def test_the_overview_reads_who_is_on_duty_everywhere(app, hall):
    a01, a02, _ = hall
    rows = roster.on_duty_now([a01, a02], utcnow())
    assert [(r.window.code, r.duty.staff.name if r.duty else None) for r in rows] == \
        [("A01", "张丽"), ("A02", None)]


# ---- back-dated changes re-attribute the ratings tapped since ----

def last_wednesday_noon() -> datetime:
    """Wednesday 12:00 hall time of last week, as stored: a moment with hours on
    either side in the same ISO week, and well within a rating's 30 days."""
    today = (utcnow() + timedelta(hours=8)).date()
    wednesday = today - timedelta(days=today.weekday() + 7 - 2)
    return clock.to_utc(datetime.combine(wednesday, datetime.min.time()) + timedelta(hours=12),
                        TZ)


def rate(app, moment: datetime, score: int, now: datetime, window: str) -> int:
    body = rating_body(window=window, score=score, created_at=moment.isoformat() + "Z")
    return app.extensions["kiosk.intake"].accept(body, now=now).id


def staff_of(*rating_ids: int) -> list[str | None]:
    db.session.expire_all()
    return [r.staff.staff_no if r.staff else None
            for r in (db.session.get(Rating, i) for i in rating_ids)]


def staff_league(moment: datetime) -> dict[str, dict]:
    period = league.period_of("week", clock.to_local(moment, TZ).date())
    table = league.league_table(db.session, period, TZ, by="staff")
    return {row.code: row.as_dict("staff") for row in table.rows}


def test_a_backdated_huangang_gives_the_ratings_since_to_the_clerk_who_was_there(app):
    """At 12:00 the head records that 王芳 took over from 赵敏 at 11:00: the ratings
    tapped since 11:00 are hers, in the ratings, the summary and the staff league."""
    now = last_wednesday_noon()
    c01 = make_window("C01", staff_no="S010", staff_name="赵敏",
                      on_duty_since=now - timedelta(days=1))
    wang = clerk("S002", "王芳")
    before = rate(app, now - timedelta(minutes=90), 5, now, "C01")
    bad = rate(app, now - timedelta(minutes=45), 1, now, "C01")
    good = rate(app, now - timedelta(minutes=10), 4, now, "C01")
    excluded = rate(app, now - timedelta(minutes=5), 3, now, "C01")
    summary.set_counted(db.session, [excluded], False, TZ)
    db.session.commit()
    assert staff_of(before, bad, good, excluded) == ["S010"] * 4

    roster.change_duty(c01, wang, now - timedelta(hours=1), now, TZ, None)
    db.session.commit()
    assert staff_of(before, bad, good, excluded) == ["S010", "S002", "S002", "S002"]
    assert summary.stored(db.session) == summary.scan(db.session, TZ)
    rows = staff_league(now)
    assert (rows["S002"]["ratings"], rows["S002"]["level_1"], rows["S002"]["level_4"]) == \
        (2, 1, 1)  # the excluded rating moved too, but is not counted
    assert (rows["S010"]["ratings"], rows["S010"]["level_5"]) == (1, 1)
    moved = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.action == "rating.reattribute"))
    assert moved.target_type == "window" and moved.target_id == str(c01.id)
    assert json.loads(moved.after)["ratings"] == 3


def test_a_backdated_start_and_end_move_ratings_to_and_from_no_clerk(app):
    now = last_wednesday_noon()
    c02 = make_window("C02", name="临时窗口", staff_no=None)
    li = clerk("S003", "李强")
    early = rate(app, now - timedelta(minutes=50), 2, now, "C02")
    late = rate(app, now - timedelta(minutes=20), 5, now, "C02")
    assert staff_of(early, late) == [None, None]

    duty = roster.start_duty(c02, li, now - timedelta(hours=1), now, TZ, None)
    db.session.commit()
    assert staff_of(early, late) == ["S003", "S003"]
    assert summary.stored(db.session) == summary.scan(db.session, TZ)
    assert staff_league(now)["S003"]["ratings"] == 2

    roster.end_duty(duty, now - timedelta(minutes=30), now, TZ, None)
    db.session.commit()
    assert staff_of(early, late) == ["S003", None]
    assert summary.stored(db.session) == summary.scan(db.session, TZ)
    assert staff_league(now)["S003"]["ratings"] == 1
    counts = [json.loads(e.after)["ratings"] for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "rating.reattribute")
        .order_by(AuditEntry.id))]
    assert counts == [2, 1]


def test_a_change_made_now_moves_nothing_and_logs_no_move(app, hall):
    a01, _, _ = hall
    now = utcnow()
    tapped = rate(app, now - timedelta(minutes=5), 4, now, "A01")
    roster.change_duty(a01, clerk("S002", "王芳"), now, now, TZ, None)
    db.session.commit()
    assert staff_of(tapped) == ["S001"]
    assert not db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.action == "rating.reattribute"))




def page_version(client, code: str) -> str:
    pair_device(code, client=client)
    html = client.get(f"/k/{code}").get_data(as_text=True)
    config = json.loads(re.search(r'<script id="config" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    return config["card_version"], config["urls"]["card"], config["card_poll_seconds"]


def test_the_card_endpoint_tells_a_kiosk_of_a_change(client, app, hall):
    a01, _, _ = hall
    version, url, poll = page_version(client, "A01")
    assert url == "/api/windows/A01/card" and poll == 20
    card = client.get(url)
    assert card.status_code == 200
    body = card.get_json()
    assert (body["staff_name"], body["staff_no"], body["duties"], body["version"]) == \
        ("张丽", "S001", "综合受理", version)
    assert client.get(url, headers={"If-None-Match": card.headers["ETag"]}).status_code == 304

    wang = clerk("S002", "王芳")
    wang.photo = "0" * 32 + ".jpg"
    now = utcnow()
    roster.change_duty(a01, wang, now, now, TZ, None)
    db.session.commit()
    body = client.get(url).get_json()
    assert (body["staff_name"], body["initial"]) == ("王芳", "王")
    assert body["version"] != version
    assert body["photo"].startswith("/photos/" + "0" * 32 + ".jpg")
    assert page_version(client, "A01")[0] == body["version"]


def test_the_card_of_an_unknown_window_is_a_json_404(client, app):
    resp = client.get("/api/windows/NOPE/card")
    assert resp.status_code == 404 and "error" in resp.get_json()


# ---- in the browser: a 换岗 in the back office shows on the idle kiosk ----

def test_a_huangang_in_the_admin_shows_on_the_idle_kiosk(browser, app, database_uri,
                                                         tmp_path):
    since = utcnow() - timedelta(days=1)
    window = make_window("A01", name="综合受理窗口", staff_no="QH0101", staff_name="张丽",
                         on_duty_since=since)
    db.session.add(Staff(staff_no="QH0102", name="王芳", department_id=window.department_id,
                         duties="税费缴纳、发票代开"))
    make_user("boss", "admin")
    srv = LiveServer(database_uri, tmp_path / "srv", config={"KIOSK_CARD_POLL_SECONDS": "5"})
    try:
        kiosk, page = open_page(browser, srv.url + "/k/A01")
        assert page.locator(".card .name").inner_text() == "张丽"
        shot(page, "kiosk-card-before-huangang")
        page.evaluate("window.samePage = true")

        office = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        admin = office.new_page()
        admin.goto(srv.url + "/admin/login?next=/admin/roster/A01")
        admin.fill("input[name=username]", "boss")
        admin.fill("input[name=password]", PASSWORD)
        admin.click("button[type=submit]")
        admin.select_option("#change-staff_id", label="王芳（QH0102）")
        admin.click("form[action$='/change'] button[type=submit]")
        admin.wait_for_selector(".flash")
        assert "王芳" in admin.locator(".duty-now").inner_text()
        changed = time.monotonic()

        wait_js(page, "document.querySelector('.card .name') && "
                      "document.querySelector('.card .name').textContent === '王芳'",
                timeout=60_000)
        assert time.monotonic() - changed < 60
        assert "QH0102" in page.locator(".card .no").inner_text()
        assert "税费缴纳" in page.locator(".card .duties").inner_text()
        assert page.locator(".card .badge").inner_text() == "挂牌服务"
        assert page.evaluate("window.samePage") is True  # redrawn in place, no reload
        assert page.locator("#start").is_visible()
        shot(page, "kiosk-card-after-huangang")
        office.close()
        kiosk.close()
    finally:
        srv.stop()


def test_the_kiosk_leaves_the_card_alone_mid_rating_and_when_the_server_is_away(
        browser, app, database_uri, tmp_path):
    window = make_window("A01", staff_no="QH0101", staff_name="张丽")
    wang = Staff(staff_no="QH0102", name="王芳", department_id=window.department_id)
    db.session.add(wang)
    db.session.commit()
    srv = LiveServer(database_uri, tmp_path / "srv", config={"KIOSK_CARD_POLL_SECONDS": "2"})
    try:
        context, page = open_page(browser, srv.url + "/k/A01")
        page.click(".face-btn.s2")  # a citizen is choosing reasons
        now = utcnow()
        roster.change_duty(db.session.get(Window, window.id), wang, now, now, TZ, None)
        db.session.commit()
        page.wait_for_timeout(5000)
        assert page.locator("#details").is_visible()
        assert page.locator(".card .name").inner_text() == "张丽"  # not under their eyes

        page.route("**/api/windows/*/card", lambda route: route.abort())  # server away
        page.click("#details-skip")
        page.click("#undo")  # back to the start screen
        page.wait_for_timeout(5000)
        assert page.locator("#start").is_visible()
        assert page.locator(".card .name").inner_text() == "张丽"  # a failed poll is ignored
        assert page.locator("#status").is_hidden()  # and is no reason to show "offline"

        page.unroute("**/api/windows/*/card")
        wait_js(page, "document.querySelector('.card .name').textContent === '王芳'",
                timeout=20_000)
        assert page.locator(".card .initial").inner_text() == "王"
        context.close()
    finally:
        srv.stop()
