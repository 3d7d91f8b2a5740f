"""Window staff (窗口工作人员) and their photos. A department head manages the staff of
their own department; supervisors read the list."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from kiosk import staff_photos
from kiosk.db import db, utcnow
from kiosk.models import Department, Duty, Staff, Window
from kiosk.records import FieldError
from kiosk.staff import delete_staff, save_staff

from . import bp, csrf, roles
from .forms import PhotoForm, StaffForm
from .manage import (delete_record, department_choices, form_status, matching, page_of,
                     render, require_change, save_form, search_arg)
from .scope import department_scope

# Multipart framing and the other fields around the photo itself.
UPLOAD_OVERHEAD = 64 * 1024


def photos_folder() -> str:
    return staff_photos.folder(current_app.instance_path)


def max_photo_bytes() -> int:
    return current_app.config["STAFF_PHOTO_MAX_BYTES"]


def editable_staff(staff_id: int) -> Staff:
    clerk = db.get_or_404(Staff, staff_id)
    require_change(clerk.department_id)
    return clerk


@bp.get("/manage/staff")
@roles("supervisor", "department")
def staff_list():
    q = search_arg()
    query = matching(sa.select(Staff).outerjoin(Department).order_by(Staff.staff_no), q,
                     Staff.staff_no, Staff.name)
    scope = department_scope()
    if scope is not None:
        query = query.where(Staff.department_id == scope)
    pages = page_of(query)
    on_duty = dict(db.session.execute(
        sa.select(Duty.staff_id, Window.code).join(Window, Duty.window_id == Window.id)
        .where(Duty.ended_at.is_(None), Duty.started_at <= utcnow(),
               Duty.staff_id.in_([s.id for s in pages.items]))).all())
    return render("admin/manage/staff.html", pages=pages, q=q, on_duty=on_duty,
                  scope=scope)


@bp.route("/manage/staff/new", methods=["GET", "POST"], endpoint="staff_new")
@bp.route("/manage/staff/<int:staff_id>", methods=["GET", "POST"])
@roles("department")
def staff_edit(staff_id: int | None = None):
    scope = department_scope()
    clerk = editable_staff(staff_id) if staff_id else None
    if clerk is None:
        require_change(scope)  # an admin, or the head of a department
    form = StaffForm(obj=clerk)
    form.department_id.choices = department_choices(
        scope, none_label=None if scope is not None else "（未分部门）")

    def save():
        dept = scope if scope is not None else form.department_id.data
        return save_staff(clerk, form.staff_no.data, form.name.data, dept,
                          form.duties.data, form.active.data, current_user)
    done = save_form(form, save, "工作人员已保存",
                     lambda saved: url_for("admin.staff_edit", staff_id=saved.id))
    photo = PhotoForm(formdata=None)
    return done or render("admin/manage/staff_form.html", form_status(form), form=form,
                          record=clerk, kind="staff", title="工作人员", photo=photo,
                          max_photo=staff_photos.mib(max_photo_bytes()),
                          max_photo_bytes=max_photo_bytes(), back=url_for("admin.staff_list"))


@bp.post("/manage/staff/<int:staff_id>/delete")
@roles("department")
def staff_delete(staff_id: int):
    clerk = editable_staff(staff_id)
    response, photo = delete_record(lambda: delete_staff(clerk, current_user),
                                    "工作人员已删除", url_for("admin.staff_list"))
    staff_photos.remove(photo, photos_folder())
    return response


# The blueprint-wide CSRF check would read the whole body before this view could cap
# its size: the view makes the same check itself, under the cap.
@csrf.exempt
@bp.post("/manage/staff/<int:staff_id>/photo")
@roles("department")
def staff_photo_upload(staff_id: int):
    clerk = editable_staff(staff_id)
    limit = max_photo_bytes()
    request.max_content_length = limit + UPLOAD_OVERHEAD
    back = redirect(url_for("admin.staff_edit", staff_id=clerk.id))
    try:
        if current_app.config["WTF_CSRF_ENABLED"]:
            csrf.protect()  # CSRFError (400) without a valid token
        form = PhotoForm(meta={"csrf": False})
    except RequestEntityTooLarge:
        flash(f"照片文件不能超过 {staff_photos.mib(limit)}，未保存", "error")
        return back
    upload = form.photo.data
    if upload is None or not upload.filename:
        flash("请选择照片文件", "error")
        return back
    try:
        old = staff_photos.set_photo(clerk, upload.stream, photos_folder(), limit,
                                     current_user)
        db.session.commit()
    except FieldError as exc:
        db.session.rollback()
        flash(exc.message + "，未保存", "error")
        return back
    staff_photos.remove(old, photos_folder())
    flash("照片已更新，窗口评价器将在一分钟内显示新照片")
    return back


@bp.post("/manage/staff/<int:staff_id>/photo/delete")
@roles("department")
def staff_photo_delete(staff_id: int):
    clerk = editable_staff(staff_id)
    old = staff_photos.clear_photo(clerk, current_user)
    db.session.commit()
    staff_photos.remove(old, photos_folder())
    flash("照片已删除")
    return redirect(url_for("admin.staff_edit", staff_id=clerk.id))
