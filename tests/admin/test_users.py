"""User management pages (admin/users.py)."""
from __future__ import annotations

import json
import re

import sqlalchemy as sa

from kiosk.db import db
from kiosk.models import AuditEntry, User

from ..helpers import PASSWORD, csrf_token, make_user, make_window, sign_in


def post_form(client, page_url, action_url, fields):
    token = csrf_token(client.get(page_url).get_data(as_text=True))
    return client.post(action_url, data={**fields, "csrf_token": token})


def new_user(client, **fields):
    body = {"username": "wang", "role": "caller", "department_id": "0",
            "password": "initial pass 1", "confirm": "initial pass 1"}
    body.update(fields)
    return post_form(client, "/admin/users/new", "/admin/users/new", body)


def user(name):
    return db.session.scalar(sa.select(User).where(User.username == name))


def entries(action):
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def test_the_list_finds_users_by_name_role_and_status(login):
    admin = login("admin")
    make_user("zhang.wei", "supervisor")
    make_user("li.na", "caller")
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "zhang.wei" in page and "li.na" in page and "督查" in page
    found = admin.get("/admin/users?q=ZHANG").get_data(as_text=True)
    assert "zhang.wei" in found and "li.na" not in found
    callers = admin.get("/admin/users?role=caller").get_data(as_text=True)
    assert "li.na" in callers and "zhang.wei" not in callers
    none = admin.get("/admin/users?q=nobody").get_data(as_text=True)
    assert "没有符合条件的用户" in none


def test_the_list_pages_and_keeps_the_search(login):
    admin = login("admin")
    db.session.add_all(User(username=f"clerk{n:02d}", role="caller", password_hash="x")
                       for n in range(60))
    db.session.commit()
    first = admin.get("/admin/users?q=clerk").get_data(as_text=True)
    assert "clerk49" in first and "clerk50" not in first
    assert "第 1 / 2 页，共 60 条" in first
    assert 'href="/admin/users?q=clerk&amp;page=2"' in first
    second = admin.get("/admin/users?q=clerk&page=2").get_data(as_text=True)
    assert "clerk50" in second and "clerk59" in second and "clerk49" not in second


def test_an_admin_creates_a_user_who_can_then_sign_in(app, login):
    admin = login("admin")
    response = new_user(admin)
    assert response.status_code == 302
    wang = user("wang")
    assert wang.role == "caller" and wang.active
    assert sign_in(app.test_client(), "wang", "initial pass 1").status_code == 302
    [entry] = entries("user.create")
    assert entry.username == admin.user.username and entry.target_id == str(wang.id)
    assert json.loads(entry.after)["role"] == "caller"
    assert "initial pass" not in entry.after and "scrypt" not in entry.after


def test_a_department_head_needs_a_department(login):
    window = make_window()
    admin = login("admin")
    response = new_user(admin, role="department")
    assert response.status_code == 400
    assert "股室负责人必须选择所属股室" in response.get_data(as_text=True)
    assert user("wang") is None
    response = new_user(admin, role="department", department_id=str(window.department_id))
    assert response.status_code == 302
    assert user("wang").department_id == window.department_id


def test_the_new_user_form_says_what_is_wrong_in_chinese(login):
    admin = login("admin")
    make_user("taken", "caller")
    cases = [({"username": ""}, "请输入用户名"),
             ({"username": "Taken"}, "已被使用"),
             ({"username": "two words"}, "不能含空格"),
             ({"password": "short", "confirm": "short"}, "密码至少 8 个字符"),
             ({"confirm": "something else"}, "两次输入的新密码不一致"),
             ({"role": "root"}, "请选择角色")]
    for fields, message in cases:
        response = new_user(admin, **fields)
        assert response.status_code == 400, fields
        page = response.get_data(as_text=True)
        assert message in page, (fields, message)
        assert 'class="field has-error"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 2


def test_the_new_user_form_names_every_mistake_at_once(login):
    make_window()
    response = new_user(login("admin"), username="two words", role="department",
                        password="short", confirm="short")
    page = response.get_data(as_text=True)
    for message in ("不能含空格", "股室负责人必须选择所属股室", "密码至少 8 个字符"):
        assert message in page
    assert page.count('class="field has-error"') == 3


def test_editing_role_department_and_active_is_logged_before_and_after(login):
    window = make_window()
    admin = login("admin")
    li = make_user("li", "caller")
    url = f"/admin/users/{li.id}"
    response = post_form(admin, url, url, {"role": "department", "active": "y",
                                           "department_id": str(window.department_id)})
    assert response.status_code == 302
    assert "已保存" in admin.get(url).get_data(as_text=True)
    db.session.refresh(li)
    assert li.role == "department" and li.department_id == window.department_id
    [entry] = entries("user.update")
    assert json.loads(entry.before) == {"role": "caller", "department": None}
    assert json.loads(entry.after)["role"] == "department"


def test_deactivating_a_user_ends_their_session_and_refuses_sign_in(app, login):
    admin = login("admin")
    li = login("caller")
    url = f"/admin/users/{li.user.id}"
    assert li.get("/admin/").status_code == 200
    response = post_form(admin, url, url, {"role": "caller", "department_id": "0"})
    assert response.status_code == 302
    assert li.get("/admin/").status_code == 302
    refused = sign_in(app.test_client(), li.user.username)
    assert "已停用" in refused.get_data(as_text=True)


def test_an_admin_cannot_deactivate_or_demote_themself(login):
    admin = login("admin")
    url = f"/admin/users/{admin.user.id}"
    response = post_form(admin, url, url, {"role": "admin", "department_id": "0"})
    assert response.status_code == 400
    assert "不能停用自己的账号" in response.get_data(as_text=True)
    response = post_form(admin, url, url, {"role": "caller", "active": "y"})
    assert "不能修改自己的角色" in response.get_data(as_text=True)
    assert admin.get("/admin/users").status_code == 200


def test_resetting_a_password_ends_their_sessions_and_logs_no_secret(app, login):
    admin = login("admin")
    li = login("caller")
    url = f"/admin/users/{li.user.id}"
    response = post_form(admin, url, url + "/password",
                         {"reset-password": "temporary 123", "reset-confirm": "temporary 123"})
    assert response.status_code == 302
    assert li.get("/admin/").status_code == 302
    assert sign_in(app.test_client(), li.user.username).status_code == 401
    assert sign_in(app.test_client(), li.user.username, "temporary 123").status_code == 302
    [entry] = entries("user.password_reset")
    assert entry.before is None and entry.after is None
    everything = " ".join(f"{e.before} {e.after}" for e in db.session.scalars(
        sa.select(AuditEntry)))
    assert "temporary 123" not in everything and "scrypt" not in everything


def test_a_reset_with_mismatched_passwords_says_so(login):
    admin = login("admin")
    li = make_user("li", "caller")
    url = f"/admin/users/{li.id}"
    response = post_form(admin, url, url + "/password",
                         {"reset-password": "temporary 123", "reset-confirm": "temporary 124"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "两次输入的新密码不一致" in page
    assert re.search(r'<option selected value="caller">', page)  # the account form intact
    assert li.check_password(PASSWORD)


def test_an_admin_resetting_their_own_password_stays_signed_in(login):
    admin = login("admin")
    url = f"/admin/users/{admin.user.id}"
    response = post_form(admin, url, url + "/password",
                         {"reset-password": "temporary 123", "reset-confirm": "temporary 123"})
    assert response.status_code == 302
    assert admin.get("/admin/users").status_code == 200


def test_unlocking_a_locked_account_lets_it_sign_in(app, login, monkeypatch):
    import admin.auth

    monkeypatch.setattr(admin.auth, "pause", lambda seconds: None)
    boss = login("admin")
    li = make_user("li", "caller")
    for _ in range(5):
        sign_in(app.test_client(), "li", "wrong password")
    url = f"/admin/users/{li.id}"
    page = boss.get(url).get_data(as_text=True)
    assert "连续 5 次密码错误，锁定至" in page
    assert "锁定至" in boss.get("/admin/users?status=locked").get_data(as_text=True)
    response = post_form(boss, url, url + "/unlock", {})
    assert response.status_code == 302
    assert sign_in(app.test_client(), "li").status_code == 302
    assert len(entries("user.unlock")) == 1


def test_the_edit_page_shows_the_accounts_recent_history(login):
    admin = login("admin")
    new_user(admin)
    page = admin.get(f"/admin/users/{user('wang').id}").get_data(as_text=True)
    assert "新建用户" in page and admin.user.username in page


def test_an_unknown_user_is_404(login):
    assert login("admin").get("/admin/users/99999").status_code == 404


def test_only_admins_manage_users(login):
    for role in ("supervisor", "caller", "department"):
        client = login(role)
        assert client.get("/admin/users").status_code == 403
        assert "用户" not in re.findall(r'<nav class="mainnav">(.*?)</nav>',
                                      client.get("/admin/").get_data(as_text=True), re.S)[0]
