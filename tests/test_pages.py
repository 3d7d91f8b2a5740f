"""The kiosk and QR rating pages, driven in real headless Chromium.

Screenshots of every screen go to test-artifacts/screens/ for a reviewer to look at.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk import phonekeys
from kiosk.db import db
from kiosk.models import Rating, Suggestion
from kiosk.privacy import unseal_phone

from .helpers import make_window, pair_browser, wait_js
from .liveserver import LiveServer

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screens"
TABLET = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMINGS = {"KIOSK_THANKS_SECONDS": "2", "KIOSK_IDLE_SECONDS": "3"}
OUTBOX = "kiosk.outbox.v1"


# ``browser`` (one Chromium for the whole run) comes from tests/conftest.py.


@pytest.fixture
def server(app, database_uri, tmp_path):
    make_window("A01", name="综合受理窗口", staff_no="QH0101", staff_name="张丽")
    srv = LiveServer(database_uri, tmp_path / "srv", config=TIMINGS,
                     phone_key=phonekeys.key_path(app))
    yield srv
    srv.stop()


def open_page(browser, url, size=TABLET, **options):
    """A new browser context on ``url``; a kiosk page's context is paired with its
    window first (a kiosk page takes ratings only on a paired tablet)."""
    context = browser.new_context(viewport=size, locale="zh-CN", **options)
    if "/k/" in url:
        base, code = url.split("/k/", 1)
        pair_browser(context, base, code.split("/")[0].split("?")[0])
    page = context.new_page()
    page.goto(url)
    return context, page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def wait_sent(page, timeout: float = 15) -> None:
    """Until the page's outbox is empty and no tap is held."""
    wait_js(page,
        f"!(JSON.parse(localStorage.getItem('{OUTBOX}') || '[]').length)"
        " && !Object.keys(JSON.parse(localStorage.getItem('kiosk.held.v2') || '{}')).length",
        timeout=timeout * 1000)


def ratings() -> list[Rating]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Rating).order_by(Rating.created_at)))


def test_a_tap_is_thanked_at_once_and_stored_with_the_clerk(browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    assert page.locator(".card .name").inner_text() == "张丽"
    assert "QH0101" in page.locator(".card .no").inner_text()
    shot(page, "kiosk-start")
    page.click(".face-btn.s5")
    assert page.locator("#thanks").is_visible()
    assert "非常满意" not in page.locator("#thanks").inner_text()  # watching eyes
    shot(page, "kiosk-thanks")
    page.wait_for_selector("#start", state="visible", timeout=6000)  # back by itself
    wait_sent(page)
    [rating] = ratings()
    assert (rating.score, rating.channel, rating.staff.staff_no) == (5, "kiosk", "QH0101")
    assert rating.reasons == "" and rating.phone is None
    context.close()


def test_a_bad_rating_with_reasons_comment_and_phone(browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    page.click(".face-btn.s1")
    assert page.locator("#details").is_visible()
    page.click(".chip[data-reason=attitude]")
    page.click(".chip[data-reason=waiting]")
    comment = "排队一个多小时，窗口只开一个 <b>!</b>"
    page.fill("#comment", comment)
    page.fill("#phone", "12345")
    page.click("#details-submit")
    assert page.locator("#details-error").inner_text()  # a wrong number is caught
    page.fill("#phone", "138 0013 8000")
    shot(page, "kiosk-bad-details")
    page.click("#details-submit")
    assert page.locator("#thanks").is_visible()
    wait_sent(page)
    [rating] = ratings()
    assert rating.score == 1
    assert rating.reason_codes == ["attitude", "waiting"]
    assert rating.comment == comment
    assert unseal_phone(rating.phone) == "13800138000"  # stored sealed
    context.close()


def test_idle_mid_flow_keeps_the_tap_and_resets(browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    page.click(".face-btn.s2")
    page.click(".chip[data-reason=efficiency]")
    page.fill("#comment", "太慢")
    page.wait_for_selector("#start", state="visible", timeout=8000)
    assert page.input_value("#comment") == ""  # nothing left for the next citizen
    assert page.locator(".chip[aria-pressed=true]").count() == 0
    wait_sent(page)
    [rating] = ratings()
    assert (rating.score, rating.reasons, rating.comment) == (2, "efficiency", "太慢")
    context.close()


def test_rate_again_replaces_the_first_tap(browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    page.click(".face-btn.s1")
    page.click("#details-skip")
    page.click("#undo")
    assert page.locator("#start").is_visible()
    page.click(".face-btn.s4")
    assert page.locator("#thanks").is_visible()
    page.wait_for_selector("#start", state="visible", timeout=6000)
    wait_sent(page)
    assert [r.score for r in ratings()] == [4]
    context.close()


def test_offline_taps_are_queued_survive_a_reload_and_are_sent_once(
        browser, app, database_uri, tmp_path):
    make_window("A01", staff_no="QH0101")
    srv = LiveServer(database_uri, tmp_path / "srv", config=TIMINGS,
                     phone_key=phonekeys.key_path(app))
    port = srv.port
    context, page = open_page(browser, srv.url + "/k/A01")
    try:
        page.evaluate("navigator.serviceWorker.ready")
        page.reload()  # now served through the service worker, which keeps a copy
        wait_js(page, "navigator.serviceWorker.controller !== null")

        srv.stop()  # the hall's network is down
        context.set_offline(True)
        taps = []
        for score in (5, 3, 1):
            page.wait_for_selector("#start", state="visible", timeout=8000)
            wait_js(page, "!document.querySelector('.face-btn').disabled")
            taps.append(datetime.now(UTC).replace(tzinfo=None))
            page.click(f".face-btn.s{score}")
            if score <= 3:
                page.click("#details-skip")
            assert page.locator("#thanks").is_visible()
        page.wait_for_selector("#start", state="visible", timeout=8000)
        wait_js(page, f"JSON.parse(localStorage.getItem('{OUTBOX}')).length === 3")
        assert "3" in page.locator("#status").inner_text()
        shot(page, "kiosk-offline-queue")

        page.reload()  # still offline: the page comes from the service worker
        assert page.locator(".face-btn.s5").is_visible()
        assert page.evaluate(f"JSON.parse(localStorage.getItem('{OUTBOX}')).length") == 3

        back = datetime.now(UTC).replace(tzinfo=None)
        srv = LiveServer(database_uri, tmp_path / "srv", port=port, config=TIMINGS)
        context.set_offline(False)
        wait_sent(page, timeout=30)
        time.sleep(1)  # anything sent twice would have landed by now
    finally:
        context.close()
        srv.stop()
    stored = ratings()
    assert [r.score for r in stored] == [5, 3, 1]
    for rating, tapped in zip(stored, taps):
        assert abs((rating.created_at - tapped).total_seconds()) < 2  # the tap time
        assert rating.created_at < back < rating.received_at


def test_the_english_switch(browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    page.click("#lang")
    assert page.locator("#start h1").inner_text() == "Please rate this service"
    assert page.locator("[data-score-label='5']").inner_text() == "Very satisfied"
    assert page.locator("#lang").inner_text() == "中文"
    shot(page, "kiosk-start-en")
    page.click(".face-btn.s2")
    assert page.locator(".chip[data-reason=attitude]").inner_text() == "Service attitude"
    shot(page, "kiosk-bad-details-en")
    page.click("#details-skip")
    assert page.locator("#thanks h1").inner_text() == "Thank you for your rating!"
    page.wait_for_selector("#start", state="visible", timeout=6000)
    # The next citizen starts in Chinese again.
    assert page.locator("#start h1").inner_text() == "请对本次服务作出评价"
    context.close()


def test_a_suggestion_from_the_kiosk(browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    page.click("#open-suggest")
    page.click("#suggest-submit")
    assert page.locator("#suggest-error").inner_text()  # empty text is refused
    page.fill("#suggest-text", "建议增加老花镜")
    page.fill("#suggest-phone", "0571-88001234")
    shot(page, "kiosk-suggestion")
    page.click("#suggest-submit")
    assert page.locator("#suggested").is_visible()
    wait_sent(page)
    db.session.expire_all()
    [s] = db.session.scalars(sa.select(Suggestion))
    assert (s.text, unseal_phone(s.phone), s.window.code, s.channel) == (
        "建议增加老花镜", "057188001234", "A01", "kiosk")
    context.close()


def test_the_qr_page_on_a_phone(browser, server):
    context, page = open_page(browser, server.url + "/q/A01", size=PHONE, is_mobile=True,
                              has_touch=True, device_scale_factor=2)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for score in range(1, 6):
        box = page.locator(f".face-btn.s{score}").bounding_box()
        assert box["height"] >= 64 and box["width"] >= 300  # a thumb's target
    shot(page, "qr-start")
    page.tap(".face-btn.s2")
    page.tap(".chip[data-reason=guidance]")
    shot(page, "qr-bad-details")
    page.tap("#details-submit")
    assert page.locator("#thanks").is_visible()
    shot(page, "qr-thanks")
    page.wait_for_selector("#undo", state="hidden", timeout=6000)
    assert page.locator("#thanks").is_visible()  # a phone stays on its thank-you
    wait_sent(page)
    [rating] = ratings()
    assert (rating.score, rating.channel, rating.reasons) == (2, "qr", "guidance")
    context.close()


def test_without_a_service_worker_the_queue_still_works(browser, server):
    """A hall LAN over plain HTTP: no service worker, but taps still queue and send."""
    context, page = open_page(browser, server.url + "/k/A01", service_workers="block")
    assert page.evaluate("navigator.serviceWorker.controller") is None
    context.set_offline(True)
    page.click(".face-btn.s4")
    page.wait_for_selector("#start", state="visible", timeout=8000)
    wait_js(page, f"JSON.parse(localStorage.getItem('{OUTBOX}')).length === 1")
    assert ratings() == []
    context.set_offline(False)
    wait_sent(page, timeout=30)
    assert [r.score for r in ratings()] == [4]
    context.close()


def test_a_5xx_is_retried_and_a_4xx_is_dropped_and_logged(browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    answers = iter([503, 502])

    def flaky(route):
        status = next(answers, None)
        if status is None:
            route.continue_()
        else:
            route.fulfill(status=status, content_type="application/json",
                          body='{"error": "busy"}')

    page.route("**/api/ratings", flaky)
    page.click(".face-btn.s5")
    wait_sent(page, timeout=30)
    assert [r.score for r in ratings()] == [5]  # stored once, after two refusals

    page.unroute("**/api/ratings")
    page.route("**/api/ratings", lambda route: route.fulfill(
        status=400, content_type="application/json", body='{"error": "score is required"}'))
    page.wait_for_selector("#start", state="visible", timeout=8000)
    wait_js(page, "!document.querySelector('.face-btn').disabled")
    page.click(".face-btn.s4")
    wait_sent(page, timeout=15)
    dropped = page.evaluate("JSON.parse(localStorage.getItem('kiosk.dropped.v1'))")
    assert [(d["status"], d["item"]["body"]["score"]) for d in dropped] == [(400, 4)]
    assert [r.score for r in ratings()] == [5]
    context.close()


def test_a_double_tap_never_becomes_a_second_answer(browser, server):
    context, page = open_page(browser, server.url + "/k/A01")
    page.dblclick(".face-btn.s1")  # the second tap falls where the chips appear
    assert page.locator("#details").is_visible()
    assert page.locator(".chip[aria-pressed=true]").count() == 0
    page.click("#details-skip")
    page.wait_for_timeout(700)
    page.dblclick("#undo")  # 重新评价, twice: the second tap lands on a face
    assert page.locator("#start").is_visible()
    page.wait_for_timeout(3000)
    assert page.locator("#start").is_visible()
    assert page.evaluate(f"JSON.parse(localStorage.getItem('{OUTBOX}') || '[]').length") == 0
    assert ratings() == []
    context.close()


def test_without_local_storage_taps_still_arrive(browser, server):
    context = browser.new_context(viewport=TABLET)
    pair_browser(context, server.url)
    context.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() { throw new Error('off'); }})")
    page = context.new_page()
    page.goto(server.url + "/k/A01")
    page.click(".face-btn.s5")
    page.wait_for_selector("#start", state="visible", timeout=8000)
    wait_js(page, "document.getElementById('status').hidden")
    for _ in range(50):
        if ratings():
            break
        time.sleep(0.1)
    assert [r.score for r in ratings()] == [5]
    context.close()


def test_a_broken_clock_endpoint_does_not_stop_taps(browser, server):
    context = browser.new_context(viewport=TABLET)
    pair_browser(context, server.url)
    page = context.new_page()
    page.route("**/api/time", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"error": "busy"}'))
    page.goto(server.url + "/k/A01")
    page.wait_for_timeout(300)
    page.click(".face-btn.s4")
    assert page.locator("#thanks").is_visible()
    wait_sent(page)
    assert [r.score for r in ratings()] == [4]
    context.close()


def test_many_reasons_in_english_still_fit_the_tablet(browser, server):
    from kiosk.models import ReasonCode

    for i, (zh, en) in enumerate([("材料要求不清楚", "Unclear list of documents"),
                                  ("系统故障", "System outage"),
                                  ("收费问题", "Fees and charges"),
                                  ("隐私保护", "Privacy")]):
        db.session.add(ReasonCode(code=f"extra{i}", zh=zh, en=en, sort_order=100 + i))
    db.session.commit()
    context, page = open_page(browser, server.url + "/k/A01")
    page.click("#lang")
    page.click(".face-btn.s1")
    assert page.evaluate("document.documentElement.scrollHeight") <= TABLET["height"]
    page.locator("#details-submit").scroll_into_view_if_needed()
    box = page.locator("#details-submit").bounding_box()
    assert box["y"] + box["height"] <= TABLET["height"]
    assert page.locator(".bar").bounding_box()["y"] == 0  # the header stays in view
    shot(page, "kiosk-bad-details-many-reasons")
    page.click(".chip[data-reason=extra1]")
    page.click("#details-submit")
    wait_sent(page)
    assert ratings()[0].reasons == "extra1"
    context.close()
