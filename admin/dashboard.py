"""The dashboard: this week at a glance (a department head sees their department)."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, render_template, url_for
from flask_login import current_user

from kiosk import clock, glance, inbox
from kiosk.db import db, utcnow

from . import ALL_ROLES, allowed_roles, bp, nav_item, roles

# Charts drawn by admin/charts.py, shown here when those routes exist.
CHARTS = (("admin.chart_trend", "近12周满意度"), ("admin.chart_heatmap", "本周评价时段分布"))


@bp.app_template_filter("hall_time")
def hall_time(moment: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """A stored naive-UTC timestamp as hall time (an aware one as it is)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = clock.to_local(moment, clock.zone(current_app.config["TIMEZONE"]))
    return moment.strftime(fmt)


@bp.get("/")
@roles(*ALL_ROLES)
def dashboard():
    tz = clock.zone(current_app.config["TIMEZONE"])
    scope = glance.scope_for(current_user.role, current_user.department_id)
    week = glance.week_glance(db.session, utcnow(), tz, scope)
    show_inbox = current_user.role in allowed_roles("admin.suggestions")
    charts = [(url_for(endpoint, week=week.label), title) for endpoint, title in CHARTS
              if endpoint in current_app.view_functions
              and current_user.role in allowed_roles(endpoint)
              and scope.department_id != glance.NOTHING]
    return render_template(
        "admin/dashboard.html", week=week, charts=charts, show_inbox=show_inbox,
        suggestions=inbox.newest(scope) if show_inbox else [],
        open_suggestions=inbox.open_count(scope) if show_inbox else 0,
        department=current_user.department if current_user.role == "department" else None)


nav_item("admin.dashboard", "概览", 10)
