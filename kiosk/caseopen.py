"""Which ratings open a follow-up case (差评回访), and opening them.

A bad rating (score ≤ 2) opens a ``callback`` case when the citizen left a number and a
``verify`` case (the department checks on site) when not. A better rating that left a
number is sampled into a ``sample`` case (抽查回访) at ``FOLLOWUP_SAMPLE_RATE``. The
sample is a hash of the rating's client id: the same rating is always in or always
out, on every server and after an export and re-import.

The rating writer opens cases in the transaction that stores the ratings
(``CaseOpener.rows`` + ``insert_sql``); imports and the demo open them afterwards with
``open_cases``. Both go through ``case_kind`` and the hall's ``Deadlines``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Protocol

import sqlalchemy as sa
from flask import current_app

from .db import utcnow
from .models import FollowupCase, Rating
from .scale import is_bad

CASE_COLUMNS = ("rating_id", "window_id", "rated_at", "kind", "status", "contact_due",
                "resolve_due", "opened_at", "version")
_SPAN = 1 << 64


class DueDates(Protocol):
    def due(self, rated_at: datetime) -> tuple: ...


def sampled(key: str, rate: float) -> bool:
    """Whether the rating keyed ``key`` falls in a sample of ``rate`` (0–1)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < rate * _SPAN


def case_kind(score: int, has_phone: bool, client_id: str | None, rating_id: int,
              sample_rate: float) -> str | None:
    """The kind of case a rating opens: ``callback``, ``verify``, ``sample`` or None."""
    if is_bad(score):
        return "callback" if has_phone else "verify"
    if has_phone and sampled(client_id or f"rating:{rating_id}", sample_rate):
        return "sample"
    return None


class CaseOpener:
    """The case rows that newly stored ratings call for, with their deadlines."""

    def __init__(self, deadlines: DueDates, sample_rate: float) -> None:
        self.deadlines = deadlines
        self.sample_rate = sample_rate

    def plan(self, score: int, has_phone: bool, client_id: str | None, rating_id: int | None,
             rated_at: datetime) -> tuple[str, date, date] | None:
        """(kind, contact_due, resolve_due) of the case a rating calls for, or None. A
        rating with a client id needs no id of its own yet (the writer on PostgreSQL
        plans cases before the insert hands out ids)."""
        kind = case_kind(score, has_phone, client_id, rating_id or 0, self.sample_rate)
        if kind is None:
            return None
        return (kind, *self.deadlines.due(rated_at))

    def row(self, rating_id: int, client_id: str | None, window_id: int, score: int,
            has_phone: bool, rated_at: datetime, opened_at: datetime) -> dict | None:
        """The followup_case row (CASE_COLUMNS) for one stored rating, or None."""
        planned = self.plan(score, has_phone, client_id, rating_id, rated_at)
        if planned is None:
            return None
        kind, contact_due, resolve_due = planned
        return {"rating_id": rating_id, "window_id": window_id, "rated_at": rated_at,
                "kind": kind, "status": "open", "contact_due": contact_due,
                "resolve_due": resolve_due, "opened_at": opened_at, "version": 1}


def insert_sql(n: int) -> str:
    """A multi-row INSERT of ``n`` case rows; parameters ``<column><i>``."""
    rows = ", ".join("(" + ", ".join(f":{c}{i}" for c in CASE_COLUMNS) + ")"
                     for i in range(n))
    return f"INSERT INTO followup_case ({', '.join(CASE_COLUMNS)}) VALUES {rows}"


def opener(app=None) -> CaseOpener:
    """The app's case opener: its hall's deadlines and sample rate."""
    from . import workdays  # the calendar module reads the database lazily
    app = app or current_app._get_current_object()
    return CaseOpener(workdays.deadlines(app), float(app.config["FOLLOWUP_SAMPLE_RATE"]))


CHUNK = 500


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    chunk: list[int] = []
    for rid in ids:
        chunk.append(rid)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def open_cases(session, rating_ids: Iterable[int], case_opener: CaseOpener | None = None
               ) -> int:
    """Open the case each of ``rating_ids`` calls for, unless it has one already or
    does not count (misuse, an excluded rating: the writer opens none for those either).
    Returns how many were opened. Flushes; the caller commits."""
    case_opener = case_opener or opener()
    now = utcnow()
    opened = 0
    for chunk in _chunks(rating_ids):
        found = session.execute(
            sa.select(Rating.id, Rating.client_id, Rating.window_id, Rating.score,
                      Rating.phone.is_not(None), Rating.created_at)
            .outerjoin(FollowupCase, FollowupCase.rating_id == Rating.id)
            .where(Rating.id.in_(chunk), Rating.counted, FollowupCase.id.is_(None))).all()
        rows = [row for r in found
                if (row := case_opener.row(r[0], r[1], r[2], r[3], bool(r[4]), r[5], now))]
        if rows:
            session.execute(sa.insert(FollowupCase), rows)
            opened += len(rows)
    session.flush()
    return opened
