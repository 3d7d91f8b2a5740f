"""Window staff (窗口工作人员): the people on the 挂牌 card, as the back office edits them.

Each function checks what a form cannot, writes the audit log and flushes; the caller
commits. A refusal is a FieldError naming the field to show it next to.
"""
from __future__ import annotations

import sqlalchemy as sa

from . import audit
from .db import db
from .models import Department, Duty, Rating, Staff, User
from .records import FieldError, taken, used

STAFF_FIELDS = ("staff_no", "name", "department_id", "duties", "active")


def save_staff(staff: Staff | None, staff_no: str, name: str, department_id: int | None,
               duties: str | None, active: bool, actor: User | None) -> Staff:
    """Create a clerk (``staff`` None) or change one. A clerk on duty stays active until
    their duty ends: the kiosk would otherwise show a clerk the office has retired."""
    if taken(Staff.staff_no, staff_no, staff.id if staff else None, Staff.id):
        raise FieldError("staff_no", "工号已存在")
    if department_id is not None and db.session.get(Department, department_id) is None:
        raise FieldError("department_id", "请选择部门")
    if staff is not None and staff.active and not active:
        duty = db.session.scalar(sa.select(Duty).where(
            Duty.staff_id == staff.id, Duty.ended_at.is_(None)).limit(1))
        if duty is not None:
            raise FieldError("active", f"该工作人员正在 {duty.window.code} 窗口在岗，"
                                       "请先结束在岗再停用")
    before = audit.snapshot(staff, STAFF_FIELDS) if staff else None
    if staff is None:
        staff = Staff()
        db.session.add(staff)
    staff.staff_no, staff.name, staff.department_id = staff_no, name, department_id
    staff.duties, staff.active = duties or None, active
    db.session.flush()
    audit.record(actor, "staff.update" if before else "staff.create", "staff", staff.id,
                 before, audit.snapshot(staff, STAFF_FIELDS))
    return staff


def staff_in_use(staff: Staff) -> bool:
    """Whether the clerk was ever on duty or rated (they then stay for good). No index
    serves ``rating.staff_id``: asked only when a delete is posted, never for a page."""
    return used(sa.select(Duty.id).where(Duty.staff_id == staff.id),
                sa.select(Rating.id).where(Rating.staff_id == staff.id))


def delete_staff(staff: Staff, actor: User | None) -> str | None:
    """Delete a clerk who was never on duty and never rated; returns the photo file the
    caller removes once the change is committed."""
    if staff_in_use(staff):
        raise FieldError(None, "该工作人员已有在岗记录或评价，不能删除，请改为停用")
    photo = staff.photo
    audit.record(actor, "staff.delete", "staff", staff.id,
                 audit.snapshot(staff, STAFF_FIELDS + ("photo",)), None)
    db.session.delete(staff)
    db.session.flush()
    return photo
