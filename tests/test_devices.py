"""Paired kiosk tablets (kiosk/devices.py, admin/devices.py): pairing by link and CLI,
one-time and expiring codes, revocation, the kiosk rating refused without a tablet of
that window, the heartbeat and the tablet's status, the silent-tablet alert."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk import devices
from kiosk.db import db, utcnow
from kiosk.models import AuditEntry, Device, PairingCode, Rating

from .helpers import csrf_token, make_window, pair_device, rating_body

def kiosk_body(**fields) -> dict:
    """A kiosk rating's body (the tablet at the window)."""
    return rating_body(channel="kiosk", **fields)


PAIR_LINK = re.compile(r'value="(https?://[^"]+/pair/([\w-]+))"')


@pytest.fixture
def windows(app):
    return make_window("A01"), make_window("B01", name="企业开办窗口", staff_no="S002")


def checker(app) -> devices.DeviceCheck:
    return app.extensions["kiosk.intake"].devices


def ratings() -> list[Rating]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Rating).order_by(Rating.id)))


def code_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_pairing_link_from_the_admin_page_pairs_the_tablet(app, windows, login):
    admin = login("admin")
    page = admin.get("/admin/windows/A01/devices")
    assert page.status_code == 200 and "配对平板" in page.text
    made = admin.post("/admin/windows/A01/devices/pair",
                      data={"kind": "kiosk", "csrf_token": csrf_token(page.text)})
    assert made.status_code == 200
    assert 'src="data:image/png;base64,' in made.text  # its QR code
    url, code = PAIR_LINK.search(made.text).groups()
    assert url == f"http://localhost/pair/{code}"
    assert db.session.scalar(sa.select(PairingCode.code_hash)) == devices.secret_hash(code)

    tablet = app.test_client()
    assert tablet.get("/k/A01").status_code == 403
    resp = tablet.get(f"/pair/{code}")
    assert resp.status_code == 302 and resp.headers["Location"] == "/k/A01"
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("kiosk_device=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert f"Max-Age={devices.COOKIE_MAX_AGE}" in cookie
    assert tablet.get("/k/A01").status_code == 200
    assert tablet.post("/api/ratings", json=kiosk_body()).status_code == 201
    [device] = db.session.scalars(sa.select(Device)).all()
    assert (device.kind, device.window.code, device.paired_by_id) == ("kiosk", "A01", admin.user.id)
    assert ratings()[0].device_id == device.id
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "device.pair_code"))
    assert entry.username == admin.user.username


def test_the_cookie_is_secure_over_https(app, windows):
    code = devices.create_code(db.session, windows[0])
    db.session.commit()
    resp = app.test_client().get(f"/pair/{code}", base_url="https://localhost")
    assert "Secure" in resp.headers["Set-Cookie"]


def test_pair_device_prints_the_link_on_its_last_line(app, windows, runner):
    app.config["PUBLIC_BASE_URL"] = "https://pj.example.gov.cn/"
    result = runner.invoke(args=["pair-device", "A01"])
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    assert url.startswith("https://pj.example.gov.cn/pair/")
    tablet = app.test_client()
    assert tablet.get(url.removeprefix("https://pj.example.gov.cn")).headers["Location"] == "/k/A01"
    assert tablet.post("/api/ratings", json=kiosk_body()).status_code == 201

    clerk = runner.invoke(args=["pair-device", "A01", "--clerk"])
    resp = app.test_client().get("/pair/" + code_of(clerk.output.strip().splitlines()[-1]))
    assert resp.headers["Location"] == "/k/A01/clerk"
    assert runner.invoke(args=["pair-device", "Z99"]).exit_code != 0


def test_a_link_works_once(app, windows):
    code = devices.create_code(db.session, windows[0])
    db.session.commit()
    assert app.test_client().get(f"/pair/{code}").status_code == 302
    again = app.test_client().get(f"/pair/{code}")
    assert again.status_code == 410
    assert "这个配对链接已经用过了" in again.text and "kiosk_device" not in again.headers.get(
        "Set-Cookie", "")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Device)) == 1


def test_an_expired_or_unknown_link_is_refused(app, windows):
    code = devices.create_code(db.session, windows[0], now=utcnow() - timedelta(hours=25))
    db.session.commit()
    expired = app.test_client().get(f"/pair/{code}")
    assert expired.status_code == 410 and "已过期" in expired.text
    unknown = app.test_client().get("/pair/not-a-real-code")
    assert unknown.status_code == 404 and "配对链接无效" in unknown.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Device)) == 0


def test_re_pairing_a_browser_retires_its_old_device(app, windows):
    tablet = app.test_client()
    for _ in range(2):
        code = devices.create_code(db.session, windows[0])
        db.session.commit()
        tablet.get(f"/pair/{code}")
    db.session.expire_all()
    old, new = db.session.scalars(sa.select(Device).order_by(Device.id)).all()
    assert old.revoked_at is not None and new.revoked_at is None


def test_a_kiosk_rating_needs_a_tablet_paired_with_that_window(app, windows):
    nobody = app.test_client()
    resp = nobody.post("/api/ratings", json=kiosk_body())
    assert resp.status_code == 403
    assert resp.json["error"] == ("this tablet is not paired with window A01: pair it from "
                                  "the window's admin page")
    other = app.test_client()
    pair_device("B01", client=other)
    assert other.post("/api/ratings", json=kiosk_body()).status_code == 403
    assert other.post("/api/ratings", json=kiosk_body(window="B01")).status_code == 201
    clerk = app.test_client()
    pair_device("A01", "clerk", client=clerk)  # the clerk's PC opens events, never rates
    assert clerk.post("/api/ratings", json=kiosk_body()).status_code == 403
    forged = app.test_client()
    forged.set_cookie("kiosk_device", "made-up")
    assert forged.post("/api/ratings", json=kiosk_body()).status_code == 403
    # The QR page's phones need no tablet.
    assert nobody.post("/api/ratings", json=rating_body(channel="qr")).status_code == 201
    assert [r.window.code for r in ratings()] == ["B01", "A01"]


def test_the_unpaired_kiosk_page_says_how_to_pair(app, windows):
    resp = app.test_client().get("/k/A01")
    assert resp.status_code == 403
    assert "本机尚未与该窗口配对" in resp.text and "kiosk pair-device A01" in resp.text
    assert "not paired with window A01" in resp.text  # and in English
    assert app.test_client().get("/k/Z99").status_code == 404
    assert app.test_client().get("/q/A01").status_code == 200  # phones need no pairing


def test_revoking_shuts_the_tablet_out_and_is_audited(app, windows, login):
    tablet = app.test_client()
    pair_device("A01", client=tablet)
    assert tablet.post("/api/ratings", json=kiosk_body()).status_code == 201
    device = db.session.scalar(sa.select(Device))
    admin = login("admin")
    page = admin.get("/admin/windows/A01/devices")
    resp = admin.post(f"/admin/devices/{device.id}/revoke",
                      data={"csrf_token": csrf_token(page.text)})
    assert resp.status_code == 302
    # Another server's cache: still the old answer until its REFRESH has passed.
    check = checker(app)
    assert check.paired(tablet.get_cookie("kiosk_device").value, windows[0].id)
    check._loaded_at -= devices.DeviceCheck.REFRESH
    refused = tablet.post("/api/ratings", json=kiosk_body())
    assert refused.status_code == 403
    assert tablet.get("/k/A01").status_code == 403
    assert tablet.post("/api/devices/heartbeat", json={"version": "x"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Device, device.id).revoked_at is not None
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "device.revoke"))
    assert (entry.target_type, entry.target_id) == ("device", str(device.id))
    assert "已吊销" in admin.get("/admin/windows/A01/devices").text


def test_revoking_needs_the_csrf_token_and_an_admin(app, windows, login):
    pair_device("A01")
    device = db.session.scalar(sa.select(Device))
    assert login("caller").get("/admin/windows/A01/devices").status_code == 403
    supervisor = login("supervisor")
    page = supervisor.get("/admin/windows/A01/devices")
    assert page.status_code == 200 and "配对平板" not in page.text
    assert supervisor.post("/admin/windows/A01/devices/pair", data={
        "kind": "kiosk", "csrf_token": csrf_token(page.text)}).status_code == 403
    assert supervisor.post(f"/admin/devices/{device.id}/revoke",
                           data={"csrf_token": csrf_token(page.text)}).status_code == 403
    admin = login("admin")
    assert admin.post(f"/admin/devices/{device.id}/revoke").status_code == 400
    db.session.expire_all()
    assert db.session.get(Device, device.id).revoked_at is None


def test_the_check_holds_devices_in_memory(app, windows):
    """A rating costs no query for its device in the steady state."""
    tablet = app.test_client()
    pair_device("A01", client=tablet)
    tablet.post("/api/ratings", json=kiosk_body())  # loads the devices
    asked = []

    def count(conn, cursor, statement, *args):
        if "FROM device" in statement:
            asked.append(statement)
    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            assert tablet.post("/api/ratings", json=kiosk_body()).status_code == 201
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(asked) <= 1


def test_heartbeat_moves_the_status_from_never_to_online_to_offline(app, windows):
    tablet = app.test_client()
    pair_device("A01", client=tablet)
    device = db.session.scalar(sa.select(Device))
    t0 = utcnow()
    assert devices.status(device, t0) == "never"
    resp = tablet.post("/api/devices/heartbeat", json={"version": "3f2a9c1b7e", "queued": 2})
    assert (resp.status_code, resp.json) == (200, {"ok": True})
    db.session.expire_all()
    device = db.session.get(Device, device.id)
    assert (device.app_version, device.queued) == ("3f2a9c1b7e", 2)
    seen = device.last_seen_at
    assert abs(seen - t0) < timedelta(seconds=5)
    assert devices.status(device, seen + timedelta(seconds=179)) == "online"
    assert devices.status(device, seen + timedelta(seconds=181)) == "offline"
    assert devices.status(device, seen + timedelta(seconds=181), online_seconds=300) == "online"


def test_heartbeat_refuses_what_it_cannot_take(app, windows):
    assert app.test_client().post("/api/devices/heartbeat", json={}).status_code == 403
    tablet = app.test_client()
    pair_device("A01", client=tablet)
    bad = tablet.post("/api/devices/heartbeat", json={"queued": -1})
    assert bad.status_code == 400 and "queued" in bad.json["error"]
    assert tablet.post("/api/devices/heartbeat", json=[1]).status_code == 400
    assert tablet.post("/api/devices/heartbeat", data="x").status_code == 415


def test_the_windows_list_and_page_show_each_tablet(app, windows, login):
    tablet = app.test_client()
    pair_device("A01", client=tablet)
    tablet.post("/api/devices/heartbeat", json={"version": "abcdef1234", "queued": 3})
    pair_device("B01")
    pair_device("A01", "clerk")  # sends no heartbeat: listed as paired, not as silent
    supervisor = login("supervisor")
    listing = supervisor.get("/admin/manage/windows").text
    assert "在线" in listing and "从未连接" in listing and "待发送 3" in listing
    page = supervisor.get("/admin/windows/A01/devices").text
    assert "abcdef1234" in page and "在线" in page
    assert "窗口人员电脑" in page and "已配对" in page and "从未连接" not in page


# Opening hours 09:00-12:00, 13:30-17:30 hall time on working days (UTC+8).
WED_0900 = datetime(2026, 11, 25, 1, 0)  # Wednesday 09:00 in the hall, as stored (UTC)


def silent_at(app, now: datetime) -> list[str]:
    return [t.window_code for t in devices.silent_tablets(db.session, now, app)]


def test_a_tablet_is_silent_after_ten_minutes_of_opening_hours(app, windows):
    pair_device("A01")
    device = db.session.scalar(sa.select(Device))
    device.last_seen_at = WED_0900
    db.session.commit()
    assert silent_at(app, WED_0900 + timedelta(minutes=9)) == []
    assert silent_at(app, WED_0900 + timedelta(minutes=10)) == ["A01"]
    # Last heard 17:25: the night does not count, 09:05 the next morning is 10 minutes.
    device.last_seen_at = datetime(2026, 11, 25, 9, 25)
    db.session.commit()
    assert silent_at(app, datetime(2026, 11, 26, 0, 50)) == []  # 08:50, hall closed
    assert silent_at(app, datetime(2026, 11, 26, 1, 4)) == []
    assert silent_at(app, datetime(2026, 11, 26, 1, 5)) == ["A01"]
    # Nor does lunch: last heard 11:55, at 13:34 it is 9 minutes.
    device.last_seen_at = datetime(2026, 11, 25, 3, 55)
    db.session.commit()
    assert silent_at(app, datetime(2026, 11, 25, 5, 34)) == []
    assert silent_at(app, datetime(2026, 11, 25, 5, 35)) == ["A01"]


def test_a_paired_tablet_never_heard_from_is_silent_too(app, windows):
    pair_device("B01")
    device = db.session.scalar(sa.select(Device))
    device.paired_at = WED_0900
    db.session.commit()
    assert silent_at(app, WED_0900 + timedelta(minutes=5)) == []
    assert silent_at(app, WED_0900 + timedelta(minutes=30)) == ["B01"]
    devices.revoke(db.session, device, None, WED_0900)
    db.session.commit()
    assert silent_at(app, WED_0900 + timedelta(minutes=30)) == []  # revoked: not a tablet


def test_the_dashboard_lists_silent_tablets(app, windows, login):
    pair_device("A01")
    device = db.session.scalar(sa.select(Device))
    device.paired_at = utcnow() - timedelta(days=20)  # weeks of working days ago
    db.session.commit()
    page = login("supervisor").get("/admin/").text
    assert "1 台评价平板在办公时间内已超过 10 分钟没有联系" in page
    assert "A01 综合受理窗口" in page and "配对后从未连接" in page
    assert "评价平板在办公时间内" not in login("caller").get("/admin/").text
    device.last_seen_at = utcnow()
    db.session.commit()
    assert "评价平板在办公时间内" not in login("supervisor").get("/admin/").text


def test_a_department_head_sees_only_their_tablets(app, windows, login):
    pair_device("B01")
    device = db.session.scalar(sa.select(Device))
    device.paired_at = utcnow() - timedelta(days=20)
    db.session.commit()
    make_window("C01", name="医保窗口", dept="县医疗保障局", staff_no="S003")
    head = login("department", department="县医疗保障局")
    assert "评价平板在办公时间内" not in head.get("/admin/").text
    assert head.get("/admin/windows/B01/devices").status_code == 403
    assert head.get("/admin/windows/C01/devices").status_code == 200
    own = login("department", department="政务服务中心")  # both fixture windows'
    assert "B01" in own.get("/admin/").text
