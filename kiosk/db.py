"""The database handle and per-connection settings."""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic can alter tables on SQLite (batch mode) too.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


def utcnow() -> datetime:
    """Now, as the naive UTC timestamp every table stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the board and admin read while the rating writer commits; FULL makes a
    # commit durable before we answer 201; the busy timeout lets several waitress
    # processes share one file without "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def engine_options(uri: str) -> dict:
    """Engine options that suit the database behind ``uri``."""
    if uri.startswith("sqlite"):
        # isolation_level IMMEDIATE: the driver opens a write transaction with
        # BEGIN IMMEDIATE on the first write, so concurrent writers queue on the busy
        # timeout instead of failing on a stale read snapshot.
        return {"connect_args": {"isolation_level": "IMMEDIATE", "timeout": 15,
                                 "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}


def init_app(app: Flask, migrations_dir: str) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    opts = engine_options(uri)
    opts.update(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = opts
    db.init_app(app)
    if uri.startswith("sqlite"):
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)
    migrate.init_app(app, db, directory=migrations_dir, render_as_batch=True,
                     compare_type=True)
