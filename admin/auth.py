"""Signing in and out of the back office."""
from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from kiosk.db import db
from kiosk.models import User
from kiosk.users import authenticate

from . import ALL_ROLES, PUBLIC, bp, login_manager, roles


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=200)])


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only, never another host."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//"):
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
        user, error = authenticate(form.username.data, form.password.data)
        db.session.commit()  # the failed-attempt count and lock are kept either way
        if user is not None:
            login_user(user)
            return redirect(safe_next(request.args.get("next")))
    status = 200 if error is None else 401
    return render_template("admin/login.html", form=form, error=error), status


@bp.post("/logout")
@roles(*ALL_ROLES)
def logout():
    logout_user()
    flash("已退出登录")
    return redirect(url_for("admin.login"))
