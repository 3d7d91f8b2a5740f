"""Service events (一次一评) over HTTP: the queue system's API, the kiosk's prompt poll
and the clerk's 请评价 page. Routes of the public blueprint (kiosk/views.py); the
rules are in kiosk/evaluations.py.

The clerk's page opens events with a JSON POST that must carry the header
``X-Kiosk-Clerk: 1``, not with a form and a CSRF token: the public blueprint has no
session to hold a token, and it needs none. The device cookie is SameSite=Lax, so a
browser leaves it off a cross-site POST; and a cross-site page cannot send a JSON
body or a custom header without a CORS preflight, which this site never grants.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, g, jsonify, render_template, request, url_for

from . import evaluations
from .db import db, utcnow
from .fields import InputError
from .models import Window
from .ratings import DEVICE_COOKIE
from .readapi import token_required
from .views import bp, json_body
from .windows import window_card

CLERK_HEADER = "X-Kiosk-Clerk"


def window_or_404(code: str) -> Window:
    window = db.session.scalar(sa.select(Window).where(Window.code == code))
    if window is None:
        raise InputError(f"unknown window {code!r}", status=404)
    return window


def device_id(window_id: int, kind: str) -> int:
    """The caller's device of ``kind`` paired with the window; InputError 403 if none
    (the rule and its cache are kiosk/devices.py's)."""
    devices = current_app.extensions["kiosk.intake"].devices
    return devices.paired(request.cookies.get(DEVICE_COOKIE), window_id, kind)


def open_minutes() -> float:
    return float(current_app.config["EVALUATION_OPEN_MINUTES"])


@bp.post("/api/windows/<code>/evaluations")
@token_required(evaluations.SCOPE)
def open_evaluation(code: str):
    """A queue or case system opens a service event: the window's kiosk invites the
    citizen just served to rate."""
    window = window_or_404(code)
    what = evaluations.event_fields(json_body())
    event = evaluations.open_event(db.session, window, what, utcnow(), open_minutes(),
                                   token_id=g.api_token.id)
    body = evaluations.as_json(db.session, event, window.code)
    db.session.commit()
    return jsonify(body), 201


@bp.get("/api/windows/<code>/prompt")
def window_prompt(code: str):
    """The invitation the window's kiosk should show now. Polled twice a second
    by each tablet: the window and the device come from memory, the event from one
    query, and an unchanged answer is a 304."""
    window_id = current_app.extensions["kiosk.intake"].window_id(code)
    device_id(window_id, "kiosk")
    body, etag = current_app.extensions["kiosk.prompts"](window_id, utcnow())
    resp = current_app.response_class(body, mimetype="application/json")
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = "no-cache"
    return resp.make_conditional(request)


@bp.get("/k/<code>/clerk")
def clerk_page(code: str):
    """The clerk's 请评价 page for their window (a paired device of kind clerk)."""
    window = window_or_404(code)
    card = window_card(code, utcnow())
    try:
        device_id(window.id, "clerk")
    except InputError:
        return render_template("kiosk/clerk.html", window=window, card=card,
                               paired=False), 403
    config = {"urls": {"open": url_for("kiosk.clerk_open", code=code),
                       "last": url_for("kiosk.clerk_last", code=code)},
              "header": CLERK_HEADER, "states": evaluations.STATES,
              "last": last_json(window.id)}
    resp = current_app.make_response(render_template(
        "kiosk/clerk.html", window=window, card=card, paired=True, config=config,
        items=evaluations.service_items(db.session, window)))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/k/<code>/clerk/evaluations")
def clerk_open(code: str):
    """The 请评价 button: opens an event as the API does, by the clerk's device."""
    if request.headers.get(CLERK_HEADER) != "1":
        raise InputError(f"the {CLERK_HEADER} header is required", status=403)
    window = window_or_404(code)
    device = device_id(window.id, "clerk")
    what = evaluations.event_fields(json_body(), ticket_required=False)
    card = window_card(code, utcnow())
    if what.staff_no is None and card is not None and card.staff_no:
        what = evaluations.EventFields(what.ticket, what.case_no, what.service_item,
                                       card.staff_no)  # the clerk on duty
    evaluations.open_event(db.session, window, what, utcnow(), open_minutes(),
                           device_id=device)
    db.session.commit()
    return jsonify(last=last_json(window.id)), 201


@bp.get("/k/<code>/clerk/last")
def clerk_last(code: str):
    """The window's latest event and where it stands, for the clerk's page to show
    "已评价" once the citizen has tapped."""
    window = window_or_404(code)
    device_id(window.id, "clerk")
    resp = jsonify(last=last_json(window.id))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def last_json(window_id: int) -> dict | None:
    found = evaluations.last_event(db.session, window_id)
    if found is None:
        return None
    event, rated = found
    return {"id": event.id, "ticket": event.ticket or None,
            "service_item": evaluations.item_name(db.session, event),
            "state": evaluations.state(event, rated, utcnow())}
