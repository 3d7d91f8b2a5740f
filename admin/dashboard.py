"""The dashboard: this week at a glance."""
from __future__ import annotations

from flask import render_template

from . import ALL_ROLES, bp, nav_item, roles


@bp.get("/")
@roles(*ALL_ROLES)
def dashboard():
    return render_template("admin/dashboard.html")


nav_item("admin.dashboard", "概览", 10)
