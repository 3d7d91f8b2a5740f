"""Service events (一次一评, kiosk/evaluations.py): opened by a queue system's token or
the clerk's page, offered to the paired kiosk by its prompt poll, and bound to the
rating tapped under them, one rating per event."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk import tokens
from kiosk.db import db, utcnow
from kiosk.evaluations import CLOCK_SLACK, EventCheck
from kiosk.fields import InputError
from kiosk.models import Department, Evaluation, Rating, ServiceItem
from kiosk.ratings import RatedEvent

from .helpers import make_window, marks, pair_device, rating_body

PATH = "/api/windows/{}/evaluations"


@pytest.fixture
def token(app):
    made = tokens.create_token("queue", "evaluations").token
    db.session.commit()
    return made


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def open_event(client, token: str, code: str = "A01", **fields):
    return client.post(PATH.format(code), json={"ticket": "A023", **fields},
                       headers=auth(token))


def rate(client, **fields):
    """A kiosk rating sent with the client's device cookie."""
    return client.post("/api/ratings", json=rating_body(**{"channel": "kiosk", **fields}))


def events() -> list[Evaluation]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Evaluation).order_by(Evaluation.id)))


# -- the API ----------------------------------------------------------------------------

def test_a_queue_system_opens_an_event_with_its_token(app, client, token):
    window = make_window("A01")
    db.session.add(ServiceItem(code="370100-001", name="不动产登记查询",
                               department_id=window.department_id))
    db.session.commit()
    before = utcnow()
    resp = open_event(client, token, case_no="BJ2026-0001", service_item="370100-001",
                      staff_no="S001")
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["window"] == "A01" and body["ticket"] == "A023"
    assert body["case_no"] == "BJ2026-0001" and body["staff_no"] == "S001"
    assert body["service_item"] == "370100-001"
    assert body["service_item_name"] == "不动产登记查询"
    [event] = events()
    assert body["id"] == event.id
    assert event.token_id is not None and event.device_id is None
    assert event.service_item_id is not None  # linked to the catalogue by its code
    assert before <= event.opened_at <= utcnow()
    # EVALUATION_OPEN_MINUTES (10 by default)
    assert event.expires_at - event.opened_at == timedelta(minutes=10)
    assert body["expires_at"] == event.expires_at.isoformat(timespec="seconds") + "Z"


def test_a_service_item_named_by_its_name_is_linked_and_an_unknown_one_kept(
        app, client, token):
    window = make_window("A01")
    db.session.add(ServiceItem(code="X1", name="社保卡补办", department_id=window.department_id))
    db.session.commit()
    assert open_event(client, token, service_item="社保卡补办").status_code == 201
    assert open_event(client, token, service_item="临时事项").status_code == 201
    named, unknown = events()
    assert named.service_item_id is not None and named.service_item == "社保卡补办"
    assert unknown.service_item_id is None and unknown.service_item == "临时事项"


def test_the_api_answers_json_errors(app, client, token):
    make_window("A01")
    read = tokens.create_token("province", "read").token
    db.session.commit()
    assert client.post(PATH.format("A01"), json={"ticket": "1"}).status_code == 401
    wrong = client.post(PATH.format("A01"), json={"ticket": "1"}, headers=auth(read))
    assert wrong.status_code == 403 and "evaluations" in wrong.get_json()["error"]
    missing = client.post(PATH.format("A01"), json={}, headers=auth(token))
    assert missing.status_code == 400 and missing.get_json()["error"] == "ticket is required"
    long = open_event(client, token, ticket="x" * 65)
    assert long.status_code == 400 and "ticket" in long.get_json()["error"]
    unknown = open_event(client, token, "Z99")
    assert unknown.status_code == 404 and "Z99" in unknown.get_json()["error"]
    text = client.post(PATH.format("A01"), data="ticket=1", headers=auth(token))
    assert text.status_code == 415 and "error" in text.get_json()
    tokens.revoke_token("queue")
    db.session.commit()
    assert open_event(client, token).status_code == 401
    assert events() == []


def test_a_new_event_replaces_the_windows_open_one_and_no_other(app, client, token):
    make_window("A01")
    make_window("A02", staff_no="S002")
    first = open_event(client, token, ticket="A001").get_json()["id"]
    other = open_event(client, token, "A02", ticket="B001").get_json()["id"]
    second = open_event(client, token, ticket="A002").get_json()["id"]
    by_id = {e.id: e for e in events()}
    assert by_id[first].closed_at == by_id[second].opened_at
    assert by_id[second].closed_at is None and by_id[other].closed_at is None


def test_events_opened_at_once_leave_one_open(app, token):
    """Two systems (or a system and the clerk) opening events at one window at the same
    moment: each waits for the other, so exactly one stays open."""
    import threading

    make_window("A01")
    for round_ in range(4):
        start = threading.Barrier(4)
        answers: list[int] = []

        def opener(n: int) -> None:
            client = app.test_client()
            start.wait()
            answers.append(open_event(client, token, ticket=f"R{round_}-{n}").status_code)

        threads = [threading.Thread(target=opener, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == [201] * 4
        still_open = [e for e in events() if e.closed_at is None]
        db.session.rollback()
        assert len(still_open) == 1, [e.ticket for e in still_open]


# -- the kiosk's prompt -----------------------------------------------------------------

def test_the_prompt_needs_a_kiosk_tablet_paired_with_the_window(app, token):
    make_window("A01")
    make_window("A02", staff_no="S002")
    nobody, other, clerk, tablet = (app.test_client() for _ in range(4))
    pair_device("A02", "kiosk", other)
    pair_device("A01", "clerk", clerk)
    pair_device("A01", "kiosk", tablet)
    resp = nobody.get("/api/windows/A01/prompt")
    assert resp.status_code == 403 and "not paired with window" in resp.get_json()["error"]
    assert other.get("/api/windows/A01/prompt").status_code == 403
    assert clerk.get("/api/windows/A01/prompt").status_code == 403
    assert tablet.get("/api/windows/A01/prompt").status_code == 200
    assert nobody.get("/api/windows/Z99/prompt").status_code == 404


def test_the_prompt_offers_the_open_event_until_it_is_rated(app, client, token):
    make_window("A01")
    tablet = app.test_client()
    pair_device("A01", "kiosk", tablet)
    empty = tablet.get("/api/windows/A01/prompt")
    assert empty.status_code == 200 and empty.get_json() == {"prompt": None}
    assert empty.headers["Cache-Control"] == "no-cache"
    unchanged = tablet.get("/api/windows/A01/prompt",
                           headers={"If-None-Match": empty.headers["ETag"]})
    assert unchanged.status_code == 304

    event = open_event(client, token, service_item="户籍证明", staff_no="S001").get_json()
    resp = tablet.get("/api/windows/A01/prompt",
                      headers={"If-None-Match": empty.headers["ETag"]})
    assert resp.status_code == 200
    assert resp.get_json() == {"prompt": {
        "id": event["id"], "ticket": "A023", "service_item": "户籍证明", "staff_no": "S001",
        "expires_at": event["expires_at"]}}
    again = tablet.get("/api/windows/A01/prompt", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304

    assert rate(tablet, evaluation=event["id"]).status_code == 201
    assert tablet.get("/api/windows/A01/prompt").get_json() == {"prompt": None}


def test_an_expired_event_is_no_longer_offered(app, client, token):
    make_window("A01")
    tablet = app.test_client()
    pair_device("A01", "kiosk", tablet)
    open_event(client, token)
    [event] = events()
    event.opened_at -= timedelta(minutes=11)
    event.expires_at -= timedelta(minutes=11)
    db.session.commit()
    assert tablet.get("/api/windows/A01/prompt").get_json() == {"prompt": None}


# -- binding the rating -----------------------------------------------------------------

def test_the_rating_tapped_is_bound_and_a_second_one_is_refused(app, client, token):
    make_window("A01")
    tablet = app.test_client()
    pair_device("A01", "kiosk", tablet)
    with_case = open_event(client, token, case_no="BJ-77").get_json()["id"]
    resp = rate(tablet, evaluation=with_case, score=4)
    assert resp.status_code == 201
    rating = db.session.get(Rating, resp.get_json()["id"])
    assert rating.evaluation_id == with_case
    assert rating.ticket == "BJ-77"  # the case number, where the event has one
    assert marks(rating) == set() and rating.counted

    second = rate(tablet, evaluation=with_case, score=1)
    assert second.status_code == 409
    assert second.get_json()["error"] == RatedEvent().message
    # The same rating sent again (a tablet's retry) is still the same rating.
    body = rating_body(channel="kiosk", evaluation=with_case, score=4)
    body["client_id"] = rating.client_id
    assert tablet.post("/api/ratings", json=body).status_code == 200

    plain = open_event(client, token, ticket="A024").get_json()["id"]
    stored = db.session.get(Rating, rate(tablet, evaluation=plain).get_json()["id"])
    assert stored.ticket == "A024"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 2


def test_two_ratings_for_one_event_at_once_store_one(app, token, client):
    """The unique index is the last word when both pass the early check together."""
    make_window("A01")
    tablet = app.test_client()
    secret = pair_device("A01", "kiosk", tablet)
    event = open_event(client, token).get_json()["id"]
    intake = app.extensions["kiosk.intake"]
    from kiosk.ratings import Caller
    now = utcnow()
    first = intake.validate(rating_body(channel="kiosk", evaluation=event), now, Caller(secret))
    second = intake.validate(rating_body(channel="kiosk", evaluation=event), now,
                             Caller(secret))
    assert intake.writer.write(first).created
    with pytest.raises(RatedEvent):
        intake.writer.write(second)


def test_a_kiosk_tap_without_an_event_is_marked_unprompted(app, token):
    make_window("A01")

    # One tablet a rating: repeated presses of one tablet are another matter.
    first, second = app.test_client(), app.test_client()
    pair_device("A01", "kiosk", first)
    pair_device("A01", "kiosk", second)

    counted = db.session.get(Rating, rate(first).get_json()["id"])
    assert marks(counted) == {"unprompted"} and counted.counted and counted.evaluation_id is None

    app.config["REQUIRE_PROMPT"] = True
    kept = db.session.get(Rating, rate(second).get_json()["id"])
    assert marks(kept) == {"unprompted"} and not kept.counted
    # A QR rating is never "unprompted": a phone has no invitation to wait for.
    qr = db.session.get(Rating, app.test_client().post("/api/ratings", json=rating_body(
        channel="qr")).get_json()["id"])
    assert marks(qr) == set() and qr.counted


@pytest.fixture
def bind(app):
    return EventCheck(db.engine).bind


def new_event(window_id: int, opened_at: datetime, minutes: float = 10,
              closed_at: datetime | None = None, ticket: str = "A1") -> int:
    event = Evaluation(window_id=window_id, ticket=ticket, opened_at=opened_at,
                       expires_at=opened_at + timedelta(minutes=minutes), closed_at=closed_at)
    db.session.add(event)
    db.session.commit()
    return event.id


def refused(bind, value, window_id, tapped_at) -> InputError:
    with pytest.raises(InputError) as caught:
        bind(value, window_id, tapped_at)
    return caught.value


def test_bind_takes_an_event_open_at_the_window_when_tapped(app, bind):
    window = make_window("A01")
    t0 = datetime(2026, 11, 30, 2, 0)
    event = new_event(window.id, t0)
    assert bind(event, window.id, t0 + timedelta(minutes=3)) == (event, "A1")
    # A tablet's clock a little behind the server's still binds.
    assert bind(event, window.id, t0 - CLOCK_SLACK) == (event, "A1")


def test_bind_refuses_another_windows_event(app, bind):
    here, there = make_window("A01"), make_window("A02", staff_no="S002")
    event = new_event(there.id, datetime(2026, 11, 30, 2, 0))
    err = refused(bind, event, here.id, datetime(2026, 11, 30, 2, 1))
    assert err.status == 400 and err.message == f"evaluation {event} was opened for another window"


def test_bind_refuses_an_expired_event_and_one_tapped_before_it_opened(app, bind):
    window = make_window("A01")
    t0 = datetime(2026, 11, 30, 2, 0)
    event = new_event(window.id, t0, minutes=10)
    late = refused(bind, event, window.id, t0 + timedelta(minutes=10, seconds=6))
    assert late.status == 400 and late.message.endswith("had expired when the rating was tapped")
    early = refused(bind, event, window.id, t0 - timedelta(seconds=30))
    assert early.message == f"evaluation {event} was not open yet when the rating was tapped"


def test_bind_refuses_a_superseded_event_after_its_successor_opened(app, bind):
    window = make_window("A01")
    t0 = datetime(2026, 11, 30, 2, 0)
    old = new_event(window.id, t0, closed_at=t0 + timedelta(minutes=2))
    err = refused(bind, old, window.id, t0 + timedelta(minutes=3))
    assert err.message.endswith("had been replaced by a newer one when the rating was tapped")


def test_bind_takes_an_offline_queued_tap_by_its_tap_time(app, client, token, bind):
    """A tablet offline when the citizen tapped sends the rating after the event was
    replaced and had expired: tapped while it was open, it is still that event's."""
    window = make_window("A01")
    t0 = datetime(2026, 11, 30, 2, 0)
    old = new_event(window.id, t0, minutes=10, closed_at=t0 + timedelta(minutes=4))
    new_event(window.id, t0 + timedelta(minutes=4), ticket="A2")
    assert bind(old, window.id, t0 + timedelta(minutes=1)) == (old, "A1")

    # Through the API, with a real tap time long before it arrives.
    tablet = app.test_client()
    pair_device("A01", "kiosk", tablet)
    event = open_event(client, token, ticket="Q9").get_json()["id"]
    ev = db.session.get(Evaluation, event)
    ev.opened_at -= timedelta(minutes=20)
    ev.expires_at -= timedelta(minutes=20)
    ev.closed_at = utcnow() - timedelta(minutes=15)
    db.session.commit()
    tap = (utcnow() - timedelta(minutes=18)).isoformat() + "Z"
    resp = rate(tablet, evaluation=event, created_at=tap)
    assert resp.status_code == 201, resp.get_json()
    assert db.session.get(Rating, resp.get_json()["id"]).evaluation_id == event


def test_bind_answers_unknown_and_malformed_ids(app, bind):
    window = make_window("A01")
    unknown = refused(bind, 987654, window.id, utcnow())
    assert unknown.status == 404 and unknown.message == "evaluation 987654 does not exist"
    for value in ("12", 1.5, True, -3, 2**40):
        assert refused(bind, value, window.id, utcnow()).status == 400


# -- the clerk's page -------------------------------------------------------------------

CLERK = {"X-Kiosk-Clerk": "1"}


def test_the_clerk_page_needs_a_clerk_device_of_the_window(app):
    make_window("A01")
    make_window("A02", staff_no="S002")
    nobody, tablet, other, clerk = (app.test_client() for _ in range(4))
    pair_device("A01", "kiosk", tablet)
    pair_device("A02", "clerk", other)
    pair_device("A01", "clerk", clerk)
    page = nobody.get("/k/A01/clerk")
    assert page.status_code == 403
    html = page.get_data(as_text=True)
    assert "这台电脑还没有与窗口 A01 配对" in html and "配对窗口人员电脑" in html
    assert 'id="invite-btn"' not in html
    assert tablet.get("/k/A01/clerk").status_code == 403
    assert other.get("/k/A01/clerk").status_code == 403
    assert other.post("/k/A01/clerk/evaluations", json={}, headers=CLERK).status_code == 403
    assert other.get("/k/A01/clerk/last").status_code == 403
    assert events() == []
    assert clerk.get("/k/A01/clerk").status_code == 200


def test_a_clerk_pairing_link_lands_on_the_clerk_page(app):
    from kiosk.devices import create_code

    window = make_window("A01")
    code = create_code(db.session, window, "clerk")
    db.session.commit()
    browser = app.test_client()
    paired = browser.get(f"/pair/{code}")
    assert paired.status_code == 302 and paired.headers["Location"].endswith("/k/A01/clerk")
    page = browser.get("/k/A01/clerk")
    assert page.status_code == 200 and 'id="invite-btn"' in page.get_data(as_text=True)
    # A clerk's computer is not a kiosk: it neither gets the kiosk's prompt nor rates.
    assert browser.get("/api/windows/A01/prompt").status_code == 403
    assert rate(browser).status_code == 403


def test_the_clerk_page_offers_the_departments_service_items(app):
    window = make_window("A01")
    elsewhere = Department(hall=window.hall, name="公安分局")
    db.session.add_all([
        ServiceItem(code="S-1", name="营业执照办理", department_id=window.department_id),
        ServiceItem(code="S-2", name="通用事项", department_id=None),
        ServiceItem(code="S-3", name="身份证换领", department=elsewhere),
        ServiceItem(code="S-4", name="已停办事项", department_id=window.department_id,
                    active=False)])
    db.session.commit()
    clerk = app.test_client()
    pair_device("A01", "clerk", clerk)
    html = clerk.get("/k/A01/clerk").get_data(as_text=True)
    assert "请评价" in html and "营业执照办理" in html and "通用事项" in html
    assert "身份证换领" not in html and "已停办事项" not in html


def test_the_clerks_button_opens_an_event_and_shows_when_it_is_rated(app):
    make_window("A01")
    clerk = app.test_client()
    device_secret = pair_device("A01", "clerk", clerk)
    tablet = app.test_client()
    pair_device("A01", "kiosk", tablet)
    # Not a JSON POST with the header (a cross-site form could send neither): refused.
    assert clerk.post("/k/A01/clerk/evaluations", json={}).status_code == 403
    assert clerk.post("/k/A01/clerk/evaluations", data={"ticket": "1"},
                      headers=CLERK).status_code == 415
    assert events() == []

    resp = clerk.post("/k/A01/clerk/evaluations", json={"ticket": "", "service_item": ""},
                      headers=CLERK)
    assert resp.status_code == 201
    last = resp.get_json()["last"]
    assert last["state"] == "open" and last["ticket"] is None
    [event] = events()
    assert event.token_id is None and event.staff_no == "S001"  # the clerk on duty
    from kiosk.models import Device
    from kiosk.devices import secret_hash
    assert event.device_id == db.session.scalar(sa.select(Device.id).where(
        Device.secret_hash == secret_hash(device_secret)))

    prompt = tablet.get("/api/windows/A01/prompt").get_json()["prompt"]
    assert prompt["id"] == event.id and prompt["ticket"] is None
    stored = db.session.get(Rating, rate(tablet, evaluation=event.id).get_json()["id"])
    assert stored.ticket is None and stored.evaluation_id == event.id
    assert clerk.get("/k/A01/clerk/last").get_json()["last"]["state"] == "rated"

    clerk.post("/k/A01/clerk/evaluations", json={"ticket": "A031"}, headers=CLERK)
    clerk.post("/k/A01/clerk/evaluations", json={"ticket": "A032"}, headers=CLERK)
    assert [e.closed_at is not None for e in events()] == [False, True, False]
    assert clerk.get("/k/A01/clerk/last").get_json()["last"]["ticket"] == "A032"

