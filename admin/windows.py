"""Windows and the duty roster (挂牌): who is on duty at which window, starting and
ending a duty, and one-step 换岗. A department head manages the roster of their own
department's windows; supervisors read it."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy.orm import contains_eager, joinedload

from kiosk import clock, devices, roster
from kiosk.db import db, utcnow
from kiosk.models import Department, Duty, Hall, Staff, Window
from kiosk.records import FieldError
from kiosk.windows import delete_window, save_window, window_has_ratings

from . import bp, roles
from .qr import qr_links, qr_warning
from .forms import DutyChangeForm, DutyEndForm, DutyStartForm, WindowForm
from .manage import (delete_record, department_choices, form_status, matching, page_of,
                     refused, render, require_change, save_form, search_arg)
from .scope import department_scope, hall_tz, scoped_window


def window_filters() -> tuple[sa.Select, dict]:
    """Windows matching ``?q=``, ``?hall=`` and ``?department=`` (a department head:
    their own department's only), ordered by code."""
    args = {"q": search_arg(), "hall": request.args.get("hall", type=int),
            "department": request.args.get("department", type=int)}
    query = matching(sa.select(Window).order_by(Window.code)
                     .options(joinedload(Window.hall), joinedload(Window.department)),
                     args["q"], Window.code, Window.name)
    scope = department_scope()
    if scope is not None:
        query = query.where(Window.department_id == scope)
    if args["hall"]:
        query = query.where(Window.hall_id == args["hall"])
    if args["department"]:
        query = query.where(Window.department_id == args["department"])
    return query, args


def filter_choices():
    halls = db.session.scalars(sa.select(Hall).order_by(Hall.name)).all()
    depts = (sa.select(Department).join(Hall).options(contains_eager(Department.hall))
             .order_by(Hall.name, Department.name))
    scope = department_scope()
    if scope is not None:
        depts = depts.where(Department.id == scope)
    return halls, db.session.scalars(depts).all()


# ---- windows ----

@bp.get("/manage/windows")
@roles("supervisor")
def windows():
    query, args = window_filters()
    pages = page_of(query)
    halls, depts = filter_choices()
    now = utcnow()
    tablets = devices.window_tablets(db.session, [w.id for w in pages.items], now,
                                     current_app.config["DEVICE_ONLINE_SECONDS"])
    return render("admin/manage/windows.html", pages=pages, args=args, q=args["q"],
                  on_duty=roster.on_duty_now(pages.items, now), halls=halls,
                  departments=depts, qr_warning=qr_warning(), tablets=tablets,
                  tablet_labels=devices.STATUS_LABELS)


@bp.route("/manage/windows/new", methods=["GET", "POST"], endpoint="window_new")
@bp.route("/manage/windows/<int:window_id>", methods=["GET", "POST"])
def window_edit(window_id: int | None = None):
    window = db.get_or_404(Window, window_id) if window_id else None
    form = WindowForm(obj=window)
    # A new window names its department on purpose, not by the list's first entry.
    form.department_id.choices = department_choices(
        none_label="请选择部门" if window is None else None)
    if db.session.scalar(sa.select(Department.id).limit(1)) is None:
        flash("请先添加大厅和部门", "error")
    locked = window is not None and window_has_ratings(window.id)
    done = save_form(
        form, lambda: save_window(window, form.code.data, form.name.data,
                                  form.department_id.data, form.active.data, current_user),
        "窗口已保存", lambda _: url_for("admin.windows"))
    return done or render("admin/manage/form.html", form_status(form), form=form,
                          record=window, kind="window", title="窗口", code_locked=locked,
                          qr_links=qr_links(window) if window else [],
                          qr_warning=qr_warning(), back=url_for("admin.windows"))


@bp.post("/manage/windows/<int:window_id>/delete")
def window_delete(window_id: int):
    window = db.get_or_404(Window, window_id)
    return delete_record(lambda: delete_window(window, current_user), "窗口已删除",
                         url_for("admin.windows"))[0]


# ---- the duty roster ----

@bp.get("/roster")
@roles("supervisor", "department")
def roster_overview():
    """Every window (of the user's department) and who is on duty there now."""
    query, args = window_filters()
    query = query.where(Window.active)
    pages = page_of(query)
    halls, depts = filter_choices()
    return render("admin/manage/roster.html", pages=pages, args=args, q=args["q"],
                  rows=roster.on_duty_now(pages.items, utcnow()), halls=halls,
                  departments=depts)


def staff_choices(window: Window, relieving: Staff | None = None) -> dict[str, list[tuple]]:
    """Active clerks for a duty form, the window's department first; a clerk on duty
    elsewhere says where (the roster refuses them until that duty ends). For 换岗
    (``relieving`` is the clerk on duty here) that clerk is left out and clerks on duty
    elsewhere are offered disabled."""
    query = (sa.select(Staff).where(Staff.active).outerjoin(Department)
             .order_by(sa.case((Staff.department_id == window.department_id, 0), else_=1),
                       Department.name, Staff.staff_no))
    scope = department_scope()
    if scope is not None:
        query = query.where(Staff.department_id == scope)
    busy = dict(db.session.execute(
        sa.select(Duty.staff_id, Window.code).join(Window, Duty.window_id == Window.id)
        .where(Duty.ended_at.is_(None))).all())
    groups: dict[str, list[tuple]] = {"": [("", "请选择…")]}
    for clerk in db.session.scalars(query):
        if relieving is not None and clerk.id == relieving.id:
            continue
        choice: tuple = (clerk.id, f"{clerk.name}（{clerk.staff_no}）")
        if clerk.id in busy:
            choice = (clerk.id, f"{choice[1]} · 正在 {busy[clerk.id]} 在岗")
            if relieving is not None:
                choice += ({"disabled": True},)
        dept = clerk.department.name if clerk.department else "未分部门"
        groups.setdefault(dept, []).append(choice)
    return groups


def roster_page(window: Window, start: DutyStartForm | None = None,
                change: DutyChangeForm | None = None, end: DutyEndForm | None = None):
    now = utcnow()
    current = roster.current_duty(window, now)
    start = start or DutyStartForm(formdata=None, prefix="start")
    change = change or DutyChangeForm(formdata=None, prefix="change")
    end = end or DutyEndForm(formdata=None, prefix="end")
    start.staff_id.choices = staff_choices(window)
    change.staff_id.choices = (staff_choices(window, relieving=current.staff)
                               if current is not None else start.staff_id.choices)
    status = 400 if start.errors or change.errors or end.errors else 200
    return render("admin/manage/roster_window.html", status, window=window,
                  current=current, now=now,
                  pages=page_of(roster.history(window)), start=start, change=change,
                  end=end, tz_name=hall_tz().key)


@bp.get("/roster/<code>")
@roles("supervisor", "department")
def roster_window_page(code: str):
    return roster_page(scoped_window(code))


def moment(value: datetime | None, now: datetime) -> datetime:
    """A form's hall-time moment as stored (naive UTC); empty means now."""
    return clock.to_utc(value, hall_tz()) if value else now


def roster_change(code: str, form_class, prefix: str, act):
    """Handle one roster form: validate, call ``act(window, form, now)``, commit."""
    window = scoped_window(code)
    require_change(window.department_id)
    form = form_class(prefix=prefix)
    if form_class is not DutyEndForm:
        form.staff_id.choices = staff_choices(window)
    if form.validate_on_submit():
        try:
            message = act(window, form, utcnow())
            db.session.commit()
        except FieldError as exc:
            db.session.rollback()
            refused(form, exc)
        else:
            flash(message)
            return redirect(url_for("admin.roster_window_page", code=window.code))
    return roster_page(window, **{prefix: form})


def chosen_staff(form) -> Staff:
    """The clerk picked on a duty form (within the user's department)."""
    clerk = db.session.get(Staff, form.staff_id.data) if form.staff_id.data else None
    scope = department_scope()
    if clerk is None or (scope is not None and clerk.department_id != scope):
        raise FieldError("staff_id", "请选择本部门的工作人员")
    return clerk


@bp.post("/roster/<code>/start")
@roles("department")
def roster_start(code: str):
    def act(window, form, now):
        clerk = chosen_staff(form)
        roster.start_duty(window, clerk, moment(form.started_at.data, now), now,
                          hall_tz(), current_user)
        return f"{clerk.name} 已在 {window.code} 窗口挂牌"
    return roster_change(code, DutyStartForm, "start", act)


@bp.post("/roster/<code>/change")
@roles("department")
def roster_swap(code: str):
    def act(window, form, now):
        clerk = chosen_staff(form)
        roster.change_duty(window, clerk, moment(form.at.data, now), now, hall_tz(),
                           current_user)
        return f"已换岗：现在由 {clerk.name} 在 {window.code} 窗口挂牌"
    return roster_change(code, DutyChangeForm, "change", act)


@bp.post("/roster/<code>/end")
@roles("department")
def roster_end(code: str):
    def act(window, form, now):
        duty = roster.current_duty(window, now)
        if duty is None:
            raise FieldError(None, "该窗口现在没有人在岗")
        roster.end_duty(duty, moment(form.ended_at.data, now), now, hall_tz(), current_user)
        return f"{duty.staff.name} 已结束在岗"
    return roster_change(code, DutyEndForm, "end", act)
