"""The rating write path under a real waitress server: concurrency and durability."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from kiosk.db import db
from kiosk.models import Rating

from .helpers import make_window, rating_body
from .liveserver import Client, LiveServer


@pytest.fixture
def windows(app):
    return [make_window(f"W{i:02d}", staff_no=f"S{i:02d}") for i in range(4)]


def stored_ids() -> dict[str, int]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(Rating.client_id, Rating.id)).all())


def hammer(port: int, count: int, results: list, errors: list) -> None:
    client = Client(port)
    try:
        for i in range(count):
            body = rating_body(window=f"W{i % 4:02d}", score=1 + i % 5)
            status, answer = client.post("/api/ratings", body)
            if status == 201:
                results.append((body["client_id"], answer["id"]))
            else:
                errors.append((status, answer))
    finally:
        client.close()


def test_many_threads_on_two_servers_every_201_is_stored(app, windows, database_uri,
                                                         tmp_path):
    servers = [LiveServer(database_uri, tmp_path / f"srv{i}") for i in range(2)]
    try:
        results: list = []
        errors: list = []
        threads = [threading.Thread(target=hammer,
                                    args=(servers[i % 2].port, 40, results, errors))
                   for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in servers:
            s.stop()
    assert errors == []
    assert len(results) == 16 * 40
    assert stored_ids() == dict(results)
    for s in servers:
        assert "locked" not in s.log() and "Traceback" not in s.log()


def test_replays_racing_each_other_store_one_rating(app, windows, database_uri, tmp_path):
    server = LiveServer(database_uri, tmp_path / "srv")
    body = rating_body(window="W01")
    answers: list = []

    def replay():
        client = Client(server.port)
        answers.append(client.post("/api/ratings", body))
        client.close()

    try:
        threads = [threading.Thread(target=replay) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.stop()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 7 + [201]
    assert len({a["id"] for _, a in answers}) == 1
    assert list(stored_ids()) == [body["client_id"]]


def test_sigkill_under_load_loses_no_acknowledged_rating(app, windows, database_uri,
                                                         tmp_path):
    server = LiveServer(database_uri, tmp_path / "srv")
    acknowledged: list[str] = []
    stop = threading.Event()

    def load():
        client = Client(server.port)
        try:
            while not stop.is_set():
                body = rating_body(window="W02", client_id=uuid.uuid4().hex)
                status, _ = client.post("/api/ratings", body)
                if status == 201:
                    acknowledged.append(body["client_id"])
        except Exception:
            pass  # the server is gone; anything unanswered was never acknowledged
        finally:
            client.close()

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    server.kill()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acknowledged) > 50  # the kill really happened under load
    stored = stored_ids()
    lost = [cid for cid in acknowledged if cid not in stored]
    assert lost == []
