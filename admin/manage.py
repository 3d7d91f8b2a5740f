"""Hall management (窗口与人员): the entry page, halls and departments, and what the
other management pages share (who may change what, lists with search and paging,
forms that show a service's refusal next to the field).

Admins change everything. Supervisors read the lists. A department head (role
``department``) reads and changes the staff and the duty roster of their own
department only. Windows, staff, items and reason codes are in windows.py, staff.py
and catalog.py.
"""
from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError

from kiosk.db import db
from kiosk.models import Department, Hall, ReasonCode, ServiceItem, Staff, Window
from kiosk.records import FieldError
from kiosk.windows import delete_department, delete_hall, save_department, save_hall

from . import allowed_roles, bp, nav_item, roles
from .forms import DepartmentForm, HallForm
from .scope import department_scope

PER_PAGE = 50
IN_USE = "已被其他记录引用，不能删除，请改为停用"


# ---- who may do what ----

def is_admin() -> bool:
    return current_user.role == "admin"


def may_change(department_id: int | None) -> bool:
    """Whether the user may change staff or duties of ``department_id``."""
    return is_admin() or (current_user.role == "department"
                          and department_id is not None
                          and department_id == current_user.department_id)


def require_change(department_id: int | None = None) -> None:
    if not may_change(department_id):
        abort(403)


# The management pages' own tabs: (endpoint, label, kind of record).
SUBNAV = (("admin.roster_overview", "挂牌排班", "roster"), ("admin.windows", "窗口", "window"),
          ("admin.staff_list", "工作人员", "staff"), ("admin.halls", "大厅", "hall"),
          ("admin.departments", "部门", "department"),
          ("admin.service_items", "服务事项", "service_item"),
          ("admin.reasons", "差评原因", "reason"))


def subnav() -> list[tuple[str, str, str]]:
    return [tab for tab in SUBNAV if current_user.role in allowed_roles(tab[0])]


def render(template: str, status: int = 200, **context):
    return render_template(template, may_change=may_change,
                           is_admin=is_admin(), subnav=subnav(), **context), status


# ---- lists ----

def search_arg() -> str:
    return request.args.get("q", "").strip()[:100]


def matching(query: sa.Select, q: str, *columns) -> sa.Select:
    """Rows where any of ``columns`` contains ``q``, ignoring case."""
    if not q:
        return query
    return query.where(sa.or_(*(sa.func.lower(c).contains(q.lower(), autoescape=True)
                                for c in columns)))


def page_of(query: sa.Select):
    """One page (``?page=``) of ``query``: Flask-SQLAlchemy's Pagination."""
    return db.paginate(query, page=request.args.get("page", 1, type=int),
                       per_page=PER_PAGE, error_out=False)


def department_choices(scope: int | None = None, none_label: str | None = None):
    """Departments grouped by hall for a select (``scope``: only that one)."""
    query = sa.select(Department).join(Hall).order_by(Hall.name, Department.name)
    if scope is not None:
        query = query.where(Department.id == scope)
    halls: dict[str, list[tuple[int | str, str]]] = {}
    for dept in db.session.scalars(query):
        halls.setdefault(dept.hall.name, []).append((dept.id, dept.name))
    first: list[tuple[int | str, str]] = [("", none_label)] if none_label else []
    if len(halls) <= 1:  # one hall: a plain list, the placeholder on top
        return first + next(iter(halls.values()), [])
    return {"": first, **halls} if first else halls


# ---- forms ----

def refused(form: FlaskForm, exc: FieldError) -> None:
    """Show a service's refusal next to its field, or at the top of the page."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = list(field.errors) + [exc.message]
    else:
        flash(exc.message, "error")


def save_form(form: FlaskForm, save: Callable[[], object], done: str,
              next_url: Callable[[object], str]):
    """Validate ``form``, call ``save`` and commit; a redirect when it worked, else
    None (the caller renders the form again with its errors)."""
    if not form.validate_on_submit():
        return None
    try:
        saved = save()
        db.session.commit()
    except FieldError as exc:
        db.session.rollback()
        refused(form, exc)
        return None
    flash(done)
    return redirect(next_url(saved))


def delete_record(delete: Callable[[], object], done: str, back: str):
    """Run ``delete`` and commit; a refusal (or a reference the checks did not know
    of) is flashed instead."""
    try:
        result = delete()
        db.session.commit()
    except FieldError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(request.referrer or back), None
    except IntegrityError:
        db.session.rollback()
        flash(IN_USE, "error")
        return redirect(request.referrer or back), None
    flash(done)
    return redirect(back), result


def form_status(form: FlaskForm) -> int:
    return 400 if form.errors else 200


# ---- the entry page ----

def count(query: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


@bp.get("/manage")
@roles("supervisor", "department")
def manage():
    scope = department_scope()
    staff = sa.select(Staff.id)
    windows = sa.select(Window.id)
    if scope is not None:
        staff = staff.where(Staff.department_id == scope)
        windows = windows.where(Window.department_id == scope)
    counts = {"halls": count(sa.select(Hall.id)), "departments": count(sa.select(Department.id)),
              "windows": count(windows), "staff": count(staff),
              "service_items": count(sa.select(ServiceItem.id)),
              "reasons": count(sa.select(ReasonCode.code))}
    department = db.session.get(Department, scope) if scope else None
    return render("admin/manage/index.html", counts=counts, scope=scope,
                  department=department)


nav_item("admin.manage", "窗口与人员", 50)


# ---- halls ----

@bp.get("/manage/halls")
@roles("supervisor")
def halls():
    q = search_arg()
    query = matching(sa.select(Hall).order_by(Hall.name), q, Hall.name, Hall.address)
    return render("admin/manage/halls.html", pages=page_of(query), q=q)


@bp.route("/manage/halls/new", methods=["GET", "POST"], endpoint="hall_new")
@bp.route("/manage/halls/<int:hall_id>", methods=["GET", "POST"])
def hall_edit(hall_id: int | None = None):
    hall = db.get_or_404(Hall, hall_id) if hall_id else None
    form = HallForm(obj=hall)
    done = save_form(form, lambda: save_hall(hall, form.name.data, form.address.data,
                                             current_user),
                     "大厅已保存", lambda _: url_for("admin.halls"))
    return done or render("admin/manage/form.html", form_status(form), form=form,
                          record=hall, kind="hall", title="大厅", back=url_for("admin.halls"))


@bp.post("/manage/halls/<int:hall_id>/delete")
def hall_delete(hall_id: int):
    hall = db.get_or_404(Hall, hall_id)
    return delete_record(lambda: delete_hall(hall, current_user), "大厅已删除",
                         url_for("admin.halls"))[0]


# ---- departments ----

@bp.get("/manage/departments")
@roles("supervisor")
def departments():
    q = search_arg()
    query = matching(sa.select(Department).join(Hall).order_by(Hall.name, Department.name),
                     q, Department.name, Hall.name)
    pages = page_of(query)
    windows = dict(db.session.execute(
        sa.select(Window.department_id, sa.func.count()).group_by(Window.department_id)
        .where(Window.department_id.in_([d.id for d in pages.items]))).all())
    return render("admin/manage/departments.html", pages=pages, q=q, windows=windows)


@bp.route("/manage/departments/new", methods=["GET", "POST"], endpoint="department_new")
@bp.route("/manage/departments/<int:department_id>", methods=["GET", "POST"])
def department_edit(department_id: int | None = None):
    dept = db.get_or_404(Department, department_id) if department_id else None
    form = DepartmentForm(obj=dept)
    form.hall_id.choices = [(h.id, h.name) for h in
                            db.session.scalars(sa.select(Hall).order_by(Hall.name))]
    if not form.hall_id.choices:
        flash("请先添加大厅", "error")
    done = save_form(form, lambda: save_department(dept, form.hall_id.data, form.name.data,
                                                   current_user),
                     "部门已保存", lambda _: url_for("admin.departments"))
    return done or render("admin/manage/form.html", form_status(form), form=form,
                          record=dept, kind="department", title="部门",
                          back=url_for("admin.departments"))


@bp.post("/manage/departments/<int:department_id>/delete")
def department_delete(department_id: int):
    dept = db.get_or_404(Department, department_id)
    return delete_record(lambda: delete_department(dept, current_user), "部门已删除",
                         url_for("admin.departments"))[0]
