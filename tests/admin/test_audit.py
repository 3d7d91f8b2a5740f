"""The audit log page (admin/audit.py) and what kiosk/audit.py keeps."""
from __future__ import annotations

import re
from datetime import datetime

from kiosk import audit
from kiosk.db import db
from kiosk.models import AuditEntry

from ..helpers import make_user, sign_in


def add(action, at, username="boss", target_type="window", target_id="7",
        before=None, after=None):
    entry = audit.record(None, action, target_type, target_id, before, after,
                         username=username)
    entry.at = at
    db.session.commit()
    return entry


def rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_entries_are_newest_first_with_before_and_after_readable(login):
    admin = login("admin")
    add("window.update", datetime(2026, 3, 2, 2, 0), before={"name": "综合受理"},
        after={"name": "综合受理一号"})
    add("user.update", datetime(2026, 3, 3, 2, 0), target_type="user",
        before={"role": "caller", "active": True}, after={"role": "supervisor",
                                                          "active": False})
    page = admin.get("/admin/audit?user=boss").get_data(as_text=True)
    first, second = rows(page)
    # Hall time (UTC+8), newest first.
    assert "2026-03-03 10:00:00" in first and "2026-03-02 10:00:00" in second
    assert "<del>回访员</del> → <ins>督查</ins>" in first
    assert "<del>是</del> → <ins>否</ins>" in first
    assert "<del>综合受理</del> → <ins>综合受理一号</ins>" in second
    assert "用户修改" in first and "窗口修改" in second


def test_a_creation_shows_only_the_new_values(login):
    admin = login("admin")
    add("window.create", datetime(2026, 3, 2), after={"code": "A09"})
    [row] = rows(admin.get("/admin/audit?action=window.create").get_data(as_text=True))
    assert "<ins>A09</ins>" in row and "<del>" not in row


def test_filters_by_user_action_target_and_hall_days(login):
    admin = login("admin")
    add("window.update", datetime(2026, 3, 1, 15, 59), username="li", target_id="1")
    add("window.update", datetime(2026, 3, 1, 16, 0), username="li", target_id="2")
    add("staff.update", datetime(2026, 3, 2, 1, 0), username="wang", target_type="staff",
        target_id="2")
    add("window.delete", datetime(2026, 3, 3, 1, 0), username="wang", target_id="2")

    def count(query):
        return len(rows(admin.get("/admin/audit?" + query).get_data(as_text=True)))

    assert count("user=li") == 2
    assert count("action=window.update") == 2
    assert count("target_type=window&target_id=2") == 2
    assert count("target_type=staff") == 1
    # 2026-03-02 in Shanghai is 03-01 16:00 to 03-02 16:00 UTC.
    assert count("from=2026-03-02&to=2026-03-02") == 2
    assert count("from=2026-03-03&to=2026-03-31") == 1
    assert count("to=2026-03-01") == 1  # 23:59 on 03-01 in the hall
    assert count("user=wang&from=2026-03-02&to=2026-03-02") == 1


def test_a_bad_date_is_explained_not_an_error(login):
    page = login("admin").get("/admin/audit?from=yesterday")
    assert page.status_code == 200
    assert "不是有效日期" in page.get_data(as_text=True)


def test_the_log_pages_fifty_at_a_time(login):
    admin = login("admin")
    db.session.add_all(AuditEntry(at=datetime(2026, 3, 1, 0, n), username="bulk",
                                  action="window.update", target_type="window",
                                  target_id=str(n)) for n in range(60))
    db.session.commit()
    first = admin.get("/admin/audit?user=bulk").get_data(as_text=True)
    assert len(rows(first)) == 50 and "第 1 / 2 页，共 60 条" in first
    assert "window #59" not in first and "窗口 #59" in first  # newest first
    second = admin.get("/admin/audit?user=bulk&page=2").get_data(as_text=True)
    assert len(rows(second)) == 10 and "窗口 #0<" in second


def test_sign_ins_failures_and_lockouts_are_on_the_page(app, login, monkeypatch):
    import admin.auth

    monkeypatch.setattr(admin.auth, "pause", lambda seconds: None)
    make_user("li", "caller")
    for _ in range(5):
        sign_in(app.test_client(), "li", "wrong password")
    boss = login("admin")
    page = boss.get("/admin/audit?user=li").get_data(as_text=True)
    assert page.count("登录失败") >= 5 and "账号锁定" in page and "密码错误" in page
    page = boss.get(f"/admin/audit?user={boss.user.username}").get_data(as_text=True)
    assert "auth.login" in page
    assert "auth.login_failed" in page  # the action filter lists what the log holds


def test_the_log_itself_records_nothing_on_reading(login):
    admin = login("admin")
    before = db.session.query(AuditEntry).count()
    admin.get("/admin/audit")
    assert db.session.query(AuditEntry).count() == before


def test_a_change_that_changed_nothing_is_not_logged(app):
    assert audit.record(None, "window.update", "window", 1, {"name": "a"},
                        {"name": "a"}) is None
