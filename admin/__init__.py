"""The back office (/admin): one blueprint, one guard, views per area.

Every view says which roles may open it with ``@roles(...)``; a view that says
nothing is for admins only. The guard runs before every admin request: without a
session a browser is sent to the login page and a JSON or CSV caller gets 401; a
role the view does not name gets 403.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import (Blueprint, Flask, abort, current_app, g, jsonify, redirect, request,
                   url_for)
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from kiosk import clock, summary
from kiosk.db import db
from kiosk.models import ROLES
from kiosk.users import ROLE_LABELS

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
login_manager = LoginManager()
csrf = CSRFProtect()

ALL_ROLES = ROLES
PUBLIC = "_public"  # views open without a session (the login page)


def roles(*allowed: str) -> Callable:
    """Let these roles (besides ``admin``, who may open everything) open the view."""
    unknown = set(allowed) - set(ROLES) - {PUBLIC}
    if unknown:
        raise ValueError(f"unknown role(s): {unknown}")

    def mark(view: Callable) -> Callable:
        view.allowed_roles = frozenset(allowed) | {"admin"}
        return view
    return mark


def allowed_roles(endpoint: str | None) -> frozenset[str]:
    """The roles that may open ``endpoint``; admins only unless the view says more."""
    from flask import current_app

    view = current_app.view_functions.get(endpoint or "")
    return getattr(view, "allowed_roles", frozenset({"admin"}))


def wants_data() -> bool:
    """A JSON or CSV caller (gets 401/403 as a status, not a page)."""
    path = request.path
    return (path.endswith((".json", ".csv", ".png", ".svg", ".pdf"))
            or request.accept_mimetypes.best == "application/json")


@bp.before_request
def guard():
    allowed = allowed_roles(request.endpoint)
    if PUBLIC in allowed:
        return None
    if not current_user.is_authenticated:
        if wants_data():
            return jsonify(error="请先登录 (sign in first)"), 401
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    if current_user.role not in allowed:
        abort(403)
    return None


@bp.context_processor
def summary_notice() -> dict:
    """Whether the tables may be missing ratings (the summary is stale)."""
    if not current_user.is_authenticated:
        return {}
    tz = clock.zone(current_app.config["TIMEZONE"])
    return {"summary_stale": not summary.is_current(db.session, tz)}


@bp.after_app_request
def private_caching(response):
    # Every response under /admin/, error pages for unknown /admin/ paths included:
    # personal data must not stay in a shared browser's cache. (The security headers
    # of every page, these included, are set in one place: kiosk/security.py.)
    if not (request.path + "/").startswith(bp.url_prefix + "/"):
        return response
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    order: int
    menu: str | None = None  # the drop-down it sits in (None: on the bar itself)


NAV: list[NavItem] = []
SETTINGS_MENU = "系统设置"  # pages an admin opens now and then, off the crowded bar


def nav_item(endpoint: str, label: str, order: int, menu: str | None = None) -> None:
    """Add a page to the top navigation (shown to the roles its view allows), on the
    bar or in the drop-down ``menu``."""
    NAV.append(NavItem(endpoint, label, order, menu))
    NAV.sort(key=lambda item: item.order)


def visible_nav() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    return [item for item in NAV if current_user.role in allowed_roles(item.endpoint)]


def _forget_previous_request() -> None:
    # Flask-Login caches the user and Flask-WTF the CSRF token on g, which lives as
    # long as the app context: a request made inside a longer one (the tests' app
    # fixture, scripts) must read its own cookie, never inherit the last request's.
    for name in ("_login_user", "csrf_token", "csrf_valid"):
        g.pop(name, None)


def init_app(app: Flask) -> None:
    """Register the back office on the kiosk app (called by create_app)."""
    from . import errors, scope, views  # noqa: F401  (registers every area's routes on bp)
    from .auth import init_sessions

    # Flask's own defaults exist (SameSite None), so setdefault would not take.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    init_sessions(app)  # Secure cookies over HTTPS, behind a proxy too
    errors.init_app(app)  # /admin/ error pages that fit the CSP; CSRF failures
    app.before_request(_forget_previous_request)  # before the CSRF check
    csrf.init_app(app)
    # The public JSON API is called by tablets and other systems, not by a signed-in
    # browser: it carries no session to forge.
    csrf.exempt(app.blueprints["kiosk"])
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"
    login_manager.session_protection = "basic"
    app.register_blueprint(bp)
    app.jinja_env.globals.update(admin_nav=visible_nav, role_label=ROLE_LABELS.get)
    app.add_template_filter(scope.hall_time)  # {{ moment|hall_time }}: admin/scope.py
