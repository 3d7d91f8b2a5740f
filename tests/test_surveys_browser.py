"""The questionnaire page (/s/<slug>) in real headless Chromium: on a phone (390×844)
and on a kiosk tablet (1280×800), answered offline and synced once the network is
back. Screenshots go to test-artifacts/screens/ for a reviewer to look at."""
from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk import phonekeys, surveys
from kiosk.db import db
from kiosk.models import SurveyResponse

from .helpers import make_window, pair_browser, wait_js
from .liveserver import LiveServer
from .test_surveys import SLUG, questionnaire

SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screens"
TABLET = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMINGS = {"KIOSK_THANKS_SECONDS": "2", "KIOSK_IDLE_SECONDS": "3"}
OUTBOX = "kiosk.outbox.v1"
# Answers waiting in the outbox (which the rating pages share: a rating may be there too).
QUEUED = (f"JSON.parse(localStorage.getItem('{OUTBOX}') || '[]')"
          ".filter(function (x) { return x.url.indexOf('/api/surveys/') === 0; }).length")


@pytest.fixture
def hall(app):
    make_window("A01", name="综合受理窗口", staff_no="QH0101", staff_name="张丽")
    surveys.import_survey(questionnaire(offered=["qr", "kiosk"]))
    db.session.commit()


def start(app, database_uri, tmp_path, port: int | None = None) -> LiveServer:
    return LiveServer(database_uri, tmp_path / "srv", config=TIMINGS, port=port,
                      phone_key=phonekeys.key_path(app))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"survey-{name}.png"))


def responses() -> list[SurveyResponse]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(SurveyResponse).order_by(SurveyResponse.id)))


def controlled(page) -> None:
    """Until the service worker controls the page (it then keeps a copy of it)."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    wait_js(page, "navigator.serviceWorker.controller !== null")


def answer_all(page, prefix: str) -> None:
    """Answer the four questions as a citizen would: two single taps (each moves on
    by itself), two choices of several, a comment; screenshots on the way."""
    page.click("#begin")
    assert page.locator("#progress-text").inner_text() == "第 1 题 / 共 4 题"
    shot(page, f"{prefix}-q1")
    page.click("#q-0 .level.s5")
    page.wait_for_selector("#q-1", state="visible")
    page.click("#q-1 .option[data-value=b]")
    page.wait_for_selector("#q-2", state="visible")
    page.click("#next")  # q3 is required: not without an answer
    assert page.locator("#ask-error").inner_text() == "本题必须回答"
    page.click("#q-2 .option[data-value=c]")
    page.click("#q-2 .option[data-value=a]")
    shot(page, f"{prefix}-q3")
    page.click("#next")
    page.fill("#q-3 textarea", "希望增加自助打印机")
    assert page.locator("#next").inner_text() == "提交问卷"


def test_a_phone_answers_offline_and_the_answers_arrive_once(
        browser, app, hall, database_uri, tmp_path):
    srv = start(app, database_uri, tmp_path)
    port = srv.port
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(srv.url + f"/s/{SLUG}?window=A01")
        controlled(page)
        shot(page, "phone-intro")

        srv.stop()  # the hall's Wi-Fi is down
        context.set_offline(True)
        page.reload()  # the page comes from the service worker
        assert page.locator("#begin").is_visible()
        answer_all(page, "phone")
        submitted = datetime.now(UTC).replace(tzinfo=None)
        page.click("#next")
        assert page.locator("#done").is_visible()
        assert page.locator("#done-queued").is_visible()  # it says it will be sent later
        assert page.evaluate(QUEUED) == 1
        assert "1" in page.locator("#status").inner_text()
        shot(page, "phone-offline-done")

        page.reload()  # still offline: this phone has answered, and the answer waits
        assert page.locator("#already").is_visible()
        assert page.evaluate(QUEUED) == 1
        shot(page, "phone-offline-already")

        back = datetime.now(UTC).replace(tzinfo=None)
        srv = start(app, database_uri, tmp_path, port=port)
        context.set_offline(False)
        wait_js(page, f"{QUEUED} === 0", timeout=30_000)
        time.sleep(1)  # anything sent twice would have landed by now
    finally:
        context.close()
        srv.stop()
    (row,) = responses()
    assert row.answers == {"q1": 5, "q2": "b", "q3": ["a", "c"], "q4": "希望增加自助打印机"}
    assert (row.channel, row.window.code, row.version.number) == ("qr", "A01", 1)
    assert row.respondent is not None  # the phone's cookie, hashed
    assert abs((row.created_at - submitted).total_seconds()) < 3  # when it was answered
    assert row.created_at < back < row.received_at


def test_a_kiosk_tablet_answers_offline_and_its_rating_page_sends_them(
        browser, app, hall, database_uri, tmp_path):
    srv = start(app, database_uri, tmp_path)
    port = srv.port
    context = browser.new_context(viewport=TABLET, locale="zh-CN")
    pair_browser(context, srv.url, "A01")
    page = context.new_page()
    try:
        page.goto(srv.url + "/k/A01")
        controlled(page)
        shot(page, "kiosk-start-button")
        page.click(".survey-link")  # the start screen's button
        page.wait_for_selector("#begin")
        assert page.url.endswith("/s/2026q4?window=A01&from=kiosk")
        wait_js(page, "navigator.serviceWorker.controller !== null")

        srv.stop()
        context.set_offline(True)
        answer_all(page, "kiosk")
        page.click("#next")
        assert page.locator("#done-queued").is_visible()
        shot(page, "kiosk-offline-done")
        # A moment later the tablet is back at its rating page (from the service
        # worker), ready for the next citizen, with the answers still queued.
        page.wait_for_url("**/k/A01", timeout=15_000)
        page.wait_for_selector(".face-btn.s5")
        assert page.evaluate(QUEUED) == 1
        wait_js(page, "!document.getElementById('status').hidden")
        shot(page, "kiosk-back-queued")

        srv = start(app, database_uri, tmp_path, port=port)
        context.set_offline(False)
        wait_js(page, f"{QUEUED} === 0", timeout=30_000)  # sent by rate.js's outbox
        time.sleep(1)
    finally:
        context.close()
        srv.stop()
    (row,) = responses()
    assert (row.channel, row.window.code, row.respondent) == ("kiosk", "A01", None)
    assert row.answers["q3"] == ["a", "c"]


def test_the_qr_thank_you_invitation_leads_to_the_questionnaire_in_english(
        browser, app, hall, database_uri, tmp_path):
    srv = start(app, database_uri, tmp_path)
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(srv.url + "/q/A01")
        page.click(".face-btn.s4")
        invite = page.locator(".survey-invite")
        assert "诚邀您参与问卷调查" in invite.inner_text()
        shot(page, "qr-thanks-invitation")
        invite.click()
        page.wait_for_selector("#begin")
        page.click("#lang")
        assert page.locator("#intro h1").inner_text() == "Citizen satisfaction, Q4 2026"
        assert page.locator("#begin").inner_text() == "Start"
        page.click("#begin")
        assert page.locator("#progress-text").inner_text() == "Question 1 of 4"
        assert page.locator("#q-0 .level.s5 .label").inner_text() == "Very satisfied"
        page.click("#q-0 .level.s3")
        page.wait_for_selector("#q-1", state="visible")
        # No English given for this question: its Chinese is shown.
        assert page.locator("#q-1 .qtext").inner_text() == "How many trips?"
        assert page.locator("#q-1 .option[data-value=a]").inner_text() == "一次"
        assert page.locator("#q-1 .option[data-value=c]").inner_text() == "Three or more"
        assert page.locator("#next").inner_text() == "Skip"  # optional, unanswered
        page.click("#next")
        page.click("#q-2 .option[data-value=b]")
        shot(page, "phone-english-q3")
        page.click("#next")
        page.click("#next")  # the comment is optional too
        assert page.locator("#done").is_visible()
        wait_js(page, f"{QUEUED} === 0", timeout=15_000)
        # The same phone opening it again is told it has answered.
        page.goto(srv.url + f"/s/{SLUG}")
        assert page.locator("#already").is_visible()
    finally:
        context.close()
        srv.stop()
    (row,) = responses()
    assert row.answers == {"q1": 3, "q3": ["b"]}
    assert (row.channel, row.window.code) == ("qr", "A01")
