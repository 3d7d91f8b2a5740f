"""The rating pages in real Chromium: numbers from Hong Kong, Macao, Taiwan and abroad
are accepted; a nonsense number is refused on the page, before anything is sent, with
the hint that numbers outside the mainland need +区号.

Screenshots go to test-artifacts/screens/ (phones-*.png) for a person to look at.
"""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from kiosk import phonekeys
from kiosk.db import db
from kiosk.models import Rating, Suggestion
from kiosk.privacy import unseal_phone

from .helpers import make_window
from .liveserver import LiveServer
from .test_pages import PHONE, TIMINGS, open_page, shot, wait_sent


@pytest.fixture
def server(app, database_uri, tmp_path):
    make_window("A01", name="出入境业务窗口", staff_no="QH0201", staff_name="陈敏")
    srv = LiveServer(database_uri, tmp_path / "srv", config=TIMINGS,
                     phone_key=phonekeys.key_path(app))
    yield srv
    srv.stop()


def posted(page) -> list[dict]:
    """Every JSON body the page posts to the API, collected as it goes."""
    bodies: list[dict] = []
    page.on("request", lambda r: bodies.append(json.loads(r.post_data))
            if r.method == "POST" and "/api/" in r.url else None)
    return bodies


def text_of(page, selector: str) -> str:
    """The text shown, no-break spaces (which keep +852 9123 4567 on one line) as spaces."""
    return page.locator(selector).inner_text().replace("\xa0", " ")


def stored(model) -> list:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(model).order_by(model.id)))


def test_the_kiosk_refuses_nonsense_before_sending_and_takes_a_hong_kong_number(
        browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    bodies = posted(page)
    page.click(".face-btn.s1")
    hint = text_of(page, "#details .hint")
    assert "+852 9123 4567" in hint  # shown before anyone gets it wrong
    # A Hong Kong number typed without its code: refused, with the hint.
    page.fill("#phone", "9123 4567")
    page.click("#details-submit")
    error = text_of(page, "#details-error")
    assert "电话号码格式不正确" in error and "+区号" in error
    assert page.locator("#details").is_visible()
    shot(page, "phones-kiosk-refused")
    for nonsense in ("+852 123", "+1 000 000 0000", "+999 1234 5678", "12345", "abc"):
        page.fill("#phone", nonsense)
        page.click("#details-submit")
        assert page.locator("#details-error").inner_text(), nonsense
        assert page.locator("#details").is_visible(), nonsense
    page.fill("#phone", "+852 9123 4567")
    page.click("#details-submit")
    assert page.locator("#thanks").is_visible()
    wait_sent(page)
    [rating] = stored(Rating)
    assert unseal_phone(rating.phone) == "+85291234567"
    # Nothing with a refused number ever left the page.
    assert [b.get("phone") for b in bodies] == ["+85291234567"]
    context.close()


@pytest.mark.parametrize("typed, whole", [
    ("+853 6612 3456", "+85366123456"),
    ("+886 912 345 678", "+886912345678"),
    ("+1 202 555 0143", "+12025550143"),
])
def test_the_qr_page_takes_macao_taiwan_and_abroad(browser, server, typed, whole):
    context, page = open_page(browser, server.url + "/q/A01", size=PHONE, is_mobile=True,
                              has_touch=True)
    bodies = posted(page)
    page.click(".face-btn.s2")
    page.fill("#phone", typed[:-3])  # one digit group short: refused on the page
    page.click("#details-submit")
    assert page.locator("#details-error").inner_text()
    if typed.startswith("+886"):
        shot(page, "phones-qr-refused")
    page.fill("#phone", typed)
    page.click("#details-submit")
    assert page.locator("#thanks").is_visible()
    wait_sent(page)
    assert [unseal_phone(r.phone) for r in stored(Rating)] == [whole]
    assert [b.get("phone") for b in bodies] == [whole]
    context.close()


def test_a_suggestion_with_a_foreign_number_and_the_english_hint(browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    bodies = posted(page)
    page.click("#lang")
    page.click("#open-suggest")
    page.fill("#suggest-text", "Please add an English guide")
    page.fill("#suggest-phone", "6123 4567")
    page.click("#suggest-submit")
    error = text_of(page, "#suggest-error")
    assert "+852 9123 4567" in error and "country or region code" in error
    shot(page, "phones-suggestion-refused-en")
    page.fill("#suggest-phone", "+852 6123 4567")
    page.click("#suggest-submit")
    assert page.locator("#suggested").is_visible()
    wait_sent(page)
    [s] = stored(Suggestion)
    assert unseal_phone(s.phone) == "+85261234567"
    assert [b.get("phone") for b in bodies] == ["+85261234567"]
    context.close()


def test_a_number_only_the_server_refuses_still_delivers_the_rating(browser, server):
    """The page checks lengths and number ranges from phonenumbers' metadata; the API
    checks fully. Where they differ the rating must not be lost: it is sent again
    without the number."""
    context, page = open_page(browser, server.url + "/k/A01")
    bodies = posted(page)
    page.click(".face-btn.s1")
    page.fill("#phone", "+62 8123 4567")  # the page's rules let it through; the API not
    page.click("#details-submit")
    assert page.locator("#thanks").is_visible()
    wait_sent(page)
    [rating] = stored(Rating)
    assert rating.score == 1 and rating.phone is None
    assert [b.get("phone") for b in bodies] == ["+6281234567", None]
    context.close()
