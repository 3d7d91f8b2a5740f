"""The read API (kiosk/readapi.py): the rating feed's cursor (no gap, no repeat while
ratings are inserted from several threads, out-of-order commits on PostgreSQL, a
server restart), the league and the follow-up cases, and every answer checked against
the OpenAPI document the app serves."""
from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator

from kiosk import clock
from kiosk.db import db, utcnow
from kiosk.exports import rating_rows
from kiosk.models import Rating
from kiosk.tokens import create_token

from .helpers import make_window, rating_body
from .liveserver import LiveServer

TZ = clock.zone("Asia/Shanghai")


@pytest.fixture
def token(app):
    made = create_token("province", "read")
    db.session.commit()
    return made.token


@pytest.fixture
def api(client, token):
    """GET an /api/v1 path with the read token; returns the response."""
    def get(path: str, **params):
        return client.get(f"/api/v1{path}", query_string=params,
                          headers={"Authorization": f"Bearer {token}"})
    return get


@pytest.fixture
def spec(client):
    return client.get("/api/v1/openapi.json").get_json()


def check(spec: dict, path: str, resp) -> dict:
    """The answer's JSON, validated against the document's schema for its status."""
    answer = spec["paths"][path]["get"]["responses"][str(resp.status_code)]
    schema = answer["content"]["application/json"]["schema"]
    data = resp.get_json()
    Draft202012Validator({**schema, "components": spec["components"]}).validate(data)
    return data


def rate(app, n: int, **fields) -> list[int]:
    intake = app.extensions["kiosk.intake"]
    return [intake.accept(rating_body(**fields)).id for _ in range(n)]


def drain(api, spec, after: str = "", limit: int = 10) -> tuple[list[dict], str]:
    """Every page from ``after`` until an empty one; the ratings and the last cursor."""
    seen = []
    while True:
        data = check(spec, "/ratings", api("/ratings", after=after, limit=limit))
        assert data["next"] == after or data["ratings"]
        seen += data["ratings"]
        if not data["ratings"]:
            return seen, after
        after = data["next"]


# -- the feed ------------------------------------------------------------------------------

def test_pages_hand_out_each_rating_once_as_the_export_has_it(app, api, spec):
    make_window("A01")
    ids = rate(app, 23)
    rate(app, 1, phone="13800138000", comment="等了很久", score=1, reasons=[])
    first = check(spec, "/ratings", api("/ratings", limit=10))
    assert len(first["ratings"]) == 10
    seen, cursor = drain(api, spec)
    assert [r["id"] for r in seen] == sorted(r["id"] for r in seen)
    assert len(seen) == 24 and set(ids) < {r["id"] for r in seen}
    assert seen[:10] == first["ratings"]
    # The rows are the export's rows (phone masked), field for field, and the service
    # event each answers (一次一评: none here).
    assert seen == [{**row, "evaluation_id": None}
                    for row in rating_rows(None, None, TZ, with_phone=False)]
    assert seen[-1]["phone"] == "138****8000" and seen[-1]["comment"] == "等了很久"
    # Nothing new: the same cursor comes back; new ratings follow it.
    assert check(spec, "/ratings", api("/ratings", after=cursor)) == {"ratings": [],
                                                                      "next": cursor}
    later = rate(app, 3)
    more, _ = drain(api, spec, after=cursor)
    assert [r["id"] for r in more] == later


@pytest.mark.parametrize("params, word", [
    ({"after": "abc"}, "after"), ({"after": "12"}, "after"), ({"after": "-1.2"}, "after"),
    ({"after": "1.9999999999999999999"}, "after"),
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "ten"}, "limit"),
])
def test_a_bad_cursor_or_limit_is_400(app, api, spec, params, word):
    resp = api("/ratings", **params)
    assert resp.status_code == 400
    assert word in check(spec, "/ratings", resp)["error"]


def insert_slowly(engine, window_id: int, n: int, ids: list[int], seed: int) -> None:
    """``n`` ratings, one transaction each, each held open a few milliseconds after its
    INSERT: on PostgreSQL, transactions of several threads commit out of id order."""
    rnd = random.Random(seed)
    for _ in range(n):
        now = utcnow()
        with engine.begin() as conn:
            new_id = conn.execute(sa.insert(Rating.__table__).values(
                client_id=uuid.uuid4().hex, window_id=window_id, score=5, channel="kiosk",
                reasons="", created_at=now, received_at=now, counted=True, flags="",
            ).returning(Rating.id)).scalar_one()
            time.sleep(rnd.random() * 0.01)
        ids.append(new_id)


def test_no_gap_and_no_repeat_while_several_threads_insert(app, api, spec):
    window = make_window("A01")
    db.session.commit()
    engine, window_id = db.engine, window.id
    stored: list[int] = []
    threads = [threading.Thread(target=insert_slowly,
                                args=(engine, window_id, 40, stored, seed))
               for seed in range(6)]
    for t in threads:
        t.start()
    seen, after, pages = [], "", 0
    deadline = time.monotonic() + 60
    while any(t.is_alive() for t in threads) or pages < 2:
        data = check(spec, "/ratings", api("/ratings", after=after, limit=7))
        seen += data["ratings"]
        after, pages = data["next"], pages + 1
        assert time.monotonic() < deadline
    for t in threads:
        t.join()
    # The writers are done: read to the end (a transaction elsewhere may hold the
    # line back for a moment; it never loses a row).
    while True:
        rest, after = drain(api, spec, after=after, limit=7)
        seen += rest
        if len(seen) >= len(stored) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    got = [r["id"] for r in seen]
    assert len(got) == len(set(got)), "a rating was handed out twice"
    assert sorted(got) == sorted(stored), "a rating was skipped"
    assert pages > 5  # the reader really paged while the writers wrote


@pytest.fixture
def postgres_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL draws ids before commit; SQLite lets one writer commit at "
                    "a time")


def test_a_rating_committed_after_a_higher_id_is_not_skipped(app, api, spec, postgres_only):
    window = make_window("A01")
    db.session.commit()
    engine = db.engine

    def insert(conn) -> int:
        now = utcnow()
        return conn.execute(sa.insert(Rating.__table__).values(
            client_id=uuid.uuid4().hex, window_id=window.id, score=4, channel="kiosk",
            reasons="", created_at=now, received_at=now, counted=True, flags="",
        ).returning(Rating.id)).scalar_one()

    with engine.connect() as slow:  # closed (rolled back) whatever happens
        slow_tx = slow.begin()
        slow_id = insert(slow)  # id n, not committed yet
        with engine.begin() as conn:
            fast_id = insert(conn)  # id n + 1, committed first
        assert fast_id > slow_id
        # An id cursor would hand out n + 1 now and never n; the feed waits for n.
        waiting = check(spec, "/ratings", api("/ratings"))
        assert fast_id not in [r["id"] for r in waiting["ratings"]]
        slow_tx.commit()
    seen, _ = drain(api, spec, after=waiting["next"])
    assert [r["id"] for r in waiting["ratings"] + seen] == [slow_id, fast_id]


def test_a_long_transaction_in_another_database_does_not_hold_the_feed_back(
        app, api, spec, postgres_only):
    """The line is drawn from this database's transactions: a PostgreSQL server that
    also hosts other databases (another application, a pg_dump of one) must not stall
    the provincial platform's pull, nor the alerts, while their transactions run."""
    from .conftest import PG_ADMIN_URL

    make_window("A01")
    import psycopg

    with psycopg.connect(PG_ADMIN_URL) as other:  # the server's "test" database
        other.execute("SELECT pg_current_xact_id()")  # a transaction id, held open
        ids = rate(app, 3)
        seen, _ = drain(api, spec)
        assert [r["id"] for r in seen] == ids
        other.rollback()


def post_until(port: int, stop: threading.Event, acked: list[int]) -> None:
    from http.client import HTTPException

    from .liveserver import Client

    client = Client(port)
    while not stop.is_set():
        try:
            status, body = client.post("/api/ratings", rating_body())
        except (OSError, HTTPException):  # the server is restarting
            client.close()
            time.sleep(0.05)
            client = Client(port)
            continue
        if status in (200, 201):
            acked.append(body["id"])
    client.close()


def test_a_reader_pulls_every_rating_across_a_server_restart(app, database_uri, tmp_path,
                                                             token):
    import http.client
    import json

    make_window("A01")
    db.session.commit()
    server = LiveServer(database_uri, tmp_path / "srv", threads=4)
    port = server.port

    def page(after: str) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", f"/api/v1/ratings?limit=50&after={after}",
                         headers={"Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            assert resp.status == 200
            return json.loads(resp.read())
        finally:
            conn.close()

    stop, acked, seen, after = threading.Event(), [], [], ""
    posters = [threading.Thread(target=post_until, args=(port, stop, acked))
               for _ in range(4)]
    try:
        for t in posters:
            t.start()
        for round_ in range(2):
            until = time.monotonic() + 1.5
            while time.monotonic() < until:
                data = page(after)
                seen += [r["id"] for r in data["ratings"]]
                after = data["next"]
            if round_ == 0:  # restart the server; the reader keeps its cursor
                server.stop()
                server = LiveServer(database_uri, tmp_path / "srv", threads=4, port=port)
        stop.set()
        for t in posters:
            t.join()
        # Everything stored, acknowledged or not (a post cut off by the restart may
        # have committed without its answer reaching the client).
        stored = db.session.scalars(sa.select(Rating.id)).all()
        db.session.rollback()
        deadline = time.monotonic() + 30
        while len(seen) < len(stored) and time.monotonic() < deadline:
            data = page(after)
            seen += [r["id"] for r in data["ratings"]]
            after = data["next"]
    finally:
        stop.set()
        server.stop()
    assert len(acked) > 50
    assert len(seen) == len(set(seen)), "a rating was handed out twice"
    assert set(acked) <= set(seen), "an acknowledged rating was never handed out"
    assert sorted(seen) == sorted(stored)


# -- the league and the cases --------------------------------------------------------------

def test_the_league_is_the_back_office_league(app, api, spec, login):
    start = datetime(2025, 1, 1)
    make_window("A01", on_duty_since=start)
    make_window("A02", name="发票窗口", staff_no="S002", staff_name="王强",
                on_duty_since=start)
    db.session.commit()
    intake = app.extensions["kiosk.intake"]
    tapped = clock.to_utc(datetime(2026, 11, 3, 10, 0), TZ)
    for code, score in (("A01", 5), ("A01", 4), ("A02", 1), ("A02", 5)):
        intake.accept(rating_body(window=code, score=score,
                                  created_at=tapped.isoformat() + "Z"),
                      now=tapped + timedelta(minutes=1))
    admin = login("supervisor")
    for by in ("window", "staff"):
        data = check(spec, "/league", api("/league", week="2026-W45", by=by))
        assert data == admin.get(f"/admin/league.json?week=2026-W45&by={by}").get_json()
        assert data["week"] == "2026-W45" and sum(r["ratings"] for r in data["rows"]) == 4
    assert check(spec, "/league", api("/league"))["week"] == \
        admin.get("/admin/league.json").get_json()["week"]
    for params in ({"week": "2026-W99"}, {"by": "hall"}, {"hall": "x"}):
        resp = api("/league", **params)
        assert resp.status_code == 400 and check(spec, "/league", resp)["error"]


def test_followups_list_cases_with_masked_phones(app, api, spec, login):
    make_window("A01")
    db.session.commit()
    rate(app, 1, score=1, phone="13800138000", reasons=[])
    rate(app, 1, score=2, reasons=[])
    rate(app, 3, score=5)
    data = check(spec, "/followups", api("/followups"))
    rows = data["rows"]
    assert data["more"] is False and len(rows) >= 2
    by_kind = {r["kind"]: r for r in rows}
    assert by_kind["callback"]["phone"] == "138****8000"
    assert by_kind["verify"]["phone"] is None
    assert all(r["status"] == "open" for r in rows)
    # The same rows as the back office's list, but never a whole number.
    admin = login("admin").get("/admin/followups.json").get_json()["rows"]
    assert [r["id"] for r in rows] == [r["id"] for r in admin]
    assert check(spec, "/followups", api("/followups", status="closed"))["rows"] == []
    only = check(spec, "/followups", api("/followups", kind="verify"))["rows"]
    assert [r["kind"] for r in only] == ["verify"]
    for params in ({"status": "nope"}, {"assigned": "me"}, {"overdue": "maybe"}):
        resp = api("/followups", **params)
        assert resp.status_code == 400 and check(spec, "/followups", resp)["error"]


# -- the document --------------------------------------------------------------------------

def test_the_document_covers_every_route_and_its_errors(app, client, spec):
    routes = {rule.rule.removeprefix("/api/v1") for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/")}
    assert routes == set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        if path == "/openapi.json":
            continue
        resp = client.get(f"/api/v1{path}")
        assert resp.status_code == 401
        check(spec, path, resp)


def test_the_document_catches_a_field_it_does_not_know(app, api, spec):
    """The check is strict: an answer with one field more fails validation."""
    from jsonschema import ValidationError

    make_window("A01")
    rate(app, 1)
    resp = api("/ratings")
    data = resp.get_json()
    data["ratings"][0]["extra"] = 1
    schema = spec["paths"]["/ratings"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    with pytest.raises(ValidationError):
        Draft202012Validator({**schema, "components": spec["components"]}).validate(data)
