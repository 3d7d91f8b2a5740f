"""The review page (评价核查): misuse and suspect ratings, and the supervisor's
decisions on them, one by one or a whole burst at once.

Thin views over kiosk/integrity.py, which decides what a decision may do and does it
(the tables and the live summary follow, every decision audited). A decision the page
no longer matches (another supervisor decided first) changes nothing and says so (409).
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kiosk import integrity, league
from kiosk.db import db, utcnow
from kiosk.fields import InputError
from kiosk.scale import CHANNELS, FLAGS, SCORES, is_bad

from . import bp, nav_item, roles
from .scope import hall_tz

REVIEW_ROLES = ("supervisor",)
PER_PAGE = 50


def _filter_or_error() -> tuple[integrity.ReviewFilter, str | None]:
    try:
        return integrity.parse_filter(request.args), None
    except InputError as exc:
        return integrity.ReviewFilter(), exc.message


@bp.get("/integrity")
@roles(*REVIEW_ROLES)
def integrity_review(error: str | None = None, status: int = 200):
    """The flagged ratings, pending suspects first; also re-rendered (with the status)
    when a decision was refused."""
    flt, bad_filter = _filter_or_error()
    page = integrity.find(db.session, flt, hall_tz(), request.args.get("page", 1, type=int),
                          PER_PAGE)
    burst = integrity.parse_burst(current_app.config.get("SUSPECT_BURST"))
    bursts = integrity.bursts(page.items, burst[1] if burst else 10)
    return render_template(
        "admin/integrity.html", page=page, flt=flt, error=error or bad_filter,
        filters=integrity.FILTERS, windows=league.window_choices(db.session),
        bursts=bursts, in_burst={i for b in bursts.values() for i in b.ids},
        decided=integrity.decisions_of(db.session, [r.id for r in page.items]),
        devices=integrity.devices_of(db.session, page.items),
        pending=(page.total if flt == integrity.ReviewFilter()
                 else integrity.pending_count(db.session)), state=integrity.state,
        allowed=integrity.ALLOWED, decisions=integrity.DECISIONS,
        states=integrity.STATE_LABELS, flag_labels=FLAGS, channels=CHANNELS,
        scores=SCORES, is_bad=is_bad, args=flt.args(),
        settings=current_app.config), 400 if bad_filter and status == 200 else status


@bp.post("/integrity/decide")
@roles(*REVIEW_ROLES)
def integrity_decide():
    """One decision on the ratings ticked (or on a whole burst): all or none."""
    decision = request.form.get("decision", "")
    raw = request.form.getlist("ids")
    try:
        if not all(v.isdigit() for v in raw):
            raise InputError("评价编号无效")
        done = integrity.decide(db.session, [int(v) for v in raw], decision, current_user,
                                hall_tz(), bool(current_app.config["REQUIRE_PROMPT"]))
    except InputError as exc:
        db.session.rollback()
        return integrity_review(error=exc.message, status=exc.status)
    db.session.commit()
    flash(f"已{integrity.DECISIONS[decision]}：{done.changed} 条评价"
          + (f"（其中 {done.recounted} 条的计入状态改变，排名与统计已更新）" if done.recounted else ""))
    return redirect(url_for("admin.integrity_review", **_back_args()))


def _back_args() -> dict[str, str]:
    """The list's filter and page the form was posted from (its action's query)."""
    return {k: v for k in ("flag", "window", "start", "end", "page")
            if (v := request.args.get(k, "").strip())}


PENDING_DAYS = 90  # the dashboard counts the suspects of this many recent days


def pending_glance() -> dict | None:
    """The dashboard's 待核查 N (the last PENDING_DAYS days), for the roles that may
    review (None for the others)."""
    from . import allowed_roles

    if current_user.role not in allowed_roles("admin.integrity_review"):
        return None
    since = utcnow() - timedelta(days=PENDING_DAYS)
    return {"n": integrity.pending_count(db.session, since), "days": PENDING_DAYS}


nav_item("admin.integrity_review", "评价核查", 37)
