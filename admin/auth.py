"""Signing in and out of the back office, one's own password, and the session cookie."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import (Flask, current_app, flash, has_request_context, redirect,
                   render_template, request, url_for)
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.middleware.proxy_fix import ProxyFix
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from kiosk import audit, clock
from kiosk.db import db
from kiosk.models import User
from kiosk.users import FieldError, authenticate, change_password

from . import ALL_ROLES, PUBLIC, bp, login_manager, roles

# How a refused sign-in is held back (kiosk.users decides how long); tests replace it.
pause = time.sleep


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


class HttpsAwareSessions(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request came over HTTPS (also
    through a trusted proxy's X-Forwarded-Proto), so one configuration serves a
    plain-HTTP hall LAN and an HTTPS deployment."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (
            has_request_context() and request.is_secure)


def init_sessions(app: Flask) -> None:
    app.session_interface = HttpsAwareSessions()
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies:
        # Only the scheme is taken from the proxy: the README's nginx sets
        # X-Forwarded-Proto itself, while other X-Forwarded-* could come from anyone.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=0, x_proto=proxies, x_host=0,
                                x_port=0, x_prefix=0)


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=200)])


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only, never another host."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//") and "\\" not in target:
            return target
    return url_for("admin.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@roles(PUBLIC)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        config = current_app.config
        result = authenticate(form.username.data, form.password.data,
                              tz=clock.zone(config["TIMEZONE"]),
                              max_failures=config["LOGIN_MAX_FAILURES"],
                              lock_minutes=config["LOGIN_LOCK_MINUTES"])
        db.session.commit()  # the failure count, the lock and the log are kept either way
        if result.user is not None:
            login_user(result.user)
            return redirect(safe_next(request.args.get("next")))
        error = result.error
        if result.delay:
            pause(result.delay)  # after the commit: no lock is held while waiting
    status = 200 if error is None else 401
    return render_template("admin/login.html", form=form, error=error), status


@bp.post("/logout")
@roles(*ALL_ROLES)
def logout():
    audit.record(current_user, "auth.logout", "user", current_user.id)
    db.session.commit()
    logout_user()
    flash("已退出登录")
    return redirect(url_for("admin.login"))


class PasswordForm(FlaskForm):
    old_password = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    password = PasswordField("新密码", validators=[DataRequired("请输入新密码")])
    confirm = PasswordField("再次输入新密码", validators=[DataRequired("请再次输入新密码")])


@bp.route("/account/password", methods=["GET", "POST"])
@roles(*ALL_ROLES)
def account_password():
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            change_password(current_user, form.old_password.data, form.password.data,
                            form.confirm.data)
        except FieldError as exc:
            db.session.rollback()
            for field, message in exc.errors.items():
                form[field].errors.append(message)
        else:
            db.session.commit()
            # This session carries on under the new session version; others end.
            login_user(current_user._get_current_object())
            flash("密码已修改。其他设备上的登录已失效，需要用新密码重新登录。")
            return redirect(url_for("admin.dashboard"))
    status = 400 if form.errors else 200
    return render_template("admin/account_password.html", form=form), status
