"""Security headers on every response (kiosk/security.py), and the public pages still
working under them, offline included, in real headless Chromium."""
from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from kiosk import phonekeys
from kiosk.db import db
from kiosk.models import Rating
from kiosk.security import CONTENT_SECURITY_POLICY

from .helpers import make_window, pair_browser, rating_body, wait_js
from .liveserver import LiveServer
from .test_pages import OUTBOX, PHONE, SHOTS, TABLET, TIMINGS, wait_sent

EXPECTED = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
HSTS = "Strict-Transport-Security"


def directives(policy: str) -> dict[str, list[str]]:
    parts = (d.split() for d in policy.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def test_the_policy_is_what_the_issue_asks_for():
    policy = directives(CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "*" not in CONTENT_SECURITY_POLICY


def missing(response) -> dict[str, str | None]:
    """The expected security headers this response lacks or gets wrong (sent once)."""
    wrong = {}
    for name, value in EXPECTED.items():
        sent = response.headers.getlist(name)
        if sent != [value]:
            wrong[name] = sent
    return wrong


def sample_url(rule) -> str:
    """A concrete URL for a URL-map rule: its arguments filled with plausible values."""
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__
        values[arg] = {"IntegerConverter": 1, "PathConverter": "x.png"}.get(converter, "A01")
    return rule.build(values, append_unknown=False)[1]


def every_request(app):
    """(method, url) for every route of the app with every method it answers, plus the
    answers Flask never sees (POST /api/ratings) and unknown paths."""
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, sample_url(rule)
    yield from [("GET", "/nope"), ("GET", "/api/nope"), ("GET", "/admin/nope"),
                ("DELETE", "/k/A01"), ("GET", "/api/ratings"),
                ("GET", "/static/kiosk/rate.js"), ("GET", "/static/admin/favicon.svg")]


@pytest.mark.parametrize("who", ["citizen", "admin"])
def test_every_route_every_answer_carries_the_headers(app, login, who):
    make_window("A01")
    client = app.test_client() if who == "citizen" else login("admin")
    seen, wrong = set(), []
    for method, url in every_request(app):
        response = client.open(url, method=method)
        response.close()  # static files are streamed from an open file
        seen.add(response.status_code)
        if missing(response) or HSTS in response.headers:
            wrong.append((method, url, response.status_code, missing(response)))
    # The hot path below Flask, accepting and refusing.
    for response in (client.post("/api/ratings", json=rating_body()),
                     client.post("/api/ratings", data="x", content_type="text/plain"),
                     client.post("/api/ratings", json=rating_body(window="ZZ9"))):
        seen.add(response.status_code)
        if missing(response):
            wrong.append(("POST", "/api/ratings", response.status_code, missing(response)))
    assert wrong == []
    # Pages, redirects, client errors and the hot path's own answers were all walked.
    assert {200, 201, 404, 405, 415} <= seen
    assert (302 in seen) if who == "citizen" else (400 in seen)  # login / CSRF refused


def test_hsts_only_when_the_site_is_served_over_https(app, client):
    make_window("A01")
    for base, hsts in ((None, None), ("http://10.0.0.5:8000", None),
                       ("https://pj.example.gov.cn/", "max-age=31536000"),
                       ("HTTPS://PJ.EXAMPLE.GOV.CN", "max-age=31536000")):
        app.config["PUBLIC_BASE_URL"] = base
        for response in (client.get("/k/A01"), client.get("/admin/login"),
                         client.post("/api/ratings", json=rating_body()),
                         client.get("/static/kiosk/rate.css")):
            response.close()
            assert response.headers.get(HSTS) == hsts, (base, response.request.path)
            assert not missing(response)


def test_a_view_cannot_loosen_the_policy(app, client):
    """One source of truth: a header a view sets itself is replaced, not doubled."""
    @app.get("/loose")
    def loose():
        return "x", 200, {"Content-Security-Policy": "default-src *",
                          "X-Frame-Options": "ALLOWALL"}
    response = client.get("/loose")
    assert missing(response) == {}


class InlineFinder(HTMLParser):
    """What a ``script-src 'self'; style-src 'self'`` policy would block on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.script_json = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "style":
            self.found.append("<style>")
        if "style" in attrs:
            self.found.append(f"<{tag} style=…>")
        self.found += [f"<{tag} {name}=…>" for name in attrs if name.startswith("on")]
        if tag == "script" and "src" not in attrs:
            self.script_json = attrs.get("type") == "application/json"
            if not self.script_json:
                self.found.append("inline <script>")
        for name in ("href", "src", "action"):
            if (attrs.get(name) or "").lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:…>")


def inline_code(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


def test_the_finder_finds_what_the_policy_blocks():
    assert inline_code('<script>alert(1)</script><p style="x" onclick="y">') == [
        "inline <script>", "<p style=…>", "<p onclick=…>"]
    assert inline_code('<script id="c" type="application/json">{}</script>'
                       '<script src="/static/a.js"></script>') == []


def test_no_page_has_inline_script_or_style(app, login):
    """The rendered pages, public and back office: nothing the policy would block."""
    make_window("A01")
    admin = login("admin")
    urls = ["/k/A01", "/q/A01", "/board", "/nope", "/admin/login", "/admin/nope"]
    urls += [r.rule for r in app.url_map.iter_rules()
             if r.rule.startswith("/admin/") and not r.arguments and "GET" in r.methods]
    pages = 0
    for url in urls:
        response = admin.get(url) if url.startswith("/admin/") and url != "/admin/login" \
            else app.test_client().get(url)
        if response.mimetype != "text/html":
            continue
        pages += 1
        assert inline_code(response.get_data(as_text=True)) == [], url
    assert pages >= 15


def test_the_service_worker_carries_the_headers_to_its_offline_page(client):
    body = client.get("/sw.js").get_data(as_text=True)
    found = re.search(r"^var SECURITY_HEADERS = (.*);$", body, re.M)
    assert found and json.loads(found.group(1)) == EXPECTED
    assert "<script" not in body and "style=" not in body


# -- in real Chromium (the shared ``browser`` fixture of tests/conftest.py) ----------

def watch(page, into: list[str]) -> None:
    """Collect CSP violations and script errors the page reports."""
    page.on("console", lambda msg: into.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    page.on("pageerror", lambda exc: into.append(f"pageerror: {exc}"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def stored() -> list[tuple[int, str]]:
    db.session.expire_all()
    return [(r.score, r.channel) for r in
            db.session.scalars(sa.select(Rating).order_by(Rating.created_at))]


def test_the_kiosk_works_offline_under_the_headers(browser, app, database_uri, tmp_path):
    make_window("A01", name="综合受理窗口", staff_no="QH0101", staff_name="张丽")
    make_window("B02", name="不动产登记", staff_no="QH0202", staff_name="李强")
    srv = LiveServer(database_uri, tmp_path / "srv", config=TIMINGS,
                     phone_key=phonekeys.key_path(app))
    port = srv.port
    violations: list[str] = []
    context = browser.new_context(viewport=TABLET, locale="zh-CN")
    pair_browser(context, srv.url)
    page = context.new_page()
    watch(page, violations)
    try:
        response = page.goto(srv.url + "/k/A01")
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        page.evaluate("navigator.serviceWorker.ready")
        page.reload()
        wait_js(page, "navigator.serviceWorker.controller !== null")
        # Every stylesheet (rate.css, and the kiosk's prompt.css) loaded, none blocked.
        assert page.evaluate("document.styleSheets.length") == \
            page.locator("link[rel=stylesheet]").count() >= 1

        page.click(".face-btn.s5")  # online: stored at once
        assert page.locator("#thanks").is_visible()
        wait_sent(page)
        assert stored() == [(5, "kiosk")]

        srv.stop()  # the hall's network is down
        context.set_offline(True)
        page.wait_for_selector("#start", state="visible", timeout=8000)
        wait_js(page, "!document.querySelector('.face-btn').disabled")
        page.click(".face-btn.s4")
        page.wait_for_selector("#start", state="visible", timeout=8000)
        wait_js(page, f"JSON.parse(localStorage.getItem('{OUTBOX}')).length === 1")

        # Reloaded offline, the page comes from the service worker, headers and all.
        again = page.reload()
        assert again.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert page.locator(".face-btn.s4").is_visible()
        shot(page, "csp-kiosk-offline")

        # A window the tablet never opened: the worker's own offline page, same policy.
        other = context.new_page()
        watch(other, violations)
        answer = other.goto(f"http://127.0.0.1:{port}/k/B02")
        assert answer.status == 503
        assert {k: answer.headers.get(k.lower()) for k in EXPECTED} == EXPECTED
        assert "正在重新连接" in other.inner_text("body")
        assert other.evaluate("getComputedStyle(document.body).textAlign") == "center"
        shot(other, "csp-kiosk-offline-page")
        other.close()

        srv = LiveServer(database_uri, tmp_path / "srv", port=port, config=TIMINGS)
        context.set_offline(False)
        wait_sent(page, timeout=30)
        time.sleep(1)  # anything sent twice would have landed by now
        assert stored() == [(5, "kiosk"), (4, "kiosk")]
        assert violations == []

        # The watch can fail: inline style is refused, and reported.
        page.evaluate("document.body.insertAdjacentHTML('beforeend', "
                      "'<b style=\"color:red\">x</b>')")
        page.wait_for_timeout(200)
        assert any("inline style" in v for v in violations), violations
    finally:
        context.close()
        srv.stop()


def test_the_qr_page_and_the_board_under_the_headers(browser, app, database_uri, tmp_path):
    make_window("A01", name="综合受理窗口", staff_no="QH0101", staff_name="张丽")
    srv = LiveServer(database_uri, tmp_path / "srv", config=TIMINGS,
                     phone_key=phonekeys.key_path(app))
    violations: list[str] = []
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    try:
        page = context.new_page()
        watch(page, violations)
        response = page.goto(srv.url + "/q/A01")
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        page.evaluate("navigator.serviceWorker.ready")
        page.tap(".face-btn.s5")
        assert page.locator("#thanks").is_visible()
        wait_sent(page)
        assert stored() == [(5, "qr")]
        shot(page, "csp-qr-thanks")

        board = context.new_page()
        watch(board, violations)
        board.set_viewport_size({"width": 1920, "height": 1080})
        assert board.goto(srv.url + "/board").headers["x-frame-options"] == "DENY"
        board.wait_for_load_state("networkidle")
        assert board.inner_text("[data-f='today.ratings']") == "1"  # the QR rating above
        shot(board, "csp-board")

        missing_page = context.new_page()
        watch(missing_page, violations)
        assert missing_page.goto(srv.url + "/k/ZZ9").status == 404
        assert missing_page.evaluate("getComputedStyle(document.body).maxWidth") != "none"
        shot(missing_page, "csp-error-page")
        assert violations == []
    finally:
        context.close()
        srv.stop()
