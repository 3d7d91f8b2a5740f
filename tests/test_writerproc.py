"""The rating writer in a process of its own (kiosk/writerproc.py): what a tablet sees
through it is what it sees through the writer thread, and a writer process that dies
is replaced without an acknowledged rating going missing."""
from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk import writerproc
from kiosk.db import db, utcnow
from kiosk.evaluations import EventFields, open_event
from kiosk.models import FollowupCase, Rating, RatingSummary, Window
from kiosk.ratings import RatedEvent

from .helpers import make_window, pair_device, rating_body


@pytest.fixture
def writer(app):
    """The app's ratings stored through a writer process, as ``kiosk serve`` stores
    them, on either database."""
    app.config["WRITER_PROCESS"] = True
    started = writerproc.attach(app)
    yield started
    started.stop()


def stored_client_ids() -> set[str]:
    db.session.rollback()  # a fresh snapshot: the writer process wrote them
    return set(db.session.scalars(sa.select(Rating.client_id)))


def counted_in_summary() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(RatingSummary.n), 0))
                             .where(RatingSummary.grain == "d")) or 0


def test_kiosk_serve_uses_a_writer_process_unless_told_not_to(app):
    assert app.config["WRITER_PROCESS"] is True  # the default, on either database
    started = writerproc.attach(app)
    try:
        assert app.extensions["kiosk.intake"].writer is started
        assert started.pid and started.pid != os.getpid()
    finally:
        started.stop()
    app.config["WRITER_PROCESS"] = False
    assert writerproc.attach(app) is None


def test_ratings_from_many_tablets_are_stored_once_each(app, writer):
    make_window("A01")
    make_window("B02", staff_no="S002", staff_name="李强")
    bodies = [rating_body(window="A01" if i % 2 else "B02", score=1 + i % 5,
                          phone="13800138000" if i % 7 == 0 else None)
              for i in range(120)]
    answers: dict[str, list[int]] = {}
    lock = threading.Lock()

    def send(chunk: list[dict]) -> None:
        client = app.test_client()
        for body in chunk + chunk[:5]:  # the last few sent twice: a tablet's retries
            status = client.post("/api/ratings", json=body).status_code
            with lock:
                answers.setdefault(body["client_id"], []).append(status)

    threads = [threading.Thread(target=send, args=(bodies[k::8],)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(statuses[0] == 201 and set(statuses[1:]) <= {200}
               for statuses in answers.values())
    assert sum(len(s) - 1 for s in answers.values()) == 40  # the repeats answered 200
    assert stored_client_ids() == {b["client_id"] for b in bodies}
    assert counted_in_summary() == 120  # the live summary moved in the same transactions
    # The follow-up cases were opened with them: every 1- or 2-star rating has one.
    bad = db.session.scalar(sa.select(sa.func.count()).select_from(Rating)
                            .where(Rating.score <= 2))
    cases = db.session.scalar(sa.select(sa.func.count()).select_from(FollowupCase)
                              .where(FollowupCase.kind != "sample"))
    assert cases == bad == 48


def test_refusals_cross_the_process_as_the_writer_thread_gives_them(app, client, writer):
    make_window("A01")
    tablet = app.test_client()
    pair_device("A01", "kiosk", tablet)
    a01 = db.session.scalars(sa.select(Window).where(Window.code == "A01")).one()
    event = open_event(db.session, a01, EventFields("T-17", None, None, None), utcnow(), 10)
    db.session.commit()

    first = tablet.post("/api/ratings", json=rating_body(channel="kiosk", evaluation=event.id))
    assert first.status_code == 201
    second = tablet.post("/api/ratings", json=rating_body(channel="kiosk", score=1,
                                                          evaluation=event.id))
    assert second.status_code == 409
    assert second.get_json()["error"] == RatedEvent().message
    # Validation still happens in the server: a bad body never reaches the process.
    assert client.post("/api/ratings", json=rating_body(score=9)).status_code == 400
    assert len(stored_client_ids()) == 1


def test_a_killed_writer_process_is_replaced_and_no_rating_is_half_answered(app, client,
                                                                             writer):
    make_window("A01")
    before = rating_body()
    assert client.post("/api/ratings", json=before).status_code == 201
    old = writer.pid
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while writer.pid == old and time.monotonic() < deadline:
        time.sleep(0.05)
    # The next ratings start a new process; a tablet that was answered with an error
    # (none is expected here) would keep its rating and send it again.
    bodies = [rating_body(created_at=(utcnow() - timedelta(seconds=i)).isoformat() + "Z")
              for i in range(3)]
    statuses = [client.post("/api/ratings", json=b).status_code for b in bodies]
    assert statuses == [201, 201, 201]
    assert writer.pid not in (None, old)
    assert stored_client_ids() == {before["client_id"]} | {b["client_id"] for b in bodies}


def test_a_rating_in_flight_when_the_process_dies_is_answered_not_left_hanging(app, client,
                                                                              writer):
    """The request waiting on a batch that will never be answered gets an error (and
    its tablet retries), instead of hanging its waitress thread for good."""
    make_window("A01")
    assert client.post("/api/ratings", json=rating_body()).status_code == 201
    # Stop the process between receiving and answering: pause it, queue a rating,
    # then kill it while the rating waits.
    pid = writer.pid
    os.kill(pid, signal.SIGSTOP)
    result: dict = {}
    body = rating_body()

    def post() -> None:
        result["resp"] = app.test_client().post("/api/ratings", json=body)

    t = threading.Thread(target=post)
    t.start()
    time.sleep(0.3)
    assert t.is_alive()  # waiting for the stopped process
    os.kill(pid, signal.SIGKILL)
    t.join(10)
    assert not t.is_alive()
    resp = result["resp"]
    assert resp.status_code == 500 and "error" in resp.get_json()
    # Sent again, as the tablet's queue does: stored once.
    assert client.post("/api/ratings", json=body).status_code == 201
    assert client.post("/api/ratings", json=body).status_code == 200
    assert body["client_id"] in stored_client_ids()
