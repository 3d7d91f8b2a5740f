"""Alerts to the work chat (工作群提醒): what was sent, what is waiting, what failed and
why, and a button to send a failed one again. Admins only: messages name windows and
quote citizens' comments (phone numbers masked)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kiosk import alerts
from kiosk.db import db
from kiosk.models import Alert

from . import SETTINGS_MENU, bp, nav_item


@bp.get("/alerts")
def alerts_page():
    status = request.args.get("status", "").strip()
    kind = request.args.get("kind", "").strip()
    if status and status not in alerts.STATUS_LABELS:
        status = ""
    if kind and kind not in alerts.KIND_LABELS:
        kind = ""
    try:
        cfg, problem = alerts.settings(current_app), None
    except ValueError as exc:
        cfg, problem = None, str(exc)
    return render_template(
        "admin/alerts.html", rows=alerts.recent(status or None, kind or None),
        counts=alerts.counts(), status=status, kind=kind, cfg=cfg, problem=problem,
        shown_url=alerts.shown_url, statuses=alerts.STATUS_LABELS,
        kinds=alerts.KIND_LABELS, limit=200)


@bp.post("/alerts/<int:alert_id>/retry")
def alert_retry(alert_id: int):
    alert = db.get_or_404(Alert, alert_id)
    if alert.status != "failed":
        abort(409)
    alerts.retry(alert, current_user)
    db.session.commit()
    flash(f"提醒 #{alert.id} 已重新排队，将在几秒内发送。")
    return redirect(url_for("admin.alerts_page", status=request.args.get("status") or None))


nav_item("admin.alerts_page", "工作群提醒", 67, SETTINGS_MENU)
