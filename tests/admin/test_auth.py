"""Signing in to the back office."""
from __future__ import annotations

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
