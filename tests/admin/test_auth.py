"""Signing in to the back office."""
from __future__ import annotations

import pytest

from ..helpers import PASSWORD, csrf_token, make_user, sign_in


def test_a_browser_without_a_session_is_sent_to_the_login_page(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=/admin/")


def test_signing_in_lands_where_the_user_was_going(client):
    make_user("zhang", "supervisor")
    response = sign_in(client, "zhang", next_url="/admin/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "zhang" in page.get_data(as_text=True)


def test_a_wrong_password_is_refused_with_a_message(client):
    make_user("zhang", "supervisor")
    response = sign_in(client, "zhang", password="not the password")
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_without_a_csrf_token_is_refused(client):
    make_user("zhang", "supervisor")
    response = client.post("/admin/login", data={"username": "zhang", "password": PASSWORD})
    assert response.status_code in (400, 401)
    assert client.get("/admin/").status_code == 302


def test_next_never_leads_to_another_site(client):
    make_user("zhang", "supervisor")
    response = sign_in(client, "zhang", next_url="//evil.example/x")
    assert response.headers["Location"] == "/admin/"


def test_admin_pages_carry_security_headers(client):
    response = client.get("/admin/login")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_signing_out_ends_the_session(login):
    client = login("caller")
    page = client.get("/admin/").get_data(as_text=True)
    client.post("/admin/logout", data={"csrf_token": csrf_token(page)})
    assert client.get("/admin/").status_code == 302


# ---------------------------------------------------------------- lockout

def test_failed_sign_ins_slow_down_then_lock_the_account(client, monkeypatch):
    import admin.auth

    waits = []
    monkeypatch.setattr(admin.auth, "pause", waits.append)
    make_user("zhang", "supervisor")
    for _ in range(4):
        response = sign_in(client, "zhang", password="not the password")
        assert "用户名或密码不正确" in response.get_data(as_text=True)
    assert waits[0] > 0 and waits[1] > waits[0]  # the 3rd and 4th failures wait
    locked = sign_in(client, "zhang", password="not the password")
    text = locked.get_data(as_text=True)
    assert locked.status_code == 401
    assert "账号已锁定" in text and "请于" in text and "之后再试" in text
    # Even the right password is refused now, and says why.
    refused = sign_in(client, "zhang")
    assert refused.status_code == 401 and "账号已锁定" in refused.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    assert max(waits) <= 2.0


def test_an_unknown_name_is_answered_like_a_wrong_password(client):
    make_user("zhang", "supervisor")
    unknown = sign_in(client, "nobody", password="not the password")
    wrong = sign_in(client, "zhang", password="not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert "用户名或密码不正确" in unknown.get_data(as_text=True)


# ---------------------------------------------------------------- the session cookie

def _session_cookie(response) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(client):
    make_user("zhang", "supervisor")
    cookie = _session_cookie(sign_in(client, "zhang"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # a hall LAN on plain HTTP must still sign in


def test_the_session_cookie_is_secure_over_https(app):
    make_user("zhang", "supervisor")
    client = app.test_client()
    page = client.get("/admin/login", base_url="https://pj.example.gov.cn")
    # Over HTTPS Flask-WTF also wants a same-site Referer, as browsers send.
    response = client.post("/admin/login", base_url="https://pj.example.gov.cn",
                           headers={"Referer": "https://pj.example.gov.cn/admin/login"},
                           data={"username": "zhang", "password": PASSWORD,
                                 "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert "Secure" in _session_cookie(response)


def _behind_proxy(app, client, proxy_count):
    app.config["PROXY_COUNT"] = proxy_count
    from admin.auth import init_sessions

    init_sessions(app)
    headers = {"X-Forwarded-Proto": "https", "Referer": "https://localhost/admin/login"}
    page = client.get("/admin/login", headers=headers)
    return client.post("/admin/login", headers=headers,
                       data={"username": "zhang", "password": PASSWORD,
                             "csrf_token": csrf_token(page.get_data(as_text=True))})


def test_behind_a_configured_proxy_x_forwarded_proto_makes_the_cookie_secure(app, client):
    make_user("zhang", "supervisor")
    assert "Secure" in _session_cookie(_behind_proxy(app, client, 1))


def test_without_a_configured_proxy_x_forwarded_proto_is_not_trusted(app, client):
    make_user("zhang", "supervisor")
    assert "Secure" not in _session_cookie(_behind_proxy(app, client, 0))


def test_proxy_count_is_read_from_the_configuration(database_uri, tmp_path):
    from ..conftest import _dispose, _make_app

    app = _make_app(database_uri, str(tmp_path / "instance"), PROXY_COUNT=1)
    try:
        with app.app_context():
            client = app.test_client()
            response = client.get("/admin/login", headers={"X-Forwarded-Proto": "https"})
            assert "Secure" in _session_cookie(response)
    finally:
        _dispose(app)


# ---------------------------------------------------------------- one's own password

NEW = "a brand new password"


def _change(client, old=PASSWORD, new=NEW, confirm=NEW):
    page = client.get("/admin/account/password")
    assert page.status_code == 200
    return client.post("/admin/account/password", data={
        "old_password": old, "password": new, "confirm": confirm,
        "csrf_token": csrf_token(page.get_data(as_text=True))})


def test_every_role_has_the_password_page_linked_from_the_top_bar(login):
    for role in ("admin", "supervisor", "caller", "department"):
        client = login(role)
        page = client.get("/admin/").get_data(as_text=True)
        assert 'href="/admin/account/password"' in page and "修改密码" in page


def test_a_password_change_ends_the_users_other_sessions_but_not_this_one(app, login):
    here = login("caller")
    elsewhere = app.test_client()
    assert sign_in(elsewhere, here.user.username).status_code == 302
    response = _change(here)
    assert response.status_code == 302
    page = here.get("/admin/")
    assert page.status_code == 200 and "密码已修改" in page.get_data(as_text=True)
    assert elsewhere.get("/admin/").status_code == 302  # signed out there
    assert sign_in(app.test_client(), here.user.username).status_code == 401
    assert sign_in(app.test_client(), here.user.username, NEW).status_code == 302


@pytest.mark.parametrize("old, new, confirm, message", [
    ("not it", NEW, NEW, "当前密码不正确"),
    (PASSWORD, NEW, NEW + "x", "两次输入的新密码不一致"),
    (PASSWORD, "short", "short", "密码至少 8 个字符"),
    (PASSWORD, "", "", "请输入新密码"),
])
def test_a_password_change_says_what_is_wrong(login, old, new, confirm, message):
    client = login("supervisor")
    response = _change(client, old, new, confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 200  # still signed in
