"""The dashboard: this week at a glance (a department head sees their department)."""
from __future__ import annotations

from flask import current_app, render_template, url_for
from flask_login import current_user

from kiosk import glance, inbox
from kiosk.db import db, utcnow

from . import ALL_ROLES, allowed_roles, bp, nav_item, roles
from .scope import NO_DEPARTMENT, glance_scope, hall_tz

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
        department=current_user.department if current_user.role == "department" else None)


nav_item("admin.dashboard", "概览", 10)
