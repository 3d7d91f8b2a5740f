"""Halls, departments and windows: lookups and the windows CSV import."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import IO

import sqlalchemy as sa

from .csvfiles import ImportFailed, rows
from .db import db
from .models import Department, Hall, Window

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
    )
