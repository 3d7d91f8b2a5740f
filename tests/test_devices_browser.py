"""Paired tablets in real Chromium: the unpaired kiosk page, pairing from the admin
page's link, a tap stored with the tablet's device, its heartbeat, and a revoked
tablet that keeps its taps queued until it is paired again.

Screenshots go to test-artifacts/screens/ (devices-*.png)."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from kiosk import phonekeys
from kiosk.db import db
from kiosk.models import Device, Rating

from .helpers import PASSWORD, make_user, make_window, wait_js
from .liveserver import LiveServer
from .test_pages import OUTBOX, PHONE, TABLET, TIMINGS, shot, wait_sent

DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture
def server(app, database_uri, tmp_path):
    make_window("A01", name="综合受理窗口", staff_no="QH0101", staff_name="张丽")
    make_user("boss", "admin")
    srv = LiveServer(database_uri, tmp_path / "srv", config=TIMINGS,
                     phone_key=phonekeys.key_path(app))
    yield srv
    srv.stop()


def stored() -> list[Rating]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Rating).order_by(Rating.id)))


def sign_in(browser, server):
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.goto(server.url + "/admin/login?next=/admin/windows/A01/devices")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('平板与设备')")
    page.on("dialog", lambda dialog: dialog.accept())  # 吊销's confirmation
    return context, page


def new_link(admin) -> str:
    admin.click("button:has-text('配对平板')")
    admin.wait_for_selector(".pairing-made img.pairing-qr")
    return admin.input_value(".pairing-url")


def test_an_unpaired_tablet_is_told_how_to_pair(browser, server):
    for size, name in ((TABLET, "devices-unpaired-kiosk"), (PHONE, "devices-unpaired-phone")):
        context = browser.new_context(viewport=size, locale="zh-CN")
        page = context.new_page()
        response = page.goto(server.url + "/k/A01")
        assert response.status == 403
        assert "本机尚未与该窗口配对" in page.inner_text("h1")
        assert "配对平板" in page.inner_text("body")
        assert page.locator(".face-btn").count() == 0
        shot(page, name)
        context.close()


def test_pair_from_the_admin_page_tap_and_revoke(browser, server):
    office, admin = sign_in(browser, server)
    link = new_link(admin)
    assert link.startswith(server.url + "/pair/")
    shot(admin, "devices-admin-pairing-link")

    tablet = browser.new_context(viewport=TABLET, locale="zh-CN")
    page = tablet.new_page()
    page.goto(link)
    assert page.url == server.url + "/k/A01"
    version = page.evaluate("JSON.parse(document.getElementById('config').textContent).app_version")
    page.click(".face-btn.s5")
    assert page.locator("#thanks").is_visible()
    wait_sent(page)
    [rating] = stored()
    device = db.session.scalar(sa.select(Device))
    assert (rating.channel, rating.device_id) == ("kiosk", device.id)
    # Its heartbeat came on load: the admin sees it online, with its version.
    for _ in range(50):
        db.session.expire_all()
        if db.session.get(Device, device.id).last_seen_at:
            break
        time.sleep(0.1)
    device = db.session.get(Device, device.id)
    assert (device.app_version, device.queued) == (version, 0)
    admin.goto(server.url + "/admin/windows/A01/devices")
    assert "在线" in admin.inner_text("table.devices")
    shot(admin, "devices-admin-online")
    admin.goto(server.url + "/admin/manage/windows")
    assert "在线" in admin.inner_text("table.data")
    shot(admin, "devices-admin-windows-list")

    # Revoked: within the server's refresh the tablet's taps are refused; they stay
    # queued on the tablet and it says how to get them through.
    admin.goto(server.url + "/admin/windows/A01/devices")
    admin.click("button:has-text('吊销')")
    admin.wait_for_selector(".flash")
    time.sleep(2.2)  # DeviceCheck.REFRESH: the server's memory of the devices
    page.wait_for_selector("#start", state="visible", timeout=8000)
    wait_js(page, "!document.querySelector('.face-btn').disabled")
    page.click(".face-btn.s4")
    page.wait_for_selector("#start", state="visible", timeout=8000)
    wait_js(page, "!document.getElementById('unpaired').hidden", timeout=15_000)
    assert "未与窗口配对" in page.inner_text("#unpaired")
    # The staff indicator counts the queued tap but does not say 离线: the server
    # answers, so checking the hall's Wi-Fi would not help.
    status = page.inner_text("#status-text")
    assert "待发送 1" in status and "离线" not in status, status
    assert page.evaluate(f"JSON.parse(localStorage.getItem('{OUTBOX}')).length") == 1
    shot(page, "devices-kiosk-revoked-notice")
    assert [r.score for r in stored()] == [5]

    # Paired again with a new link: the queued tap goes through, from the new device.
    page.goto(new_link(admin))
    assert page.url == server.url + "/k/A01"
    wait_sent(page)
    assert [r.score for r in stored()] == [5, 4]
    devices = db.session.scalars(sa.select(Device).order_by(Device.id)).all()
    assert stored()[-1].device_id == devices[-1].id and devices[-1].revoked_at is None
    assert page.locator("#unpaired").is_hidden()
    tablet.close()
    office.close()
