"""Bringing a database to life: schema, reference data, the first admin."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import flask_migrate
import sqlalchemy as sa

from flask import current_app

from . import clock, phonekeys, summary
from .db import db
from .models import ReasonCode, User, Window
from .scale import STANDARD_REASONS
from .users import save_user


def init_db() -> None:
    """Create or upgrade the schema, add missing standard reason codes, seal phone
    numbers left plain from before, and rebuild the live summary if it is stale (a
    database that predates it, or a new TIMEZONE). Commits."""
    flask_migrate.upgrade()
    ensure_reasons()
    phonekeys.seal_plain_numbers(db.session)  # numbers stored before sealing existed
    summary.rebuild_if_stale(db.session, clock.zone(current_app.config["TIMEZONE"]))
    db.session.commit()


def ensure_reasons() -> None:
    """Add the standard reason codes that are missing; never touches existing ones."""
    have = set(db.session.scalars(sa.select(ReasonCode.code)))
    for order, (code, zh, en) in enumerate(STANDARD_REASONS):
        if code not in have:
            db.session.add(ReasonCode(code=code, zh=zh, en=en, sort_order=order * 10))
    db.session.flush()


@dataclass
class FirstRun:
    admin_password: str | None  # set when this run created the admin user
    empty: bool  # the database had no windows


def first_run() -> FirstRun:
    """On an empty database, create ``admin`` with a random password. Flushes."""
    password = None
    if not db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        password = secrets.token_urlsafe(12)
        save_user("admin", "admin", password)
    empty = not db.session.scalar(sa.select(sa.func.count()).select_from(Window))
    return FirstRun(password, empty)
