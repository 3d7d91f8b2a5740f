"""User management (admins only): find, create and edit accounts, reset a password,
lift a sign-in lock. Every change goes to the audit log (kiosk.users does that)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from kiosk import audit
from kiosk import users as accounts
from kiosk.db import db, utcnow
from kiosk.models import ROLES, User

from . import SETTINGS_MENU, bp, nav_item

PER_PAGE = 50
STATUS_CHOICES = [("", "全部状态"), ("active", "启用"), ("inactive", "已停用"),
                  ("locked", "锁定中")]


def _id_or_zero(value) -> int:
    return int(value) if str(value).isdigit() else 0


class AccountForm(FlaskForm):
    role = SelectField("角色", choices=[SelectChoice(r, accounts.ROLE_LABELS[r])
                                       for r in ROLES], validate_choice=False)
    department_id = SelectField("所属股室", coerce=_id_or_zero, validate_choice=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.department_id.choices = [SelectChoice(0, "（不属于股室）")] + [
            SelectChoice(d.id, accounts.department_label(d)) for d in accounts.departments()]


class NewUserForm(AccountForm):
    username = StringField("用户名", validators=[
        DataRequired("请输入用户名"), Length(max=64, message="用户名不能超过 64 个字符")])
    password = PasswordField("初始密码", validators=[DataRequired("请输入初始密码")])
    confirm = PasswordField("再次输入密码", validators=[DataRequired("请再次输入密码")])


class EditUserForm(AccountForm):
    active = BooleanField("启用（可以登录）")


class ResetPasswordForm(FlaskForm):
    password = PasswordField("新密码", validators=[DataRequired("请输入新密码")])
    confirm = PasswordField("再次输入新密码", validators=[DataRequired("请再次输入新密码")])


def refused(form, exc: accounts.FieldError) -> None:
    """Undo the attempt and show each of its errors beside its field."""
    db.session.rollback()
    for field, message in exc.errors.items():
        form[field].errors.append(message)


def _user(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


@bp.get("/users")
def users():
    args = request.args
    found = accounts.search_users(args.get("q", ""), args.get("role", ""),
                                  args.get("status", ""), args.get("page", 1, type=int),
                                  PER_PAGE)
    return render_template("admin/users.html", found=found, now=utcnow(),
                           roles=ROLES, statuses=STATUS_CHOICES)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                current_user, form.username.data, form.role.data, form.password.data,
                form.confirm.data, form.department_id.data)
        except accounts.FieldError as exc:
            refused(form, exc)
        else:
            db.session.commit()
            flash(f"已创建用户“{user.username}”")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return render_template("admin/users_new.html", form=form), 400 if form.errors else 200


def _edit_page(user: User, form: EditUserForm | None = None,
               reset: ResetPasswordForm | None = None):
    form = form or EditUserForm(formdata=None, obj=user,
                                department_id=user.department_id or 0)
    reset = reset or ResetPasswordForm(formdata=None, prefix="reset")
    history = audit.search(target_type="user", target_id=str(user.id), per_page=10)
    status = 400 if form.errors or reset.errors else 200
    return render_template("admin/users_edit.html", user=user, form=form, reset=reset,
                           history=history, locked=accounts.is_locked(user),
                           action_label=audit.action_label,
                           actor=audit.actor_label), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def user_edit(user_id: int):
    user = _user(user_id)
    if request.method == "GET":
        return _edit_page(user)
    form = EditUserForm()
    if form.validate_on_submit():
        try:
            changed = accounts.update_user(current_user, user, form.role.data,
                                           form.department_id.data, form.active.data)
        except accounts.FieldError as exc:
            refused(form, exc)
        else:
            db.session.commit()
            flash("已保存" if changed else "没有改动")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return _edit_page(user, form=form)


@bp.post("/users/<int:user_id>/password")
def user_password(user_id: int):
    user = _user(user_id)
    reset = ResetPasswordForm(prefix="reset")
    if reset.validate_on_submit():
        try:
            accounts.reset_password(current_user, user, reset.password.data,
                                    reset.confirm.data)
        except accounts.FieldError as exc:
            refused(reset, exc)
        else:
            db.session.commit()
            if user.id == current_user.id:
                login_user(user)  # one's own reset keeps this session
            flash(f"已重置“{user.username}”的密码，其已有的登录全部失效")
            return redirect(url_for("admin.user_edit", user_id=user.id))
    return _edit_page(user, reset=reset)


@bp.post("/users/<int:user_id>/unlock")
def user_unlock(user_id: int):
    user = _user(user_id)
    accounts.unlock(current_user, user)
    db.session.commit()
    flash(f"已解除“{user.username}”的登录锁定")
    return redirect(url_for("admin.user_edit", user_id=user.id))


nav_item("admin.users", "用户", 60, SETTINGS_MENU)
