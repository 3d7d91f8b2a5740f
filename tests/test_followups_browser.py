"""A morning's follow-up in real Chromium: a caller signs in, works the call list
(overdue first), records attempts; the department records its rectification; the
caller records the citizen's view and closes the case. Screenshots at 1366x900 go to
test-artifacts/followups/."""
from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk import clock
from kiosk.db import db, utcnow
from kiosk.models import AuditEntry, FollowupCase

from .helpers import PASSWORD, make_user, make_window
from .liveserver import Client, LiveServer

TZ = clock.zone("Asia/Shanghai")
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "followups"
DESKTOP = {"width": 1366, "height": 900}
DEPT = "不动产登记中心"


@pytest.fixture
def server(app, database_uri, tmp_path):
    make_window("B03", "不动产登记窗口", DEPT, "S031", "李娜")
    make_window("A01", "综合受理窗口", "政务服务中心", "S001", "张丽")
    make_user("huifang", "caller")
    make_user("gushi", "department", DEPT)
    srv = LiveServer(database_uri, tmp_path / "srv")
    client = Client(srv.port)
    # Through the public write path, so the server's own key seals the numbers.
    for window, score, phone, comment, reasons in (
            ("B03", 1, "13800138000", "材料说了三次才说清楚，跑了两趟", ["guidance", "attitude"]),
            ("A01", 2, "+85291234567", "等候时间太长", ["waiting"]),
            ("B03", 1, None, None, []),
            ("A01", 1, "13912345678", None, ["efficiency"])):
        body = {"window": window, "score": score, "channel": "qr",
                "client_id": uuid.uuid4().hex, "reasons": reasons}
        if phone:
            body["phone"] = phone
        if comment:
            body["comment"] = comment
        status, _ = client.post("/api/ratings", body)
        assert status == 201
    client.close()
    cases = db.session.scalars(sa.select(FollowupCase).order_by(FollowupCase.id)).all()
    assert len(cases) == 4
    today = clock.to_local(utcnow(), TZ).date()
    for case, contact in zip(cases, (-2, 1, 2, 3)):  # the first one is two days late
        case.contact_due = today + timedelta(days=contact)
        case.resolve_due = today + timedelta(days=contact + 14)
        case.rated_at -= timedelta(days=4 if contact < 0 else 0)
    db.session.commit()
    srv.cases = cases
    yield srv
    srv.stop()


def sign_in(page, url: str, username: str) -> None:
    page.goto(url)
    assert "/admin/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_a_caller_calls_the_department_rectifies_and_the_case_closes(browser, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    late = server.cases[0]
    caller_ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = caller_ctx.new_page()
    sign_in(page, server.url + "/admin/followups", "huifang")
    page.wait_for_url("**/admin/followups")
    rows = page.locator("table.calllist tbody tr")
    assert rows.count() == 4
    first = rows.nth(0)
    assert "已逾期" in first.inner_text() and "B03" in first.inner_text()
    assert "overdue" in first.get_attribute("class")
    assert "138****8000" in first.inner_text()  # the list masks, even for a caller
    page.screenshot(path=str(SHOTS / "calllist.png"), full_page=True)

    first.locator("a.open-case").click()
    page.wait_for_url(f"**/admin/followups/{late.id}")
    assert page.locator(".phone-big a[href='tel:13800138000']").is_visible()
    page.check("input[name=result][value=no_answer]")
    page.fill("#attempt-note", "响铃十声无人接")
    with page.expect_navigation():
        page.click("#attempt button[type=submit]")
    assert "已记录本次回访" in page.locator(".flash").first.inner_text()
    page.check("input[name=result][value=reached]")
    page.fill("#attempt-note", "群众说窗口没有一次性告知所需材料")
    with page.expect_navigation():
        page.click("#attempt button[type=submit]")
    history = page.locator("table.history-table tbody tr")
    assert history.count() == 2 and "已接通" in history.nth(1).inner_text()
    assert "处理中" in page.locator("h1").inner_text()
    page.screenshot(path=str(SHOTS / "case-after-attempts.png"), full_page=True)

    dept_ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    dept = dept_ctx.new_page()
    sign_in(dept, server.url + "/admin/", "gushi")
    dept.wait_for_url("**/admin/")
    assert "本股室待办回访件" in dept.locator("section.followup-cases h2").inner_text()
    dept.screenshot(path=str(SHOTS / "dashboard-department.png"), full_page=True)
    dept.goto(server.url + f"/admin/followups/{late.id}")
    assert dept.locator(".phone-big").inner_text().startswith("138****8000")
    assert dept.locator("#attempt").count() == 0  # a department does not call
    dept.fill("#verification", "调取窗口录像：受理人员未按一次性告知清单说明所需材料")
    dept.fill("#rectification", "对窗口人员进行一次性告知制度培训，材料清单张贴在窗口")
    with dept.expect_navigation():
        dept.click("#rectify button[type=submit]")
    assert "已记录核实整改情况" in dept.locator(".flash").first.inner_text()
    dept.screenshot(path=str(SHOTS / "case-rectified.png"), full_page=True)
    dept_ctx.close()

    page.reload()
    assert "一次性告知制度培训" in page.locator("#rectify").inner_text()
    page.check("input[name=view][value=satisfied]")
    with page.expect_navigation():
        page.click("#citizen-view button[type=submit]")
    page.select_option("#outcome", "resolved")
    page.fill("#close-note", "已整改，群众满意")
    page.once("dialog", lambda dialog: dialog.accept())  # 确定结案吗？
    with page.expect_navigation():
        page.click("#close button[type=submit]")
    assert "已结案" in page.locator("h1").inner_text()
    assert page.locator("#attempt").count() == 0
    page.screenshot(path=str(SHOTS / "case-closed.png"), full_page=True)

    page.goto(server.url + "/admin/followups")
    assert page.locator("table.calllist tbody tr").count() == 3
    page.goto(server.url + "/admin/followups/print")
    assert "13912345678" in page.locator("table.sheet").inner_text()
    page.emulate_media(media="print")
    assert not page.locator(".sheet-buttons").is_visible()
    page.screenshot(path=str(SHOTS / "call-sheet-print.png"), full_page=True)
    caller_ctx.close()

    db.session.expire_all()
    case = db.session.get(FollowupCase, late.id)
    assert case.status == "closed" and case.outcome == "resolved"
    assert case.contacted_at and case.reached_at and case.rectified_at
    revealed = db.session.scalars(sa.select(AuditEntry.target_id).where(
        AuditEntry.action == "phone.reveal", AuditEntry.username == "huifang")).all()
    assert str(late.id) in revealed  # each page with the whole number is on record
