"""Service items (事项) and reason codes (差评原因): admins change them, supervisors
read the lists. A reason code in use is deactivated, never deleted or renamed."""
from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_login import current_user

from kiosk import catalog, items
from kiosk.db import db
from kiosk.models import Department, ReasonCode, ServiceItem

from . import bp, roles
from .forms import ReasonForm, ServiceItemForm
from .manage import (delete_record, department_choices, form_status, matching, page_of,
                     render, save_form, search_arg)


# ---- service items ----

@bp.get("/manage/items")
@roles("supervisor")
def service_items():
    q = search_arg()
    query = matching(sa.select(ServiceItem).outerjoin(Department).order_by(ServiceItem.code),
                     q, ServiceItem.code, ServiceItem.name)
    return render("admin/manage/items.html", pages=page_of(query), q=q,
                  item_time_limit=items.time_limit_text)


@bp.route("/manage/items/new", methods=["GET", "POST"], endpoint="service_item_new")
@bp.route("/manage/items/<int:item_id>", methods=["GET", "POST"])
def service_item_edit(item_id: int | None = None):
    item = db.get_or_404(ServiceItem, item_id) if item_id else None
    form = ServiceItemForm(obj=item)
    form.department_id.choices = department_choices(none_label="（不限部门）")
    if item is not None and request.method == "GET":
        form.windows.data = " ".join(items.window_codes(item))
    done = save_form(
        form, lambda: items.save_publicity(
            catalog.save_service_item(item, form.code.data, form.name.data,
                                      form.department_id.data, form.active.data,
                                      current_user),
            form.time_limit_days.data, form.documents.data, form.windows.data, current_user),
        "事项已保存", lambda _: url_for("admin.service_items"))
    return done or render("admin/manage/form.html", form_status(form), form=form,
                          record=item, kind="service_item", title="服务事项",
                          back=url_for("admin.service_items"))


@bp.post("/manage/items/<int:item_id>/delete")
def service_item_delete(item_id: int):
    item = db.get_or_404(ServiceItem, item_id)
    return delete_record(lambda: catalog.delete_service_item(item, current_user),
                         "事项已删除", url_for("admin.service_items"))[0]


# ---- reason codes ----

@bp.get("/manage/reasons")
@roles("supervisor")
def reasons():
    q = search_arg()
    query = matching(sa.select(ReasonCode).order_by(ReasonCode.sort_order, ReasonCode.code),
                     q, ReasonCode.code, ReasonCode.zh, ReasonCode.en)
    return render("admin/manage/reasons.html", pages=page_of(query), q=q,
                  standard=catalog.STANDARD_CODES)


@bp.route("/manage/reasons/new", methods=["GET", "POST"], endpoint="reason_new")
@bp.route("/manage/reasons/<code>", methods=["GET", "POST"])
def reason_edit(code: str | None = None):
    reason = db.get_or_404(ReasonCode, code) if code else None
    form = ReasonForm(obj=reason)
    if reason is not None:
        form.code.data = reason.code  # fixed for good: the submitted value is ignored
    done = save_form(
        form, lambda: catalog.save_reason(reason, form.code.data, form.zh.data,
                                          form.en.data, form.sort_order.data,
                                          form.active.data, current_user),
        "原因已保存", lambda _: url_for("admin.reasons"))
    return done or render("admin/manage/form.html", form_status(form), form=form,
                          record=reason, kind="reason", title="差评原因",
                          code_locked=reason is not None, standard=catalog.STANDARD_CODES,
                          back=url_for("admin.reasons"))


@bp.post("/manage/reasons/<code>/retire")
def reason_retire(code: str):
    reason = db.get_or_404(ReasonCode, code)
    outcome = catalog.retire_reason(reason, current_user)
    db.session.commit()
    flash(f"原因“{code}”已删除" if outcome == "deleted"
          else f"原因“{code}”已被评价使用（或为标准原因），已停用而不删除")
    return redirect(url_for("admin.reasons"))
