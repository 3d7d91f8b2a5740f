"""The dashboard: this week at a glance (a department head sees their department)."""
from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, render_template, url_for
from flask_login import current_user

from kiosk import calllist, casestats, clock, devices, followups, glance, inbox
from kiosk.db import db, utcnow
from kiosk.models import Department

from . import ALL_ROLES, allowed_roles, bp, nav_item, roles
from .integrity import pending_glance
from .scope import NO_DEPARTMENT, glance_scope, hall_tz

# The follow-up rates on the dashboard cover the last this-many hall days.
FOLLOWUP_DAYS = 30
FOLLOWUP_CASES = 8  # open cases listed, in call order (overdue first)
# Charts drawn by admin/charts.py, shown here when those routes exist.
CHARTS = (("admin.chart_trend", "近12周满意度"), ("admin.chart_heatmap", "本周评价时段分布"))


@bp.get("/")
@roles(*ALL_ROLES)
def dashboard():
    scope = glance_scope()
    week = glance.week_glance(db.session, utcnow(), hall_tz(), scope)
    show_inbox = current_user.role in allowed_roles("admin.suggestions")
    charts = [(url_for(endpoint, week=week.label), title) for endpoint, title in CHARTS
              if endpoint in current_app.view_functions
              and current_user.role in allowed_roles(endpoint)
              and scope.department_id != NO_DEPARTMENT]
    return render_template(
        "admin/dashboard.html", week=week, charts=charts, show_inbox=show_inbox,
        suggestions=inbox.newest(scope) if show_inbox else [],
        open_suggestions=inbox.open_count(scope) if show_inbox else 0,
        department=current_user.department if current_user.role == "department" else None,
        integrity_pending=pending_glance(), **followup_glance(scope, week.today),
        **tablet_glance(scope))


def tablet_glance(scope: glance.Scope) -> dict:
    """Kiosk tablets silent in opening hours (kiosk/devices.py), for those who look
    after the windows' tablets."""
    if current_user.role not in allowed_roles("admin.window_devices"):
        return {"silent_tablets": []}
    return {"silent_tablets": devices.silent_tablets(
        db.session, utcnow(), current_app._get_current_object(),
        department_id=scope.department_id),
        "silent_minutes": current_app.config["KIOSK_SILENT_MINUTES"]}


def followup_glance(scope: glance.Scope, today: date) -> dict:
    """The follow-ups at a glance: open and overdue cases now, the call-back and
    on-time rates of the last FOLLOWUP_DAYS days, and the first open cases in call
    order (a department head's own cases, shown first on their dashboard)."""
    if current_user.role not in allowed_roles("admin.followups_list"):
        return {"followups": None}
    tz = hall_tz()
    start, _ = clock.day_range_utc(today - timedelta(days=FOLLOWUP_DAYS - 1), today, tz)
    recent = casestats.report(db.session, start, None, today, tz,
                              department_id=scope.department_id)
    page = calllist.find(current_user, calllist.CallFilter(), today, per_page=FOLLOWUP_CASES)
    return {"followups": {
        "now": casestats.open_now(db.session, today, department_id=scope.department_id),
        "recent": recent.overall, "days": FOLLOWUP_DAYS, "cases": page.items,
        "total": page.total, "today": today,
        "departments": _by_department(recent) if scope.department_id is None else [],
        "first": current_user.role == "department"},
        "followup_overdue": followups.is_overdue, "followup_next_due": calllist.next_due,
        "followup_kinds": followups.KIND_LABELS,
        "followup_statuses": followups.STATUS_LABELS}


def _by_department(recent: casestats.Report) -> list[tuple[str, casestats.CaseStats]]:
    """Each department's figures, those with overdue cases first (management's view)."""
    names = dict(db.session.execute(db.select(Department.id, Department.name)).all())
    rows = [(names.get(dept_id, "（未分部门）"), stats)
            for dept_id, stats in recent.by_department.items()]
    return sorted(rows, key=lambda r: (-r[1].overdue, -r[1].cases, r[0]))


nav_item("admin.dashboard", "概览", 10)
