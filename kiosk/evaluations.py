"""Service events (一次一评): the queue system or the clerk asks the citizen just served
to rate, the kiosk shows the invitation, and the rating tapped under it is bound to
the event, one rating per event.

An event is opened for a window by a queue system (``POST /api/windows/<code>/
evaluations`` with an API token of scope ``evaluations``) or by the clerk's 请评价
button (a paired device of kind ``clerk``). Opening one closes the window's earlier
open event: a window serves one citizen at a time, so an invitation nobody answered
must not wait for the next citizen's tap. An event also closes by itself after
``EVALUATION_OPEN_MINUTES``.

A tap is bound by the moment the citizen tapped, not the moment the rating reached
the server: a tablet that was offline sends its queue later, and a rating tapped
while the invitation was on screen still belongs to it. Tablets keep their clock in
step with the server's (rate.js), so a few seconds of slack either side of the open
interval is enough.

The tablet learns of an event by short polling (``prompt``), not server-sent events:
waitress serves with a few threads, and a stream per tablet would hold one each for
good. A poll is one indexed query, answered 304 while nothing changed.

Functions that change data flush, never commit; the view or the CLI commits.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import fields
from .fields import InputError
from .models import Evaluation, Rating, ServiceItem, Window
from .ratings import DriverSQL

SCOPE = "evaluations"  # the API token scope that may open events (models.TOKEN_SCOPES)
# How far a tap may lie outside an event's open interval and still be bound to it:
# a tablet's clock, kept in step with the server's, is off by its round trip at most;
# a tap just after a newer event opened was made under the prompt still on screen.
CLOCK_SLACK = timedelta(seconds=5)
TICKET_MAX = Evaluation.__table__.c.ticket.type.length
CASE_NO_MAX = Evaluation.__table__.c.case_no.type.length
SERVICE_ITEM_MAX = Evaluation.__table__.c.service_item.type.length
STAFF_NO_MAX = Evaluation.__table__.c.staff_no.type.length
STATES = {"open": ("等待评价", "Waiting for the rating"), "rated": ("已评价", "Rated"),
          "expired": ("已过期，未评价", "Expired without a rating"),
          "closed": ("已被下一位取代，未评价", "Replaced by the next one, not rated")}


@dataclass(frozen=True)
class EventFields:
    """What the caller says about the service: the ticket (叫号票号) and optionally the
    case number (办件编号), the service item (a code or a name) and the clerk's number."""

    ticket: str
    case_no: str | None = None
    service_item: str | None = None
    staff_no: str | None = None


def event_fields(body: Any, ticket_required: bool = True) -> EventFields:
    """The fields of a JSON body opening an event; InputError 400 if invalid."""
    payload = fields.as_object(body)
    ticket = fields.text(payload, "ticket", TICKET_MAX, required=ticket_required)
    return EventFields(
        ticket=(ticket or "").strip(),
        case_no=_stripped(fields.text(payload, "case_no", CASE_NO_MAX)),
        service_item=_stripped(fields.text(payload, "service_item", SERVICE_ITEM_MAX)),
        staff_no=_stripped(fields.text(payload, "staff_no", STAFF_NO_MAX)))


def _stripped(value: str | None) -> str | None:
    return (value or "").strip() or None


def open_event(session: Session, window: Window, what: EventFields, now: datetime,
               open_minutes: float, *, token_id: int | None = None,
               device_id: int | None = None) -> Evaluation:
    """Open a service event at ``window`` at ``now`` (naive UTC), closing the window's
    earlier open ones that have no rating (``closed_at``: replaced). Flushes."""
    # One opener at a time per window (a row lock on PostgreSQL; SQLite has one
    # writer anyway), so two events opened at once cannot both stay open.
    session.execute(sa.select(Window.id).where(Window.id == window.id).with_for_update())
    rated = sa.select(Rating.id).where(Rating.evaluation_id == Evaluation.id).exists()
    session.execute(
        sa.update(Evaluation)
        .where(Evaluation.window_id == window.id, Evaluation.closed_at.is_(None),
               Evaluation.expires_at > now, ~rated)
        .values(closed_at=now))
    event = Evaluation(
        window_id=window.id, ticket=what.ticket, case_no=what.case_no,
        service_item=what.service_item, service_item_id=_service_item_id(session, window, what),
        staff_no=what.staff_no, opened_at=now,
        expires_at=now + timedelta(minutes=open_minutes),
        token_id=token_id, device_id=device_id)
    session.add(event)
    session.flush()
    return event


def _service_item_id(session: Session, window: Window, what: EventFields) -> int | None:
    """The catalogue's service item the caller named, by its code, or else by its name
    among the window's department's items; None when it names none (the text is kept)."""
    if what.service_item is None:
        return None
    by_code = session.scalar(sa.select(ServiceItem.id).where(
        ServiceItem.code == what.service_item))
    if by_code is not None:
        return by_code
    return session.scalars(sa.select(ServiceItem.id).where(
        ServiceItem.name == what.service_item,
        sa.or_(ServiceItem.department_id == window.department_id,
               ServiceItem.department_id.is_(None))).order_by(ServiceItem.id)).first()


def service_items(session: Session, window: Window) -> list[ServiceItem]:
    """The active service items the clerk at ``window`` may choose from: their
    department's, and those of no department."""
    return list(session.scalars(
        sa.select(ServiceItem)
        .where(ServiceItem.active,
               sa.or_(ServiceItem.department_id == window.department_id,
                      ServiceItem.department_id.is_(None)))
        .order_by(ServiceItem.name, ServiceItem.code)))


def item_name(session: Session, event: Evaluation) -> str | None:
    """The service item as the citizen should read it: the catalogue's name when the
    event is linked to it, else the caller's text."""
    if event.service_item_id is not None:
        name = session.scalar(sa.select(ServiceItem.name).where(
            ServiceItem.id == event.service_item_id))
        if name:
            return name
    return event.service_item


def as_json(session: Session, event: Evaluation, window_code: str) -> dict:
    """An event as the API answers it (times are UTC, ISO 8601 with Z)."""
    return {"id": event.id, "window": window_code, "ticket": event.ticket,
            "case_no": event.case_no, "service_item": event.service_item,
            "service_item_name": item_name(session, event),
            "staff_no": event.staff_no, "opened_at": _iso(event.opened_at),
            "expires_at": _iso(event.expires_at)}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def state(event: Evaluation, rated: bool, now: datetime) -> str:
    """Where an event stands: "rated", "open", "expired" or "closed" (a newer one
    replaced it before anyone rated)."""
    if rated:
        return "rated"
    if event.closed_at is not None:
        return "closed"
    return "open" if now < event.expires_at else "expired"


def last_event(session: Session, window_id: int) -> tuple[Evaluation, bool] | None:
    """The window's latest event and whether it has its rating (the clerk's page)."""
    event = session.scalar(sa.select(Evaluation).where(Evaluation.window_id == window_id)
                           .order_by(Evaluation.opened_at.desc(), Evaluation.id.desc())
                           .limit(1))
    if event is None:
        return None
    rated = session.scalar(sa.select(Rating.id).where(Rating.evaluation_id == event.id))
    return event, rated is not None


# -- the kiosk's prompt -------------------------------------------------------------------

# The newest event of a window open at :now and not yet rated: on the indexes
# ix_evaluation_window_opened and uq_rating_evaluation_id.
PROMPT_SQL = """SELECT e.id, e.ticket, e.service_item, i.name, e.staff_no, e.expires_at
FROM evaluation e LEFT JOIN service_item i ON i.id = e.service_item_id
WHERE e.window_id = :w AND e.closed_at IS NULL AND e.expires_at > :now
  AND e.opened_at <= :soon
  AND NOT EXISTS (SELECT 1 FROM rating r WHERE r.evaluation_id = e.id)
ORDER BY e.opened_at DESC, e.id DESC LIMIT 1"""


class Prompts:
    """What each window's kiosk should show now (GET /api/windows/<code>/prompt).

    Every tablet asks twice a second, so this is the second hottest path after
    the ratings: one statement through the driver, as the rating writer does (built
    and run through SQLAlchemy's Core it took 3.5 ms on SQLite, through the driver
    0.1 ms), and an ETag so an unchanged answer is a 304."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.driver = DriverSQL(engine.dialect.name)
        self.sql = self.driver.style(PROMPT_SQL)

    def __call__(self, window_id: int, now: datetime) -> tuple[str, str]:
        """The JSON body and its ETag: ``{"prompt": {"id", "ticket", "service_item",
        "staff_no", "expires_at"}}`` for the window's open unrated event, or
        ``{"prompt": null}``."""
        ts = self.driver.timestamp
        conn = self.engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(self.sql, {"w": window_id, "now": ts(now),
                                   "soon": ts(now + CLOCK_SLACK)})
            row = cur.fetchone()
            cur.close()
            conn.rollback()  # a read: end it, so no snapshot stays open in the pool
        finally:
            conn.close()
        shown = None
        if row is not None:
            event_id, ticket, item, catalogue_name, staff_no, expires_at = row
            if isinstance(expires_at, str):  # SQLite hands back the stored text
                expires_at = datetime.fromisoformat(expires_at)
            shown = {"id": event_id, "ticket": ticket or None,
                     "service_item": catalogue_name or item, "staff_no": staff_no,
                     "expires_at": _iso(expires_at)}
        body = json.dumps({"prompt": shown}, ensure_ascii=False, separators=(",", ":"))
        return body, hashlib.sha256(body.encode()).hexdigest()[:16]


# -- binding a rating to its event (the write path) ---------------------------------------

class EventCheck:
    """Binds a rating to the service event it names (ratings.EventCheck), in the
    request thread of POST /api/ratings, outside any Flask context."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def bind(self, value: Any, window_id: int, tapped_at: datetime) -> tuple[int, str | None]:
        """(event id, the number the rating carries: case number, else ticket) when
        ``value`` names an event at ``window_id`` open when the citizen tapped at
        ``tapped_at``; InputError otherwise. Messages about the event itself start
        with "evaluation", so a tablet knows to send the rating again without it."""
        if type(value) is not int or not 0 < value < 2**31:
            raise InputError("evaluation must be the id of a service event (an integer)")
        query = (sa.select(Evaluation.window_id, Evaluation.opened_at, Evaluation.expires_at,
                           Evaluation.closed_at, Evaluation.ticket, Evaluation.case_no)
                 .where(Evaluation.id == value))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise InputError(f"evaluation {value} does not exist", status=404)
        event_window, opened_at, expires_at, closed_at, ticket, case_no = row
        if event_window != window_id:
            raise InputError(f"evaluation {value} was opened for another window")
        # Whether the event has its rating is left to the writer (the unique index on
        # rating.evaluation_id): a tablet retrying the rating it sent must get 200,
        # and only the writer knows the rating by its client_id.
        if tapped_at < opened_at - CLOCK_SLACK:
            raise InputError(f"evaluation {value} was not open yet when the rating was tapped")
        end = expires_at if closed_at is None else min(expires_at, closed_at)
        if tapped_at > end + CLOCK_SLACK:
            why = "had expired" if end == expires_at else "had been replaced by a newer one"
            raise InputError(f"evaluation {value} {why} when the rating was tapped")
        return value, case_no or ticket or None
