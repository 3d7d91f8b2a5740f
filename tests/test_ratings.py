"""POST /api/ratings: validation, idempotency, attribution, storage."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk.db import db, utcnow
from kiosk.models import Duty, Rating, Staff
from kiosk.privacy import unseal_phone
from kiosk.ratings import RatingWriter, _Slot

from .helpers import make_window, pair_device, rating_body


@pytest.fixture
def window(app):
    return make_window()


def post(client, body, **kw):
    return client.post("/api/ratings", json=body, **kw)


def stored() -> list[Rating]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Rating).order_by(Rating.id)))


def test_a_tap_is_stored_with_the_clerk_on_duty(client, window):
    pair_device("A01", client=client)  # a kiosk rating comes from the window's tablet
    body = rating_body(score=4, channel="kiosk")
    resp = post(client, body)
    assert resp.status_code == 201
    assert resp.json == {"id": resp.json["id"], "client_id": body["client_id"]}
    [rating] = stored()
    assert rating.id == resp.json["id"]
    assert (rating.score, rating.channel, rating.window.code) == (4, "kiosk", "A01")
    assert rating.staff.staff_no == "S001"
    assert rating.counted is True
    assert abs(rating.created_at - utcnow()) < timedelta(seconds=5)


def test_the_same_client_id_again_stores_nothing_new(client, window):
    body = rating_body()
    first = post(client, body)
    again = post(client, dict(body, score=1))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert [r.score for r in stored()] == [5]


def test_a_full_bad_rating_is_stored_exactly(client, window):
    comment = '窗口人员<script>alert("x")</script> & 态度差\n第二行 😀'
    body = rating_body(score=1, reasons=["attitude", "waiting"], comment=comment,
                       phone="138 0013 8000", ticket="A01-023")
    assert post(client, body).status_code == 201
    [r] = stored()
    assert r.reason_codes == ["attitude", "waiting"]
    assert r.comment == comment
    assert r.phone.startswith("ph1.") and unseal_phone(r.phone) == "13800138000"  # sealed
    assert r.ticket == "A01-023"


def test_queued_tap_time_is_kept_and_attributed_to_whoever_was_on_duty(client, window):
    # The clerk on duty now started an hour ago; a tap from two hours ago belongs to
    # the clerk before.
    now = utcnow()
    earlier = Staff(staff_no="S000", name="前任")
    current = db.session.scalars(sa.select(Duty)).one()
    current.started_at = now - timedelta(hours=1)
    db.session.add(Duty(window=window, staff=earlier, started_at=now - timedelta(days=1),
                        ended_at=now - timedelta(hours=1)))
    db.session.commit()
    tapped = datetime.now(UTC) - timedelta(hours=2)
    body = rating_body(created_at=tapped.isoformat().replace("+00:00", "Z"))
    assert post(client, body).status_code == 201
    [r] = stored()
    assert r.created_at == tapped.replace(tzinfo=None)
    assert r.staff.staff_no == "S000"


def test_a_tap_time_without_offset_is_hall_time(client, window):
    shanghai = (datetime.now(UTC) + timedelta(hours=8) - timedelta(minutes=10))
    local = shanghai.replace(tzinfo=None, microsecond=0)
    assert post(client, rating_body(created_at=local.isoformat())).status_code == 201
    [r] = stored()
    assert r.created_at == local - timedelta(hours=8)


@pytest.mark.parametrize("delta, ok", [
    (timedelta(minutes=4), True),
    (timedelta(minutes=6), False),
    (-timedelta(days=29), True),
    (-timedelta(days=31), False),
])
def test_created_at_bounds(client, window, delta, ok):
    when = (datetime.now(UTC) + delta).isoformat()
    resp = post(client, rating_body(created_at=when))
    assert resp.status_code == (201 if ok else 400)
    if not ok:
        assert "created_at" in resp.json["error"]
        assert stored() == []


@pytest.mark.parametrize("change, message", [
    ({"score": 0}, "score"),
    ({"score": 6}, "score"),
    ({"score": "5"}, "score"),
    ({"score": 4.5}, "score"),
    ({"score": True}, "score"),
    ({"score": None}, "score is required"),
    ({"channel": "fax"}, "channel"),
    ({"channel": None}, "channel is required"),
    ({"client_id": "short"}, "client_id"),
    ({"client_id": "x" * 65}, "client_id"),
    ({"client_id": "has\nnewline1"}, "client_id"),
    ({"client_id": 12345678}, "client_id"),
    ({"client_id": None}, "client_id is required"),
    ({"window": None}, "window is required"),
    ({"window": 7}, "window"),
    ({"reasons": "attitude"}, "reasons"),
    ({"reasons": ["attitude", "bribery"]}, "bribery"),
    ({"reasons": [1]}, "reasons"),
    ({"comment": "长" * 501}, "comment"),
    ({"comment": 5}, "comment"),
    ({"phone": "12345"}, "phone"),
    ({"phone": "23800138000"}, "phone"),
    ({"phone": 13800138000}, "phone"),
    ({"created_at": "yesterday"}, "created_at"),
    ({"created_at": 1700000000}, "created_at"),
    ({"ticket": "t" * 65}, "ticket"),
])
def test_invalid_fields_answer_400_and_store_nothing(client, window, change, message):
    body = rating_body()
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    resp = post(client, body)
    assert resp.status_code == 400
    assert message in resp.json["error"]
    assert stored() == []


def test_limits_that_are_allowed(client, window):
    body = rating_body(comment="长" * 500, client_id="k" * 64, phone="0571-88001234",
                       reasons=[])
    assert post(client, body).status_code == 201
    [r] = stored()
    assert (len(r.comment), unseal_phone(r.phone), r.reasons) == (500, "057188001234", "")


def test_unknown_window_is_404(client, window):
    resp = post(client, rating_body(window="Z99"))
    assert resp.status_code == 404
    assert "Z99" in resp.json["error"]


def test_a_window_added_later_is_found(client, window):
    assert post(client, rating_body()).status_code == 201  # directory now loaded
    make_window("B07", staff_no="S007")
    app = client.application
    app.extensions["kiosk.intake"].windows.clear()  # no need to wait for the reload gap
    assert post(client, rating_body(window="B07")).status_code == 201


def test_body_over_16_kib_is_413(client, window):
    body = rating_body(comment="x" * 17000)
    resp = post(client, body)
    assert resp.status_code == 413
    assert resp.json["error"]
    assert stored() == []


@pytest.mark.parametrize("data, content_type, status", [
    ("score=5", "application/x-www-form-urlencoded", 415),
    ('{"score": 5', "application/json", 400),
    ("[1, 2]", "application/json", 400),
    ("null", "application/json", 400),
    ("\xff\xfe", "application/json", 400),
])
def test_bodies_that_are_not_a_json_object(client, window, data, content_type, status):
    resp = client.post("/api/ratings", data=data, content_type=content_type)
    assert resp.status_code == status
    assert resp.is_json and resp.json["error"]
    assert "Traceback" not in resp.get_data(as_text=True)


def test_wrong_method_and_unknown_api_path_answer_json(client):
    assert client.get("/api/ratings").json["error"]
    resp = client.get("/api/nothing-here")
    assert resp.status_code == 404 and resp.json["error"]


def test_many_ratings_from_one_address_are_all_kept(client, window):
    for _ in range(30):
        resp = post(client, rating_body(), environ_base={"REMOTE_ADDR": "10.1.1.1"})
        assert resp.status_code == 201
    assert len(stored()) == 30


def test_the_writer_stores_a_backlog_larger_than_one_batch(app, window, monkeypatch):
    """A rating queued behind more than a batch's worth of others is still stored."""
    monkeypatch.setattr(RatingWriter, "MAX_BATCH", 3)
    intake = app.extensions["kiosk.intake"]
    now = utcnow()
    backlog = [intake.validate(rating_body(), now) for _ in range(7)]
    intake.writer._pending.extend(_Slot(r) for r in backlog)  # already waiting
    mine = intake.validate(rating_body(score=2), now)
    assert intake.writer.write(mine).created
    assert mine.client_id in {r.client_id for r in stored()}


def accept_within(intake, body: dict, seconds: float = 20):
    """``intake.accept(body)``, failing the test instead of hanging it."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(intake.accept, body).result(timeout=seconds)


def test_a_writer_that_breaks_fails_the_waiting_rating_and_recovers(app, window,
                                                                    monkeypatch):
    """A bug in the writer answers an error (the tablet retries); it never hangs the
    request, and the next rating is stored."""
    intake = app.extensions["kiosk.intake"]
    monkeypatch.setattr(RatingWriter, "_store", lambda self, batch: 1 / 0)
    with pytest.raises(RuntimeError, match="could not be stored"):
        accept_within(intake, rating_body())
    monkeypatch.undo()
    assert accept_within(intake, rating_body()).created
    assert len(stored()) == 1


def test_many_threads_at_once_are_all_stored_and_the_connection_goes_back(app, window):
    intake = app.extensions["kiosk.intake"]
    checked_out = db.engine.pool.checkedout()
    bodies = [rating_body(score=1 + i % 5) for i in range(64)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(intake.accept, bodies))
    # The writer holds a connection only while ratings keep coming.
    assert db.engine.pool.checkedout() == checked_out
    assert all(a.created for a in answers)
    assert {r.client_id: r.id for r in stored()} == {a.client_id: a.id for a in answers}


@pytest.mark.parametrize("change, message", [
    ({"reasons": ["\ud800"]}, "unknown reason"),
    ({"channel": ["kiosk"]}, "channel"),
    ({"channel": {}}, "channel"),
    ({"created_at": "0001-01-01T00:00:00"}, "created_at"),
    ({"created_at": "9999-12-31T23:59:59-10:00"}, "created_at"),
    ({"comment": "a\u0000b"}, "NUL"),
    ({"comment": "bad \ud83d half"}, "Unicode"),
    ({"ticket": "\udc00"}, "Unicode"),
    ({"client_id": "tab\there-123"}, "client_id"),
])
def test_hostile_fields_are_a_400_on_every_database(client, window, change, message):
    body = rating_body(**change)
    data = json.dumps(body)  # ASCII escapes carry the lone surrogates through
    resp = client.post("/api/ratings", data=data, content_type="application/json")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert message in resp.json["error"]
    assert stored() == []


def test_deeply_nested_json_is_a_400(client, window):
    resp = client.post("/api/ratings", data="[" * 5000 + "]" * 5000,
                       content_type="application/json")
    assert resp.status_code == 400 and resp.json["error"]


def test_client_ids_may_be_any_printable_text(client, window):
    body = rating_body(client_id="叫号系统 A01-0007")
    assert post(client, body).status_code == 201
    assert stored()[0].client_id == "叫号系统 A01-0007"


def test_api_import_and_card_agree_on_who_was_on_duty(client, runner, window, tmp_path):
    """The duty rule lives in SQL (writes), Python (imports) and the ORM (the card)."""
    from kiosk.windows import window_card

    start = datetime(2026, 11, 2, 1, 0)  # 09:00 hall time
    db.session.execute(sa.delete(Duty))
    for no, begin, end in [("S1", 0, 4), ("S2", 4, None), ("S3", 2, 3)]:
        clerk = Staff(staff_no=no, name=no)
        db.session.add(Duty(window=window, staff=clerk,
                            started_at=start + timedelta(hours=begin),
                            ended_at=end and start + timedelta(hours=end)))
    db.session.commit()
    moments = [start + timedelta(hours=h) for h in (0, 1, 2, 2.5, 3, 4, 30)]
    expected = ["S1", "S1", "S3", "S3", "S1", "S2", "S2"]

    assert [window_card("A01", m).staff_no for m in moments] == expected
    writer = client.application.extensions["kiosk.intake"].writer
    for i, m in enumerate(moments):
        writer.write(client.application.extensions["kiosk.intake"].validate(
            rating_body(client_id=f"api-{i:05d}"), m))
    csv = "client_id,window,score,created_at\n" + "".join(
        f"imp-{i:05d},A01,5,{m.isoformat()}+00:00\n" for i, m in enumerate(moments))
    path = tmp_path / "r.csv"
    path.write_text(csv)
    assert runner.invoke(args=["import-ratings", str(path)]).exit_code == 0
    by_id = {r.client_id: r.staff.staff_no for r in stored()}
    assert [by_id[f"api-{i:05d}"] for i in range(len(moments))] == expected
    assert [by_id[f"imp-{i:05d}"] for i in range(len(moments))] == expected


def test_the_writer_reconnects_when_its_connection_was_lost(app, window):
    """A server restart between two batches costs no rating (PostgreSQL)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("an SQLite file cannot drop the connection")
    intake = app.extensions["kiosk.intake"]
    kept = intake.writer._connection()  # as kept from one batch to the next under load
    with db.engine.connect() as other:
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                      {"pid": kept.dbapi_connection.info.backend_pid})
    assert accept_within(intake, rating_body()).created
    assert len(stored()) == 1


def test_two_writers_storing_the_same_ratings_at_once_never_deadlock(app):
    """Two servers storing the same ratings at the same moment (a tablet retrying
    through another server), their batches in opposite orders: each rating is stored
    once and both writers answer with its one id. A third transaction holds the middle
    rating until both writers wait on it, so their batches surely cross: rows going in
    one order (client_id) makes them queue instead of deadlocking."""
    import threading
    import time

    from kiosk.ratings import NewRating

    intake = app.extensions["kiosk.intake"]
    with app.app_context():
        window_id = make_window("A01").id
        engine = db.engine
    now = utcnow()
    ratings = [NewRating(f"both-{i:03d}", window_id, 1 + i % 5, "kiosk", "", None, None,
                         None, now, now) for i in range(101)]
    writers = [RatingWriter(engine, intake.bounds.tz, intake.writer.cases) for _ in range(3)]
    holder = writers[2]
    middle = ratings[50]
    held = holder._connection()
    cur = held.cursor()
    cur.execute(holder.sql.insert(1), holder.sql.insert_params([middle]))
    cur.close()
    results: dict[str, list] = {}

    def store(name: str, writer: RatingWriter, batch: list) -> None:
        try:
            results[name] = writer._insert_retrying(batch)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[name] = exc
        finally:
            writer._close()

    threads = [threading.Thread(target=store, args=("up", writers[0], ratings)),
               threading.Thread(target=store, args=("down", writers[1], ratings[::-1]))]
    for t in threads:
        t.start()
    time.sleep(0.5)  # both writers are waiting on the middle rating now
    held.commit()
    holder._close()
    for t in threads:
        t.join(60)
    assert not any(isinstance(r, Exception) for r in results.values()), results
    up = {s.client_id: s.id for s in results["up"]}
    down = {s.client_id: s.id for s in results["down"]}
    assert up == down and len(up) == 101
    created = sum(s.created for s in results["up"] + results["down"])
    assert created == 100  # the middle one was the holder's
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 101
