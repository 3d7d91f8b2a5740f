"""The review page in real Chromium against the real server: a supervisor excludes two
ticked ratings of a burst, then the rest of the burst in one go (the page asks first),
and the league follows. Screenshots at 1366x900 go to test-artifacts/integrity/."""
from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from ..helpers import PASSWORD, make_user, make_window
from ..liveserver import Client, LiveServer
from ..test_integrity import open_moment, week_of

SHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "integrity"
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def server(app, database_uri, tmp_path):
    make_window("A01", "综合受理窗口", "政务服务中心", "S001", "张丽")
    make_window("A02", "发票窗口", "政务服务中心", "S002", "王强")
    make_user("duzha", "supervisor")
    srv = LiveServer(database_uri, tmp_path / "srv")
    client = Client(srv.port)
    start = open_moment(app)
    for i in range(6):  # six 非常满意 in six minutes, no service event: a burst
        status, _ = client.post("/api/ratings", {
            "window": "A01", "score": 5, "channel": "qr", "client_id": uuid.uuid4().hex,
            "created_at": (start + timedelta(minutes=i)).isoformat() + "Z"})
        assert status == 201
    status, _ = client.post("/api/ratings", {  # an ordinary rating elsewhere
        "window": "A02", "score": 4, "channel": "qr", "client_id": uuid.uuid4().hex,
        "created_at": start.isoformat() + "Z"})
    assert status == 201
    client.close()
    srv.week = week_of(start)
    yield srv
    srv.stop()


def league(ctx, server) -> dict[str, int]:
    rows = ctx.request.get(f"{server.url}/admin/league.json?week={server.week}").json()["rows"]
    return {r["window"]: r["ratings"] for r in rows}


def test_a_supervisor_excludes_a_burst(browser, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = ctx.new_page()
    page.goto(server.url + "/admin/integrity")
    page.fill("input[name=username]", "duzha")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/integrity")
    assert page.locator("tr.burst-head").count() == 1
    assert "疑似连续好评：A01" in page.locator("tr.burst-head").inner_text()
    rows = page.locator("tr[data-rating]")
    assert rows.count() == 6
    page.screenshot(path=str(SHOTS / "review.png"), full_page=True)
    assert league(ctx, server) == {"A01": 6, "A02": 1}

    # Tick two, exclude them with the bar above the table.
    rows.nth(0).locator("input[type=checkbox]").check()
    rows.nth(1).locator("input[type=checkbox]").check()
    page.locator("#batch button[value=exclude]").click()
    page.wait_for_load_state()
    assert "已不计入：2 条评价" in page.locator(".flash").inner_text()
    assert league(ctx, server) == {"A01": 4, "A02": 1}

    # The rest of the burst at once; the page asks before it excludes.
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.locator("tr.burst-head button", has_text="整批不计入").click()
    page.wait_for_load_state()
    assert asked and "4 条评价将不计入统计" in asked[0]
    assert "已不计入：4 条评价" in page.locator(".flash").inner_text()
    assert league(ctx, server) == {"A01": 0, "A02": 1}
    assert page.locator("tr[data-rating]").count() == 0  # nothing pending

    page.select_option("select[name=flag]", "decided")  # submits itself (admin.js)
    page.wait_for_url("**flag=decided**")
    decided = page.locator("tr[data-rating]")
    assert decided.count() == 6
    assert "已核查：不计入" in decided.nth(0).inner_text()
    assert "duzha" in decided.nth(0).inner_text()
    page.screenshot(path=str(SHOTS / "decided.png"), full_page=True)

    # Undo one: it counts again.
    decided.nth(0).locator("button", has_text="撤销核查结论").click()
    page.wait_for_load_state()
    assert league(ctx, server) == {"A01": 1, "A02": 1}
    ctx.close()


def test_a_phone_pressing_again_counts_once_and_another_phone_counts(browser, app,
                                                                      database_uri, tmp_path):
    """The QR page gives each phone its own first-party cookie (HttpOnly): three
    ratings from one phone in quick succession count once, a second phone on the same
    Wi-Fi counts too."""
    from kiosk.models import Rating
    from kiosk.ratings import RATER_COOKIE

    from ..test_integrity import ratings
    from ..test_pages import PHONE, TIMINGS, wait_sent

    make_window("A01", "综合受理窗口", "政务服务中心", "S001", "张丽")
    srv = LiveServer(database_uri, tmp_path / "srv", config=TIMINGS)
    try:
        phones = [browser.new_context(viewport=PHONE, locale="zh-CN") for _ in range(2)]
        for n, ctx in enumerate(phones):
            page = ctx.new_page()
            for _ in range(3 if n == 0 else 1):
                page.goto(srv.url + "/q/A01")
                page.click(".face-btn.s4")
                assert page.locator("#thanks").is_visible()
                wait_sent(page)
            if n == 0:
                page.screenshot(path=str(SHOTS / "phone-thanks.png"))
            [cookie] = [c for c in ctx.cookies() if c["name"] == RATER_COOKIE]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
            ctx.close()
    finally:
        srv.stop()
    stored: list[Rating] = ratings()
    assert len(stored) == 4
    first, second = stored[0].rater, stored[3].rater
    assert first and second and first != second
    assert [r.rater == first for r in stored] == [True, True, True, False]
    assert [r.counted for r in stored] == [True, False, False, True]
