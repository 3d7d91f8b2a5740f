"""Error pages of the back office (admin/errors.py)."""
from __future__ import annotations

from ..helpers import csrf_token


def styled_without_inline_style(page: str) -> None:
    assert "/static/admin/admin.css" in page
    assert "<style" not in page and "style=" not in page  # the admin CSP would block it


def test_an_unknown_admin_page_says_so_in_chinese_with_a_way_back(login):
    client = login("supervisor")
    response = client.get("/admin/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "找不到这个页面" in page and '<a class="button primary" href="/admin/">返回概览</a>' in page
    styled_without_inline_style(page)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_without_a_session_the_error_page_offers_the_login(client):
    response = client.get("/admin/no-such-page")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'href="/admin/login"' in page and "返回概览" not in page


def test_a_page_the_role_may_not_see_answers_403_in_chinese(login):
    client = login("caller")
    response = client.get("/admin/users", headers={"Referer": "http://localhost/admin/"})
    page = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "您没有权限查看此页面" in page and "返回概览" in page
    assert '<a class="button" href="/admin/">返回上一页</a>' in page
    styled_without_inline_style(page)


def test_a_page_from_another_site_is_not_offered_as_the_way_back(login):
    client = login("caller")
    page = client.get("/admin/users", headers={"Referer": "https://evil.example/x"}) \
        .get_data(as_text=True)
    assert "evil.example" not in page


def test_a_wrong_method_answers_405_in_chinese(login):
    response = login("caller").get("/admin/logout")
    assert response.status_code == 405
    assert "不支持这种访问方式" in response.get_data(as_text=True)


def test_a_server_error_shows_a_page_not_a_traceback(app):
    def boom():
        raise RuntimeError("secret internals")
    app.add_url_rule("/admin/_boom", "boom", boom)
    response = app.test_client().get("/admin/_boom")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "服务器出了点问题" in page and "secret internals" not in page
    styled_without_inline_style(page)


def test_a_form_without_its_csrf_token_is_refused_with_a_clear_message(login):
    client = login("caller")
    response = client.post("/admin/logout")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "页面已过期，请刷新后重试" in page
    styled_without_inline_style(page)
    assert client.get("/admin/").status_code == 200  # nothing happened


def test_a_stale_csrf_token_is_refused_too(login):
    client = login("caller")
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    other = login("supervisor")
    response = other.post("/admin/logout", data={"csrf_token": token})
    assert response.status_code == 400
    assert other.get("/admin/").status_code == 200


def test_a_data_caller_gets_the_csrf_refusal_as_json(login):
    response = login("caller").post("/admin/logout", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert "页面已过期" in response.get_json()["error"]


def test_the_public_pages_keep_their_own_error_page(client):
    response = client.get("/k/NOPE")
    assert response.status_code == 404
    assert "/static/admin/admin.css" not in response.get_data(as_text=True)
