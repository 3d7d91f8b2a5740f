"""The city-wide setup: two waitress servers on one PostgreSQL database. The same
ratings are sent to both at once (a tablet retrying through the load balancer lands
on the other server): each is stored exactly once, and either server then shows the
same league table, the one a rebuild from the ratings gives."""
from __future__ import annotations

import http.cookiejar
import json
import os
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import pytest
import sqlalchemy as sa

from kiosk import phonekeys
from kiosk.db import db
from kiosk.models import FollowupCase, Rating

from .helpers import PASSWORD, csrf_token, make_user, make_window, rating_body
from .liveserver import Client, LiveServer

WINDOWS = [f"C{i:02d}" for i in range(5)]
PAIRS = 8  # thread pairs, one thread of each pair on each server
EACH = 40  # ratings per pair


class Admin:
    """A back-office session on one server, through its real login form."""

    def __init__(self, base: str, username: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.opener.open(f"{base}/admin/login").read().decode()
        form = urllib.parse.urlencode({"username": username, "password": PASSWORD,
                                       "csrf_token": csrf_token(page)}).encode()
        landed = self.opener.open(f"{base}/admin/login", form)
        assert "/admin/login" not in landed.url, "sign-in failed"

    def json(self, path: str) -> dict:
        with self.opener.open(f"{self.base}{path}") as resp:
            assert resp.status == 200
            return json.loads(resp.read())


def post_pairwise(servers: list[LiveServer], bodies: list[dict]) -> list[tuple]:
    """Each body to both servers at the same moment (a barrier per pair of threads);
    returns (client_id, [(status, answer) from server 0, from server 1])."""
    answers: dict[str, list] = {b["client_id"]: [None, None] for b in bodies}
    errors: list = []

    def worker(side: int, chunk: list[dict], barrier: threading.Barrier) -> None:
        client = Client(servers[side].port)
        try:
            for body in chunk:
                barrier.wait(timeout=30)
                answers[body["client_id"]][side] = client.post("/api/ratings", body)
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(repr(exc))
            barrier.abort()
        finally:
            client.close()

    threads = []
    for k in range(PAIRS):
        chunk = bodies[k::PAIRS]
        barrier = threading.Barrier(2)
        threads += [threading.Thread(target=worker, args=(side, chunk, barrier))
                    for side in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return list(answers.items())


def test_two_servers_store_each_rating_once_and_agree(app, database_uri, tmp_path):
    if database_uri.startswith("sqlite"):
        pytest.skip("the city-wide setup runs on PostgreSQL")
    for code in WINDOWS:
        make_window(code, staff_no=f"S{code}")
    make_user("leader", "supervisor")
    phonekeys.keyring(app)  # one hall, one phone key, made before either server starts
    key = phonekeys.key_path(app)
    servers = [LiveServer(database_uri, tmp_path / f"srv{i}", phone_key=key)
               for i in range(2)]
    try:
        bodies = []
        for i in range(PAIRS * EACH):
            body = rating_body(window=WINDOWS[i % len(WINDOWS)], score=1 + (i * 7) % 5)
            if i % 4 == 0:
                body["phone"] = f"139{i:08d}"
            bodies.append(body)
        answered = post_pairwise(servers, bodies)
        leagues = [Admin(s.url, "leader").json("/admin/league.json") for s in servers]
        by_staff = [Admin(s.url, "leader").json("/admin/league.json?by=staff")
                    for s in servers]
    finally:
        for s in servers:
            s.stop()
    for s in servers:
        assert "Traceback" not in s.log(), s.log()

    # Each body: one server stored it (201), the other found it (200), same id.
    for client_id, (first, second) in answered:
        assert sorted([first[0], second[0]]) == [200, 201], (client_id, first, second)
        assert first[1] == second[1] == {"id": first[1]["id"], "client_id": client_id}
    stored_by = [sum(pair[side][0] == 201 for _, pair in answered) for side in (0, 1)]
    assert min(stored_by) > 0, stored_by  # both servers really raced for them
    db.session.expire_all()
    stored = dict(db.session.execute(sa.select(Rating.client_id, Rating.id)).all())
    assert stored == {cid: pair[0][1]["id"] for cid, pair in answered}
    # A bad rating opened exactly one case, whichever server stored it.
    bad = {r for r in db.session.scalars(sa.select(Rating.id).where(Rating.score <= 2))}
    cases = db.session.scalars(sa.select(FollowupCase.rating_id).where(
        FollowupCase.kind.in_(("callback", "verify")))).all()
    assert sorted(cases) == sorted(bad)

    # Either server shows the same league, and it counts every rating once.
    assert leagues[0] == leagues[1]
    assert by_staff[0] == by_staff[1]
    assert sum(row["ratings"] for row in leagues[0]["rows"]) == len(bodies)
    assert {row["window"] for row in leagues[0]["rows"] if row["ratings"]} == set(WINDOWS)
    # ... and it is the league the ratings give when the summary is rebuilt.
    env = dict(os.environ, KIOSK_INSTANCE_PATH=str(tmp_path / "cli"),
               KIOSK_SQLALCHEMY_DATABASE_URI=database_uri, KIOSK_SECRET_KEY="live",
               KIOSK_PHONE_KEY_FILE=str(key))
    rebuilt = subprocess.run([sys.executable, "-m", "kiosk", "rebuild-summary"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert "already matched" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
