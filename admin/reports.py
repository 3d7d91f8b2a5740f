"""The monthly bulletin (月度通报) in the back office: pick a month, download the PDF
(kiosk/reports.py makes it, as ``kiosk report`` does).

For management and admins: the bulletin covers the whole hall (every window and
clerk), so a department head, who sees only their own department's league, does not
get it.
"""
from __future__ import annotations

from flask import Response, current_app, jsonify, render_template, request

from kiosk import league as leagues
from kiosk import reports
from kiosk.db import db

from . import bp, nav_item, roles
from .league import chinese_part
from .scope import hall_tz

VIEWERS = ("supervisor",)
RECENT = 12  # months offered as links


def _request_month() -> leagues.Period:
    text = request.args.get("month", "").strip()
    return reports.month_of(text) if text else reports.default_month(hall_tz())


def _request_hall() -> int | None:
    text = request.args.get("hall", "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"hall 应为编号数字，收到 {text!r} (hall must be an id)")
    return int(text)


@bp.get("/reports")
@roles(*VIEWERS)
def reports_page():
    latest = reports.default_month(hall_tz())
    error = None
    try:
        month, hall_id = _request_month(), _request_hall()
    except ValueError as exc:
        error, month, hall_id = chinese_part(str(exc)), latest, None
    return render_template("admin/reports.html", month=month, hall_id=hall_id, error=error,
                           recent=[latest.shifted(-i) for i in range(RECENT)],
                           halls=leagues.hall_choices(db.session)), 400 if error else 200


@bp.get("/reports/bulletin.pdf")
@roles(*VIEWERS)
def bulletin_pdf():
    try:
        month, hall_id = _request_month(), _request_hall()
        pdf = reports.make_report(db.session, month, hall_tz(), hall_id=hall_id,
                                  prior=current_app.config["LEAGUE_PRIOR"])
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{reports.file_name(month)}"'})


nav_item("admin.reports_page", "月度通报", 35)
