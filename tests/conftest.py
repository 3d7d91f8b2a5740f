"""Fixtures: an app per test on SQLite, and on PostgreSQL whenever it is reachable."""
from __future__ import annotations

import os
import shutil
import uuid

import pytest
import sqlalchemy as sa

from kiosk import clock, create_app, summary
from kiosk.bootstrap import ensure_reasons, init_db
from kiosk.db import db

PG_ADMIN_URL = os.environ.get("KIOSK_TEST_PG", "postgresql://127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    try:
        import psycopg
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except Exception:
        return False


if os.environ.get("KIOSK_TEST_REQUIRE_PG") and not _pg_reachable():
    raise RuntimeError(f"KIOSK_TEST_REQUIRE_PG is set but {PG_ADMIN_URL} is not reachable")
BACKENDS = ["sqlite"] + (["postgresql"] if _pg_reachable() else [])


def _make_app(uri: str, instance: str, **extra):
    config = {"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": uri}
    config.update(extra)
    old = os.environ.get("KIOSK_INSTANCE_PATH")
    os.environ["KIOSK_INSTANCE_PATH"] = instance
    try:
        return create_app(config)
    finally:
        if old is None:
            os.environ.pop("KIOSK_INSTANCE_PATH")
        else:
            os.environ["KIOSK_INSTANCE_PATH"] = old


def _dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file; each test gets a copy (migrations run once per session)."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "kiosk.sqlite"
    app = _make_app(f"sqlite:///{path}", str(folder))
    with app.app_context():
        init_db()
    _dispose(app)
    return path


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this run, migrated once, dropped at the end."""
    import psycopg

    name = f"kiosk_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    uri = f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    app = _make_app(uri, "/tmp")
    with app.app_context():
        init_db()
    _dispose(app)
    yield uri
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_uri(request, tmp_path):
    """The URI of an empty, migrated database for one test."""
    if request.param == "sqlite":
        path = tmp_path / "kiosk.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    uri = request.getfixturevalue("pg_database")
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        tables = [t.name for t in db.metadata.sorted_tables]
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return uri


@pytest.fixture
def app(database_uri, tmp_path):
    app = _make_app(database_uri, str(tmp_path / "instance"))
    with app.app_context():
        ensure_reasons()
        summary.rebuild_if_stale(db.session, clock.zone(app.config["TIMEZONE"]))
        db.session.commit()
        yield app
        db.session.remove()
    _dispose(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def login(app):
    """``login(role, department=None)``: a test client signed in as a new user of that
    role (a department head of ``department``)."""
    from .helpers import make_user, sign_in

    counter = iter(range(1000))

    def login_as(role: str, department: str | None = None):
        client = app.test_client()
        user = make_user(f"{role}{next(counter)}", role, department)
        response = sign_in(client, user.username)
        assert response.status_code == 302, response.get_data(as_text=True)
        client.user = user
        return client
    return login_as


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright, one for the whole run: Playwright's sync
    API allows one running instance per process, so every browser test shares this
    fixture instead of starting its own."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM} (.ci/run installs it)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()
