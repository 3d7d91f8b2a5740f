"""The suggestions inbox (/admin/suggestions): read, filter, page, handle with a reply
note, reopen, export; department heads see their own windows' suggestions."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk import clock, phonekeys
from kiosk.db import db
from kiosk.models import AuditEntry, Suggestion, Window

from ..helpers import csrf_token, make_window

TZ = clock.zone("Asia/Shanghai")
T0 = datetime(2026, 11, 20, 2, 0)  # naive UTC: 10:00 in the hall
PHONE = "13812345678"


def local(text: str) -> datetime:
    """A hall-time moment as stored (naive UTC)."""
    return clock.to_utc(datetime.fromisoformat(text), TZ)


def add(text: str, window: str | None = None, at: datetime = T0, phone: str | None = None,
        handled: bool = False) -> Suggestion:
    window_id = db.session.scalar(sa.select(Window.id).where(Window.code == window))
    sealed = phonekeys.keyring().seal(phone) if phone else None  # as stored
    s = Suggestion(text=text, window_id=window_id, created_at=at, phone=sealed,
                   channel="kiosk")
    if handled:
        s.handled_at, s.reply = at + timedelta(hours=1), "已答复"
    db.session.add(s)
    db.session.commit()
    return s


@pytest.fixture
def windows(app):
    make_window("A01", name="综合受理窗口", dept="政务服务中心", staff_no="S001")
    make_window("B01", name="企业开办窗口", dept="市场监督管理局", staff_no="S002")


def listed(html: str) -> list[str]:
    """The suggestion texts in the inbox table, top to bottom."""
    return re.findall(r'<td class="text"><a href="[^"]+">([^<]*)</a></td>', html)


def test_newest_first_twenty_a_page(windows, login):
    for i in range(25):
        add(f"第{i}条建议", "A01", at=T0 + timedelta(minutes=i))
    client = login("supervisor")
    first = client.get("/admin/suggestions").get_data(as_text=True)
    assert listed(first) == [f"第{i}条建议" for i in range(24, 4, -1)]
    assert "第 1 / 2 页" in first and "下一页" in first
    second = client.get("/admin/suggestions?page=2").get_data(as_text=True)
    assert listed(second) == [f"第{i}条建议" for i in range(4, -1, -1)]
    assert listed(client.get("/admin/suggestions?page=99").get_data(as_text=True)) == \
        listed(second)


def test_filter_by_status_window_and_text(windows, login):
    add("停车位太少", "A01", handled=True)
    add("希望增加停车场", "B01", at=T0 + timedelta(hours=1))
    add("服务很好，100%满意", None, at=T0 + timedelta(hours=2))
    client = login("supervisor")

    def shown(query: str) -> list[str]:
        return listed(client.get("/admin/suggestions?" + query).get_data(as_text=True))

    assert shown("status=open") == ["服务很好，100%满意", "希望增加停车场"]
    assert shown("status=handled") == ["停车位太少"]
    assert shown("window=B01") == ["希望增加停车场"]
    # The inbox opens on 未处理; 全部 shows the handled ones too.
    assert shown("") == shown("status=open")
    assert shown("q=停车") == ["希望增加停车场"]
    assert shown("q=停车&status=all") == ["希望增加停车场", "停车位太少"]
    page = client.get("/admin/suggestions").get_data(as_text=True)
    assert '<option value="open" selected>未处理</option>' in page
    assert 'href="/admin/suggestions.csv?status=open"' in page  # the export is what is shown
    assert shown("q=%") == ["服务很好，100%满意"]  # a literal %, not a wildcard
    assert shown("q=停车&status=open&window=B01") == ["希望增加停车场"]


def test_the_date_range_is_in_hall_days(windows, login):
    add("周二深夜", at=local("2026-11-24 23:30"))  # 15:30 UTC on the 24th
    add("周三凌晨", at=local("2026-11-25 00:10"))  # still the 24th in UTC
    add("周一", at=local("2026-11-23 12:00"))
    client = login("supervisor")
    page = client.get("/admin/suggestions?from=2026-11-24&to=2026-11-24")
    assert listed(page.get_data(as_text=True)) == ["周二深夜"]
    page = client.get("/admin/suggestions?from=2026-11-25")
    assert listed(page.get_data(as_text=True)) == ["周三凌晨"]
    bad = client.get("/admin/suggestions?from=2026-13-01")
    assert bad.status_code == 200 and "格式不正确" in bad.get_data(as_text=True)
    assert len(listed(bad.get_data(as_text=True))) == 3


def test_mark_handled_with_a_reply_note_then_reopen_all_audited(windows, login):
    s = add("建议在大厅增加老花镜", "A01", phone=PHONE)
    client = login("supervisor")
    page = client.get(f"/admin/suggestions/{s.id}?status=open")
    html = page.get_data(as_text=True)
    assert "建议在大厅增加老花镜" in html and "标记为已处理" in html

    done = client.post(f"/admin/suggestions/{s.id}/handle?status=open",
                       data={"reply": "已在服务台配备老花镜5副", "csrf_token": csrf_token(html)})
    assert done.status_code == 302
    assert done.headers["Location"] == f"/admin/suggestions/{s.id}?status=open"
    db.session.expire_all()
    s = db.session.get(Suggestion, s.id)
    assert s.handled_at is not None and s.handled_by_id == client.user.id
    assert s.reply == "已在服务台配备老花镜5副"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "suggestion.handle"))
    assert entry.target_id == str(s.id) and entry.username == client.user.username
    assert json.loads(entry.after)["reply"] == "已在服务台配备老花镜5副"
    assert json.loads(entry.before)["handled_at"] is None
    handled = client.get("/admin/suggestions?status=handled").get_data(as_text=True)
    assert listed(handled) == ["建议在大厅增加老花镜"]
    assert '<div class="reply-note">已在服务台配备老花镜5副</div>' in handled  # the reply note
    assert listed(client.get("/admin/suggestions").get_data(as_text=True)) == []  # 未处理

    html = client.get(f"/admin/suggestions/{s.id}").get_data(as_text=True)
    assert "已处理" in html and "重新打开" in html
    again = client.post(f"/admin/suggestions/{s.id}/reopen", data={"csrf_token": csrf_token(html)})
    assert again.status_code == 302
    db.session.expire_all()
    s = db.session.get(Suggestion, s.id)
    assert s.handled_at is None and s.handled_by_id is None
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "suggestion.reopen"))
    assert json.loads(entry.after) == {"handled_at": None, "handled_by_id": None}
    assert listed(client.get("/admin/suggestions?status=open").get_data(as_text=True)) == \
        ["建议在大厅增加老花镜"]


def test_a_reply_note_is_required(windows, login):
    s = add("建议延长午间服务", "A01")
    client = login("supervisor")
    html = client.get(f"/admin/suggestions/{s.id}").get_data(as_text=True)
    answer = client.post(f"/admin/suggestions/{s.id}/handle",
                         data={"reply": "   ", "csrf_token": csrf_token(html)})
    assert answer.status_code == 400
    assert "请填写处理说明" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Suggestion, s.id).handled_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action.like("suggestion.%"))) == 0


def test_handling_without_the_csrf_token_is_refused(windows, login):
    s = add("建议延长午间服务", "A01")
    answer = login("supervisor").post(f"/admin/suggestions/{s.id}/handle",
                                      data={"reply": "好的"})
    assert answer.status_code == 400
    db.session.expire_all()
    assert db.session.get(Suggestion, s.id).handled_at is None


def test_a_department_head_sees_only_their_windows(windows, login):
    add("综合窗口的建议", "A01")
    theirs = add("企业开办的建议", "B01")
    other = add("大厅的建议")
    client = login("department", "市场监督管理局")
    html = client.get("/admin/suggestions").get_data(as_text=True)
    assert listed(html) == ["企业开办的建议"]
    assert 'value="B01"' in html and 'value="A01"' not in html  # the window filter
    assert client.get(f"/admin/suggestions/{theirs.id}").status_code == 200
    assert client.get(f"/admin/suggestions/{other.id}").status_code == 404
    page = client.get(f"/admin/suggestions/{theirs.id}").get_data(as_text=True)
    refused = client.post(f"/admin/suggestions/{other.id}/handle",
                          data={"reply": "越权处理", "csrf_token": csrf_token(page)})
    assert refused.status_code == 404
    exported = client.get("/admin/suggestions.csv").get_data(as_text=True)
    assert "企业开办的建议" in exported and "综合窗口的建议" not in exported


def test_callers_may_not_open_the_inbox(windows, login):
    s = add("建议", "A01")
    client = login("caller")
    for url in ("/admin/suggestions", "/admin/suggestions.csv", f"/admin/suggestions/{s.id}"):
        assert client.get(url).status_code == 403
    assert "意见箱" not in client.get("/admin/").get_data(as_text=True)


def test_without_a_session_the_page_asks_to_sign_in_and_the_csv_is_401(client):
    assert client.get("/admin/suggestions").status_code == 302
    assert client.get("/admin/suggestions.csv").status_code == 401


def test_the_inbox_is_in_the_navigation(windows, login):
    html = login("supervisor").get("/admin/").get_data(as_text=True)
    assert '<a href="/admin/suggestions">意见箱</a>' in html


def rows_of(response) -> list[list[str]]:
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())  # BOM, so Excel reads the Chinese
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_the_export_is_excel_safe_and_masks_phones(windows, login):
    add("=HYPERLINK(\"http://evil.example\")", "A01", phone=PHONE)
    add("-1+2 建议", "B01", at=T0 + timedelta(minutes=1))
    add("@SUM(A1) 中文：停车难，建议增设车位", at=T0 + timedelta(minutes=2), handled=True)
    response = login("supervisor").get("/admin/suggestions.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = rows_of(response)
    assert rows[0][:6] == ["编号", "提交时间", "窗口编号", "窗口名称", "部门", "意见内容"]
    texts = [r[5] for r in rows[1:]]
    assert texts == ["'@SUM(A1) 中文：停车难，建议增设车位", "'-1+2 建议",
                     "'=HYPERLINK(\"http://evil.example\")"]
    assert rows[3][6] == "138****5678" and PHONE not in response.get_data(as_text=True)
    assert rows[1][8] == "已处理" and rows[1][11] == "已答复"
    assert rows[3][1] == "2026-11-20 10:00" and rows[3][2:5] == ["A01", "综合受理窗口", "政务服务中心"]


def test_the_export_follows_the_filter(windows, login):
    add("停车难", "A01")
    add("排队久", "B01")
    rows = rows_of(login("supervisor").get("/admin/suggestions.csv?q=停车"))
    assert [r[5] for r in rows[1:]] == ["停车难"]


@pytest.mark.parametrize("role", ["admin", "supervisor", "department"])
def test_phones_are_masked_in_the_list_detail_and_export_for_every_role(windows, login, role):
    s = add("请回电", "A01", phone=PHONE)
    client = login(role, department="政务服务中心" if role == "department" else None)
    pages = [client.get(url).get_data(as_text=True) for url in
             ("/admin/suggestions", f"/admin/suggestions/{s.id}", "/admin/suggestions.csv")]
    for shown in pages:
        assert "138****5678" in shown and PHONE not in shown
    assert rows_of(client.get("/admin/suggestions.csv"))[1][6] == "138****5678"


def reveal(client, suggestion_id: int):
    page = client.get(f"/admin/suggestions/{suggestion_id}").get_data(as_text=True)
    return client.post(f"/admin/suggestions/{suggestion_id}/phone",
                       data={"csrf_token": csrf_token(page)})


def reveals() -> list[tuple[str, str, str]]:
    return [(e.username, e.target_type, e.target_id) for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "phone.reveal").order_by(AuditEntry.id))]


def test_an_admin_reveals_a_whole_number_on_request_and_it_is_logged(windows, login):
    s = add("请回电", "A01", phone=PHONE)
    client = login("admin")
    page = client.get(f"/admin/suggestions/{s.id}").get_data(as_text=True)
    assert "显示完整号码" in page and PHONE not in page and reveals() == []
    resp = reveal(client, s.id)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    shown = resp.get_data(as_text=True)
    assert PHONE in shown and "显示完整号码" not in shown and "已记入审计日志" in shown
    assert reveals() == [(client.user.username, "suggestion", str(s.id))]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "phone.reveal"))
    assert PHONE not in (entry.before or "") + (entry.after or "")  # the log keeps no number
    # Shown once: opening the page again shows the mask.
    assert PHONE not in client.get(f"/admin/suggestions/{s.id}").get_data(as_text=True)


def test_a_reveal_needs_the_csrf_token(windows, login):
    s = add("请回电", "A01", phone=PHONE)
    resp = login("admin").post(f"/admin/suggestions/{s.id}/phone")
    assert resp.status_code == 400 and PHONE not in resp.get_data(as_text=True)
    assert reveals() == []


@pytest.mark.parametrize("role", ["supervisor", "department"])
def test_other_roles_get_no_button_and_may_not_reveal(windows, login, role):
    s = add("请回电", "A01", phone=PHONE)
    client = login(role, department="政务服务中心" if role == "department" else None)
    assert "显示完整号码" not in client.get(f"/admin/suggestions/{s.id}").get_data(as_text=True)
    resp = reveal(client, s.id)
    assert resp.status_code == 403 and PHONE not in resp.get_data(as_text=True)
    assert reveals() == []


def test_a_caller_may_not_reveal_through_the_inbox_it_may_not_open(windows, login):
    s = add("请回电", "A01", phone=PHONE)
    caller = login("caller")
    token = csrf_token(caller.get("/admin/").get_data(as_text=True))
    resp = caller.post(f"/admin/suggestions/{s.id}/phone", data={"csrf_token": token})
    assert resp.status_code == 403 and reveals() == []


def test_a_suggestion_without_a_number_offers_nothing_to_reveal(windows, login):
    s = add("无电话", "A01")
    page = login("admin").get(f"/admin/suggestions/{s.id}").get_data(as_text=True)
    assert "显示完整号码" not in page and "未留" in page


def test_the_reveal_in_chromium(browser, app, database_uri, tmp_path, windows):
    """The detail page at 1440×900, masked and then revealed (screenshots into
    test-artifacts/admin/ for a person to look at)."""
    from pathlib import Path

    from ..helpers import PASSWORD, make_user
    from ..liveserver import LiveServer

    shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"
    shots.mkdir(parents=True, exist_ok=True)
    s = add("窗口旁边的打印机经常没纸，希望能及时补充，另外建议增加一把椅子。", "A01",
            phone=PHONE)
    make_user("boss", "admin")
    srv = LiveServer(database_uri, tmp_path / "srv", phone_key=phonekeys.key_path(app))
    try:
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        page = context.new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(srv.url + "/admin/login")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(srv.url + f"/admin/suggestions/{s.id}")
        assert page.inner_text("dd.phone").startswith("138****5678")
        page.screenshot(path=str(shots / "suggestion-detail.png"), full_page=True)
        page.click("text=显示完整号码")
        page.wait_for_selector("text=本次查看已记入审计日志")
        assert page.inner_text("dd.phone").startswith(PHONE)
        page.screenshot(path=str(shots / "suggestion-detail-revealed.png"), full_page=True)
        assert not errors, errors
        context.close()
    finally:
        srv.stop()
    assert reveals() == [("boss", "suggestion", str(s.id))]
