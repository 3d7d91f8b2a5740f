"""The audit log page (admin/audit.py) and what kiosk/audit.py keeps."""
from __future__ import annotations

import ast
import re
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from kiosk import audit, clock
from kiosk.db import db, utcnow
from kiosk.models import AuditEntry, Staff

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
    assert "修改用户" in first and "修改窗口" in second


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


# -- labels and names ------------------------------------------------------------------

SOURCE = Path(__file__).resolve().parents[2]


def _strings(node: ast.AST) -> list[str] | None:
    """The string constants an action argument can be (both sides of ``a if c else b``);
    None when it is built some other way (an f-string, a call)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _strings(node.body), _strings(node.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def _argument(call: ast.Call, position: int, name: str) -> ast.AST | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == name), None)


def recorded_actions() -> tuple[set[str], list[str]]:
    """Every action code passed to ``audit.record`` in kiosk/ and admin/, following an
    action handed in as a parameter (``_begin(..., "duty.start")``) to the calls of its
    function; and the calls whose action could not be read."""
    found: set[str] = set()
    unread: list[str] = []
    for path in sorted([*SOURCE.glob("kiosk/**/*.py"), *SOURCE.glob("admin/**/*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)]
        calls = [c for c in ast.walk(tree) if isinstance(c, ast.Call)]
        for function in functions:
            params = [a.arg for a in function.args.args]
            for call in ast.walk(function):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "record"
                        and isinstance(call.func.value, ast.Name)
                        and call.func.value.id == "audit"):
                    continue
                action = _argument(call, 1, "action")
                where = f"{path.relative_to(SOURCE)}:{call.lineno}"
                if isinstance(action, ast.Name) and action.id in params:
                    position = params.index(action.id)
                    passed = [_argument(c, position, action.id) for c in calls
                              if isinstance(c.func, ast.Name) and c.func.id == function.name]
                    values = [_strings(p) if p is not None else None for p in passed]
                    if not values or None in values:
                        unread.append(where)
                    for value in values:
                        found.update(value or [])
                elif (values := _strings(action)) is not None:
                    found.update(values)
                else:
                    unread.append(where)
    return found, unread


def test_every_action_the_code_records_has_a_chinese_label():
    found, unread = recorded_actions()
    assert not unread, f"audit.record with an action the test cannot read: {unread}"
    # The scan finds the actions it must (so an empty scan cannot pass).
    assert {"duty.start", "duty.end", "duty.change", "staff.photo", "phone.reveal",
            "rating.reattribute", "hall.create", "hall.update", "auth.logout",
            "suggestion.handle", "user.unlock"} <= found
    missing = sorted(found - set(audit.ACTION_LABELS))
    assert not missing, f"actions without a label in kiosk/audit.py ACTION_LABELS: {missing}"
    assert audit.ACTION_LABELS["phone.reveal"] == "查看完整号码"
    assert audit.ACTION_LABELS["rating.reattribute"] == "评价改归属"


def test_ids_in_the_log_read_as_names(app, login):
    from kiosk import roster
    from kiosk.windows import save_window

    from ..helpers import make_window

    boss = login("admin")
    window = make_window("A01", name="综合受理窗口", dept="政务服务中心", staff_no=None)
    other = make_window("B01", name="企业开办窗口", dept="市场监督管理局", staff_no=None)
    clerk = Staff(staff_no="S009", name="陈静", department_id=window.department_id)
    db.session.add(clerk)
    db.session.flush()
    now = utcnow()
    roster.start_duty(window, clerk, now, now, clock.zone("Asia/Shanghai"), boss.user)
    save_window(window, "A01", "综合受理窗口", other.department_id, True, boss.user)
    db.session.commit()
    page = boss.get("/admin/audit?action=duty.start").get_data(as_text=True)
    [row] = rows(page)
    assert "开始在岗" in row and "duty.start" in row
    assert f"<ins>A01 综合受理窗口 #{window.id}</ins>" in row
    assert f"<ins>陈静（S009） #{clerk.id}</ins>" in row
    assert "A01 · 陈静" in row  # the duty itself
    [moved] = rows(boss.get("/admin/audit?action=window.update").get_data(as_text=True))
    assert "<del>政务服务中心 #" in moved and "<ins>市场监督管理局 #" in moved
    assert f"窗口 #{window.id}</a><br><span class=\"target-name\">A01 综合受理窗口" in moved
    # The log keeps the ids as they were.
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "duty.start")).one()
    assert f'"window_id": {window.id}' in entry.after


def test_a_change_made_on_the_command_line_says_so(app, runner, login, monkeypatch):
    import admin.auth

    monkeypatch.setattr(admin.auth, "pause", lambda seconds: None)
    result = runner.invoke(args=["create-user", "wang", "--role", "caller",
                                 "--password", "correct horse battery"])
    assert result.exit_code == 0, result.output
    make_user("li", "caller")
    sign_in(app.test_client(), "li", "wrong password")
    boss = login("admin")
    page = boss.get("/admin/audit").get_data(as_text=True)
    [created] = [r for r in rows(page) if "user.create" in r]
    assert ">命令行</a>" in created and "(system)" not in created and "未登录" not in created
    [failed] = [r for r in rows(page) if "auth.login_failed" in r]
    assert ">li</a> <span class=\"muted small\">未登录</span>" in failed
    assert len(rows(boss.get("/admin/audit?user=命令行").get_data(as_text=True))) == 1
