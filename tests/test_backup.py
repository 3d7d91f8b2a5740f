"""Backups taken while a real server stores ratings, restored and checked: every rating
acknowledged before the backup began is in it, and the copy is one consistent state
(the live summary and the follow-up cases agree with its ratings).

SQLite: ``kiosk backup --out FILE``. PostgreSQL: ``kiosk backup`` points at pg_dump,
and the documented pg_dump / pg_restore steps are what is tested."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk import phonekeys

from .conftest import PG_ADMIN_URL
from .helpers import make_window, rating_body
from .liveserver import Client, LiveServer

WINDOWS = [f"B{i:02d}" for i in range(4)]


class Load:
    """Threads posting ratings to a server until stopped; remembers every answer."""

    def __init__(self, port: int, threads: int = 4) -> None:
        self.port = port
        self.lock = threading.Lock()
        self.acked: dict[str, int] = {}  # client_id -> id, in the order answered
        self.bodies: dict[str, dict] = {}
        self.errors: list = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,)) for k in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self, k: int) -> None:
        client = Client(self.port)
        i = 0
        try:
            while not self.done.is_set():
                i += 1
                body = rating_body(window=WINDOWS[(k + i) % len(WINDOWS)], score=1 + i % 5,
                                   client_id=uuid.uuid4().hex)
                if i % 3 == 0:
                    body["phone"] = f"1380013{k:02d}{i % 100:02d}"
                status, answer = client.post("/api/ratings", body)
                with self.lock:
                    if status == 201:
                        self.acked[body["client_id"]] = answer["id"]
                        self.bodies[body["client_id"]] = body
                    else:
                        self.errors.append((status, answer))
        finally:
            client.close()

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.acked)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.snapshot()) < count:
            assert time.monotonic() < deadline, f"only {len(self.snapshot())} ratings stored"
            assert not self.errors, self.errors[:3]
            time.sleep(0.02)

    def stop(self) -> dict[str, int]:
        self.done.set()
        for t in self.threads:
            t.join()
        assert self.errors == []
        return self.snapshot()


def kiosk_cli(uri: str, instance: Path, phone_key: Path, *args: str,
              check: bool = True) -> subprocess.CompletedProcess:
    """``kiosk ARGS`` in its own process, as an operator runs it beside the server."""
    env = dict(os.environ, KIOSK_INSTANCE_PATH=str(instance), KIOSK_SQLALCHEMY_DATABASE_URI=uri,
               KIOSK_SECRET_KEY="live", KIOSK_PHONE_KEY_FILE=str(phone_key))
    done = subprocess.run([sys.executable, "-m", "kiosk", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def check_restored(uri: str, before: dict[str, int], final: dict[str, int]) -> dict[str, int]:
    """The restored database holds every rating acknowledged before the backup began,
    nothing that was never acknowledged, and its cases match its ratings."""
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as conn:
            stored = dict(conn.execute(sa.text("SELECT client_id, id FROM rating")).all())
            bad = set(conn.execute(sa.text("SELECT id FROM rating WHERE score <= 2")).scalars())
            cased = list(conn.execute(sa.text(
                "SELECT rating_id FROM followup_case WHERE kind IN ('callback', 'verify')"
            )).scalars())
    finally:
        engine.dispose()
    missing = set(before) - set(stored)
    assert not missing, f"{len(missing)} acknowledged ratings are missing from the backup"
    assert all(stored[c] == before[c] for c in before)
    assert set(stored) <= set(final), "the backup holds ratings nobody was told about"
    # One consistent state: each bad rating's case was committed with it.
    assert sorted(cased) == sorted(bad)
    return stored


def check_serves(uri: str, instance: Path, phone_key: Path, load: Load,
                 before: dict[str, int]) -> None:
    """A server on the restored database knows the acknowledged ratings (a replay
    answers 200 with the same id) and stores new ones; its summary needs no repair."""
    result = kiosk_cli(uri, instance, phone_key, "rebuild-summary")
    assert "already matched" in result.stdout, result.stdout
    server = LiveServer(uri, instance, phone_key=phone_key)
    try:
        client = Client(server.port)
        for client_id in list(before)[:: max(1, len(before) // 25)]:
            assert client.post("/api/ratings", load.bodies[client_id]) == \
                (200, {"id": before[client_id], "client_id": client_id})
        status, _ = client.post("/api/ratings", rating_body(window=WINDOWS[0]))
        assert status == 201
        client.close()
    finally:
        server.stop()
    assert "Traceback" not in server.log()


@pytest.fixture
def hall(app):
    for code in WINDOWS:
        make_window(code, staff_no=f"S{code}")
    phonekeys.keyring(app)  # the key file exists before any server starts
    return phonekeys.key_path(app)


def is_sqlite(uri: str) -> bool:
    return uri.startswith("sqlite")


def test_backup_under_load_restores_every_acknowledged_rating(app, hall, database_uri,
                                                              tmp_path):
    if not is_sqlite(database_uri):
        pytest.skip("SQLite's kiosk backup; PostgreSQL: test_pg_dump_under_load_restores")
    server = LiveServer(database_uri, tmp_path / "srv", phone_key=hall)
    try:
        load = Load(server.port)
        load.wait_for(150)
        before = load.snapshot()
        out = tmp_path / "backups" / "kiosk-backup.sqlite"
        result = kiosk_cli(database_uri, tmp_path / "cli", hall, "backup", "--out", str(out))
        after = load.snapshot()
        load.wait_for(len(after) + 50)  # still serving after the backup
        final = load.stop()
    finally:
        server.stop()
    assert "Traceback" not in server.log() and "locked" not in server.log()
    assert f"to {out}" in result.stdout and "phone key" in result.stdout
    assert sorted(p.name for p in out.parent.iterdir()) == ["kiosk-backup.sqlite"]

    # Restore as the README says: the backup file becomes the database file.
    restored = tmp_path / "restored" / "kiosk.sqlite"
    restored.parent.mkdir()
    shutil.copy(out, restored)
    uri = f"sqlite:///{restored}"
    stored = check_restored(uri, before, final)
    # Taken between the two snapshots (each thread has at most one rating in flight).
    assert len(stored) <= len(after) + len(load.threads)
    backed_up = int(result.stdout.split("backed up ")[1].split()[0])
    assert backed_up == len(stored)
    check_serves(uri, tmp_path / "restored", hall, load, before)


def test_backup_holds_commits_still_in_the_wal(app, client, runner, tmp_path, database_uri):
    """A copy of the database file alone would miss what is committed but not yet
    checkpointed from the -wal file; the online backup has it."""
    if not is_sqlite(database_uri):
        pytest.skip("SQLite only")
    make_window("A01")
    live = Path(database_uri.removeprefix("sqlite:///"))
    ids = {client.post("/api/ratings", json=rating_body()).get_json()["id"] for _ in range(12)}
    assert len(ids) == 12
    assert Path(f"{live}-wal").stat().st_size > 0  # the app's pool keeps the WAL open
    out = tmp_path / "copy.sqlite"
    result = runner.invoke(args=["backup", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "backed up 12 ratings" in result.output
    engine = sa.create_engine(f"sqlite:///{out}")
    with engine.connect() as conn:
        assert set(conn.execute(sa.text("SELECT id FROM rating")).scalars()) == ids
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "delete"
    engine.dispose()


def test_backup_refuses_clearly(app, runner, tmp_path, database_uri):
    if not is_sqlite(database_uri):
        result = runner.invoke(args=["backup", "--out", str(tmp_path / "x.sqlite")])
        assert result.exit_code == 1
        assert "pg_dump --format=custom" in result.output and "Traceback" not in result.output
        assert not (tmp_path / "x.sqlite").exists()
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://kiosk:s3cret@db:5433/hall"
        result = runner.invoke(args=["backup", "--out", str(tmp_path / "x.sqlite")])
        assert "'postgresql://kiosk@db:5433/hall'" in result.output
        assert "s3cret" not in result.output
        return
    live = database_uri.removeprefix("sqlite:///")
    result = runner.invoke(args=["backup", "--out", live])
    assert result.exit_code == 1 and "live database itself" in result.output
    result = runner.invoke(args=["backup", "--out", str(tmp_path)])
    assert result.exit_code != 0
    # An existing backup is replaced only by a whole, checked copy.
    out = tmp_path / "old.sqlite"
    out.write_text("yesterday")
    result = runner.invoke(args=["backup", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"SQLite format 3")


def test_pg_dump_under_load_restores(app, hall, database_uri, tmp_path):
    """The README's PostgreSQL steps: pg_dump while serving, pg_restore into a new
    database, start a server on it."""
    if is_sqlite(database_uri):
        pytest.skip("PostgreSQL only")
    import psycopg

    libpq = database_uri.replace("postgresql+psycopg://", "postgresql://")
    dump = tmp_path / "kiosk.dump"
    server = LiveServer(database_uri, tmp_path / "srv", phone_key=hall)
    try:
        load = Load(server.port)
        load.wait_for(150)
        before = load.snapshot()
        subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", libpq], check=True,
                       timeout=120)
        after = load.snapshot()
        load.wait_for(len(after) + 50)
        final = load.stop()
    finally:
        server.stop()
    assert "Traceback" not in server.log()

    name = f"kiosk_restore_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        target = libpq.rsplit("/", 1)[0] + f"/{name}"
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={target}",
                        str(dump)], check=True, timeout=120)
        uri = database_uri.rsplit("/", 1)[0] + f"/{name}"
        stored = check_restored(uri, before, final)
        assert len(stored) <= len(after) + len(load.threads)
        check_serves(uri, tmp_path / "restored", hall, load, before)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
