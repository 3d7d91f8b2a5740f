"""Suggestions (意见建议): free text, optional window and contact, no rating needed."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from . import fields, phonekeys
from .db import db
from .fields import InputError
from .models import Suggestion, Window
from .scale import CHANNELS

TEXT_MAX = 1000


def add_suggestion(body: Any, now: datetime,
                   bounds: fields.TapBounds) -> tuple[Suggestion, bool]:
    """Validate and store a suggestion; returns it and whether it is new.

    A repeated ``client_id`` returns the suggestion stored the first time.
    Commits, since the idempotency check needs the unique constraint's verdict.
    """
    payload = fields.as_object(body)
    text = fields.text(payload, "text", TEXT_MAX, required=True)
    cid = fields.client_id(payload, required=False)
    phone = fields.phone(payload)
    if phone is not None:
        phone = phonekeys.keyring().seal(phone)  # sealed at rest, like a rating's
    created_at = fields.tap_time(payload, now, bounds)
    channel = fields.choice(payload, "channel", CHANNELS, required=False)
    window_id = None
    code = payload.get("window")
    if code not in (None, ""):
        if not isinstance(code, str):
            raise InputError("window must be a window code (a string)")
        window_id = db.session.scalar(sa.select(Window.id).where(Window.code == code))
        if window_id is None:
            raise InputError(f"unknown window {code!r}", status=404)
    if cid is not None:
        old = db.session.scalar(sa.select(Suggestion).where(Suggestion.client_id == cid))
        if old is not None:
            return old, False
    suggestion = Suggestion(client_id=cid, window_id=window_id, text=text, phone=phone,
                            channel=channel, created_at=created_at, received_at=now)
    db.session.add(suggestion)
    try:
        db.session.commit()
    except IntegrityError:
        # Another server stored the same client_id a moment ago.
        db.session.rollback()
        old = db.session.scalar(sa.select(Suggestion).where(Suggestion.client_id == cid))
        if old is None:
            raise
        return old, False
    return suggestion, True
