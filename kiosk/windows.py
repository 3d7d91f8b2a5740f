"""Halls, departments and windows: lookups, editing them, the windows CSV import, and
the 挂牌 card a rating page shows."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import IO

import sqlalchemy as sa

from . import audit
from .csvfiles import ImportFailed, rows
from .db import db
from .items import PublicItem, window_items
from .models import Department, Duty, Hall, Rating, ServiceItem, Staff, Suggestion, User, Window
from .records import FieldError, taken, used

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
DEFAULT_HALL = "政务服务大厅"


@dataclass
class WindowImport:
    created: int = 0
    updated: int = 0


def import_windows(fh: IO[str]) -> WindowImport:
    """Upsert windows by code from CSV ``code,name,department[,hall]``; all or nothing.

    Flushes; the caller commits. Raises ImportFailed naming every bad line.
    """
    errors: list[str] = []
    seen: dict[str, int] = {}
    good: list[tuple[str, str, str, str | None]] = []
    for line, row in rows(fh, {"code", "name", "department"}, {"hall"}):
        if "__width__" in row:
            errors.append(f"line {line}: {row['__width__']}")
            continue
        code, name = row["code"].strip(), row["name"].strip()
        dept, hall = row["department"].strip(), (row.get("hall") or "").strip() or None
        problems = []
        if not CODE.fullmatch(code):
            problems.append(f"code {code!r} must be 1–32 letters, digits, '-' or '_'")
        elif code in seen:
            problems.append(f"code {code} already appears on line {seen[code]}")
        if not name or len(name) > 100:
            problems.append("name must be 1–100 characters")
        if not dept or len(dept) > 100:
            problems.append("department must be 1–100 characters")
        if hall is not None and len(hall) > 100:
            problems.append("hall must be at most 100 characters")
        if problems:
            errors.append(f"line {line}: " + "; ".join(problems))
            continue
        seen[code] = line
        good.append((code, name, dept, hall))
    if errors:
        raise ImportFailed(errors)
    if not good:
        raise ImportFailed(["the file has a header but no windows"])

    halls = {h.name: h for h in db.session.scalars(sa.select(Hall))}
    if any(hall is None for *_, hall in good) and len(halls) > 1:
        raise ImportFailed(["there are several halls: add a 'hall' column naming each "
                            "window's hall"])
    default = next(iter(halls.values()), None)
    departments = {(d.hall_id, d.name): d for d in db.session.scalars(sa.select(Department))}
    existing = {w.code: w for w in db.session.scalars(sa.select(Window))}
    result = WindowImport()
    for code, name, dept_name, hall_name in good:
        if hall_name is None:
            if default is None:
                default = halls[DEFAULT_HALL] = Hall(name=DEFAULT_HALL)
                db.session.add(default)
            hall = default
        else:
            hall = halls.get(hall_name)
            if hall is None:
                hall = halls[hall_name] = Hall(name=hall_name)
                db.session.add(hall)
        db.session.flush()
        dept = departments.get((hall.id, dept_name))
        if dept is None:
            dept = departments[(hall.id, dept_name)] = Department(hall=hall, name=dept_name)
            db.session.add(dept)
        window = existing.get(code)
        if window is None:
            db.session.add(Window(code=code, name=name, hall=hall, department=dept))
            result.created += 1
        else:
            window.name, window.hall, window.department = name, hall, dept
            result.updated += 1
    db.session.flush()
    return result


@dataclass
class WindowCard:
    """What a rating page shows about a window: the 挂牌 card of whoever is on duty."""

    code: str
    name: str
    hall: str
    department: str
    staff_name: str | None
    staff_no: str | None
    duties: str | None
    photo: str | None
    # 事项公示: the items this window handles (kiosk/items.py), on the kiosk's card.
    items: tuple[PublicItem, ...] = ()


def window_card(code: str, now: datetime) -> WindowCard | None:
    """The card for window ``code`` at ``now`` (naive UTC); None for an unknown code."""
    window = db.session.scalar(sa.select(Window).where(Window.code == code))
    if window is None:
        return None
    duty = db.session.scalar(window.duty_at(now))
    staff = duty.staff if duty else None
    return WindowCard(
        code=window.code, name=window.name, hall=window.hall.name,
        department=window.department.name,
        staff_name=staff.name if staff else None,
        staff_no=staff.staff_no if staff else None,
        duties=staff.duties if staff else None,
        photo=staff.photo if staff else None,
        items=tuple(window_items(db.session, window)),
    )


def card_version(card: WindowCard) -> str:
    """A short fingerprint of everything the card shows: a kiosk compares it to learn
    that the clerk on duty (or their card) has changed."""
    data = json.dumps(asdict(card), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


# ---- editing halls, departments and windows (the back office) ----
# Each function checks what a form cannot, writes the audit log, and flushes; the
# caller commits. A refusal is a FieldError naming the field to show it next to.

HALL_FIELDS = ("name", "address")
DEPARTMENT_FIELDS = ("hall_id", "name")
WINDOW_FIELDS = ("code", "name", "hall_id", "department_id", "active")


def save_hall(hall: Hall | None, name: str, address: str | None,
              actor: User | None) -> Hall:
    """Create a hall (``hall`` None) or change one."""
    if taken(Hall.name, name, hall.id if hall else None, Hall.id):
        raise FieldError("name", "已有同名大厅")
    before = audit.snapshot(hall, HALL_FIELDS) if hall else None
    if hall is None:
        hall = Hall()
        db.session.add(hall)
    hall.name, hall.address = name, address or None
    db.session.flush()
    audit.record(actor, "hall.update" if before else "hall.create", "hall", hall.id,
                 before, audit.snapshot(hall, HALL_FIELDS))
    return hall


def delete_hall(hall: Hall, actor: User | None) -> None:
    """Delete a hall that has no departments and no windows."""
    if used(sa.select(Department.id).where(Department.hall_id == hall.id),
            sa.select(Window.id).where(Window.hall_id == hall.id)):
        raise FieldError(None, "该大厅下还有部门或窗口，不能删除")
    audit.record(actor, "hall.delete", "hall", hall.id,
                 audit.snapshot(hall, HALL_FIELDS), None)
    db.session.delete(hall)
    db.session.flush()


def save_department(dept: Department | None, hall_id: int, name: str,
                    actor: User | None) -> Department:
    """Create a department (``dept`` None) or change one; names are unique per hall."""
    hall = db.session.get(Hall, hall_id)
    if hall is None:
        raise FieldError("hall_id", "请选择大厅")
    same = sa.select(sa.func.count()).where(
        Department.hall_id == hall_id, sa.func.lower(Department.name) == name.lower())
    if dept is not None:
        same = same.where(Department.id != dept.id)
        if hall_id != dept.hall_id and used(
                sa.select(Window.id).where(Window.department_id == dept.id)):
            raise FieldError("hall_id", "该部门已有窗口，不能移到其他大厅")
    if db.session.scalar(same):
        raise FieldError("name", "该大厅已有同名部门")
    before = audit.snapshot(dept, DEPARTMENT_FIELDS) if dept else None
    if dept is None:
        dept = Department()
        db.session.add(dept)
    dept.hall_id, dept.name = hall_id, name
    db.session.flush()
    audit.record(actor, "department.update" if before else "department.create",
                 "department", dept.id, before, audit.snapshot(dept, DEPARTMENT_FIELDS))
    return dept


def delete_department(dept: Department, actor: User | None) -> None:
    """Delete a department nothing refers to (windows, staff, items, users)."""
    if used(sa.select(Window.id).where(Window.department_id == dept.id),
            sa.select(Staff.id).where(Staff.department_id == dept.id),
            sa.select(ServiceItem.id).where(ServiceItem.department_id == dept.id),
            sa.select(User.id).where(User.department_id == dept.id)):
        raise FieldError(None, "该部门下还有窗口、工作人员、事项或用户，不能删除")
    audit.record(actor, "department.delete", "department", dept.id,
                 audit.snapshot(dept, DEPARTMENT_FIELDS), None)
    db.session.delete(dept)
    db.session.flush()


def window_has_ratings(window_id: int) -> bool:
    return used(sa.select(Rating.id).where(Rating.window_id == window_id))


def save_window(window: Window | None, code: str, name: str, department_id: int,
                active: bool, actor: User | None) -> Window:
    """Create a window (``window`` None) or change one. Its hall is its department's.
    The code is how tablets, QR codes and exports name the window: once a rating
    carries it, it never changes."""
    if not CODE.fullmatch(code):
        raise FieldError("code", "编号只能由字母、数字、“-”和“_”组成，以字母或数字开头，最多 32 位")
    if window is not None and code != window.code and window_has_ratings(window.id):
        raise FieldError("code", "该窗口已有评价，编号不能再修改")
    if taken(Window.code, code, window.id if window else None, Window.id):
        raise FieldError("code", "编号已存在")
    dept = db.session.get(Department, department_id)
    if dept is None:
        raise FieldError("department_id", "请选择部门")
    before = audit.snapshot(window, WINDOW_FIELDS) if window else None
    if window is None:
        window = Window()
        db.session.add(window)
    window.code, window.name, window.active = code, name, active
    window.department_id, window.hall_id = dept.id, dept.hall_id
    db.session.flush()
    audit.record(actor, "window.update" if before else "window.create", "window",
                 window.id, before, audit.snapshot(window, WINDOW_FIELDS))
    return window


def window_in_use(window: Window) -> bool:
    """Whether a rating, duty or suggestion names the window (it then stays for good)."""
    return used(sa.select(Rating.id).where(Rating.window_id == window.id),
                sa.select(Duty.id).where(Duty.window_id == window.id),
                sa.select(Suggestion.id).where(Suggestion.window_id == window.id))


def delete_window(window: Window, actor: User | None) -> None:
    """Delete a window that was never used; one with history is deactivated instead."""
    if window_in_use(window):
        raise FieldError(None, "该窗口已有评价、在岗记录或建议，不能删除，请改为停用")
    audit.record(actor, "window.delete", "window", window.id,
                 audit.snapshot(window, WINDOW_FIELDS), None)
    db.session.delete(window)
    db.session.flush()
