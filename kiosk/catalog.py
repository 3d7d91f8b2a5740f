"""Service items (事项) and the reasons a citizen may give for a low rating, as the
back office edits them.

A reason code never changes meaning once a rating has used it: its code is fixed for
good, and a code in use (or one of the standard codes, which ``init-db`` would add
back) is deactivated, never deleted. Each function writes the audit log and flushes;
the caller commits.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from . import audit
from .db import db
from .models import Department, Rating, ReasonCode, ServiceItem, User
from .records import FieldError, taken, used
from .scale import STANDARD_REASONS

ITEM_FIELDS = ("code", "name", "department_id", "active")
REASON_FIELDS = ("code", "zh", "en", "sort_order", "active")
REASON_CODE = re.compile(r"[a-z0-9][a-z0-9_]{0,31}")
STANDARD_CODES = frozenset(code for code, _, _ in STANDARD_REASONS)


def save_service_item(item: ServiceItem | None, code: str, name: str,
                      department_id: int | None, active: bool,
                      actor: User | None) -> ServiceItem:
    """Create a service item (``item`` None) or change one; codes are unique."""
    if taken(ServiceItem.code, code, item.id if item else None, ServiceItem.id):
        raise FieldError("code", "编号已存在")
    if item is not None and code != item.code and used(
            sa.select(Rating.id).where(Rating.service_item_id == item.id)):
        raise FieldError("code", "该事项已被评价引用，编号不能再修改")
    if department_id is not None and db.session.get(Department, department_id) is None:
        raise FieldError("department_id", "请选择部门")
    before = audit.snapshot(item, ITEM_FIELDS) if item else None
    if item is None:
        item = ServiceItem()
        db.session.add(item)
    item.code, item.name, item.department_id, item.active = code, name, department_id, active
    db.session.flush()
    audit.record(actor, "service_item.update" if before else "service_item.create",
                 "service_item", item.id, before, audit.snapshot(item, ITEM_FIELDS))
    return item


def delete_service_item(item: ServiceItem, actor: User | None) -> None:
    """Delete an item no rating refers to (checked here, when the delete is posted:
    ``rating.service_item_id`` has no index); one in use is refused."""
    if used(sa.select(Rating.id).where(Rating.service_item_id == item.id)):
        raise FieldError(None, "该事项已被评价引用，不能删除，请改为停用")
    audit.record(actor, "service_item.delete", "service_item", item.id,
                 audit.snapshot(item, ITEM_FIELDS), None)
    db.session.delete(item)
    db.session.flush()


def reason_in_use(code: str) -> bool:
    """Whether any rating gave this reason (ratings keep their reasons as ``a;b;c``).

    A scan of the ratings (no index can answer it): asked only when a reason is being
    retired, never to draw a page."""
    padded = sa.literal(";") + Rating.reasons + sa.literal(";")
    return used(sa.select(Rating.id).where(padded.contains(f";{code};", autoescape=True)))


def save_reason(reason: ReasonCode | None, code: str, zh: str, en: str, sort_order: int,
                active: bool, actor: User | None) -> ReasonCode:
    """Add a reason code (``reason`` None) or change one's labels, order or state.
    The code itself is fixed once created."""
    if reason is None:
        if not REASON_CODE.fullmatch(code) or code == "new":  # /reasons/new is the form
            raise FieldError("code", "编号只能由小写字母、数字和“_”组成，以字母或数字开头，最多 32 位")
        if taken(ReasonCode.code, code):
            raise FieldError("code", "编号已存在")
    elif code != reason.code:
        raise FieldError("code", "原因编号一经创建不能修改")
    before = audit.snapshot(reason, REASON_FIELDS) if reason else None
    if reason is None:
        reason = ReasonCode(code=code)
        db.session.add(reason)
    reason.zh, reason.en, reason.sort_order, reason.active = zh, en, sort_order, active
    db.session.flush()
    audit.record(actor, "reason.update" if before else "reason.create", "reason",
                 reason.code, before, audit.snapshot(reason, REASON_FIELDS))
    return reason


def can_delete_reason(reason: ReasonCode) -> bool:
    """Whether ``retire_reason`` would delete it (a scan: see ``reason_in_use``)."""
    return reason.code not in STANDARD_CODES and not reason_in_use(reason.code)


def retire_reason(reason: ReasonCode, actor: User | None) -> str:
    """Take a reason off the rating pages: delete it if no rating ever gave it and it
    is not a standard code, otherwise deactivate it. Returns "deleted" or
    "deactivated"."""
    snap = audit.snapshot(reason, REASON_FIELDS)
    if can_delete_reason(reason):
        audit.record(actor, "reason.delete", "reason", reason.code, snap, None)
        db.session.delete(reason)
        db.session.flush()
        return "deleted"
    reason.active = False
    db.session.flush()
    audit.record(actor, "reason.deactivate", "reason", reason.code, snap,
                 audit.snapshot(reason, REASON_FIELDS))
    return "deactivated"
