"""What the signed-in user works in: the hall's time zone and how its times read, and
the one department a department head is held to. Every admin area asks here."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, current_app
from flask_login import current_user

from kiosk import clock, glance
from kiosk.db import db
from kiosk.models import Window

# No department (and no window) has id 0: a department head whose account names no
# department is held to it, and so sees nothing.
NO_DEPARTMENT = glance.NOTHING


def department_scope() -> int | None:
    """The department the user may see: None for roles that see every department, the
    department head's own department, or NO_DEPARTMENT (matches nothing) when a
    department head's account has none."""
    if current_user.role != "department":
        return None
    return current_user.department_id or NO_DEPARTMENT


def scoped_window(code: str) -> Window:
    """The window with ``code``: 404 if there is none, 403 if it belongs to another
    department than a department head's."""
    window = db.session.scalar(sa.select(Window).where(Window.code == code))
    if window is None:
        abort(404)
    scope = department_scope()
    if scope is not None and window.department_id != scope:
        abort(403)
    return window


def glance_scope() -> glance.Scope:
    """``department_scope`` as the Scope of kiosk/glance.py and kiosk/inbox.py."""
    return glance.Scope(department_id=department_scope())


def hall_tz() -> ZoneInfo:
    return clock.zone(current_app.config["TIMEZONE"])


def hall_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time as the hall reads it: the ``hall_time`` template filter."""
    return clock.format_local(moment, hall_tz(), fmt)
