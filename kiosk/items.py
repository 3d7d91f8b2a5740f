"""事项公示: what a hall's service items take (办理时限, 所需材料) and which windows
handle them, for the kiosk's 挂牌 card and the hall board; and the CSV import of a
hall's list (``kiosk import-items``).

A window's items are the ones linked to it (``window_service_item``); a window with
no links shows its department's active items, so a hall that loads only
``code,name,department,time_limit_days`` still gets a card that lists something true.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import IO

import sqlalchemy as sa

from . import audit
from .csvfiles import ImportFailed, rows
from .db import db
from .models import Department, ServiceItem, User, Window, WindowServiceItem
from .records import FieldError

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# Documents in one CSV cell, or one a line in the stored text.
DOCUMENT_SPLIT = re.compile(r"[;；\n|]")
WINDOW_SPLIT = re.compile(r"[\s;；,，、]+")
NAME_MAX = 200
DOCUMENT_MAX = 200
DOCUMENTS_MAX = 30
TIME_LIMIT_MAX = 3650  # working days; 0 is an on-the-spot item (即办件)
INSTANT_WORDS = {"即办", "即办件", "当场办结", "0"}
CARD_ITEMS = 5  # items named on the kiosk's card; the rest are counted


def split_documents(text: str | None) -> list[str]:
    """The documents of a stored (one a line) or typed (``;``-separated) list."""
    return [d.strip() for d in DOCUMENT_SPLIT.split(text or "") if d.strip()]


def time_limit_text(days: int | None) -> str:
    """``即办`` / ``5个工作日`` / empty when the limit is unknown."""
    if days is None:
        return ""
    return "即办" if days == 0 else f"{days}个工作日"


@dataclass(frozen=True)
class PublicItem:
    """A service item as the hall shows it in public."""

    code: str
    name: str
    time_limit_days: int | None
    documents: tuple[str, ...]
    windows: tuple[str, ...] = ()  # window codes (the board only)

    @property
    def time_limit(self) -> str:
        return time_limit_text(self.time_limit_days)

    def as_json(self) -> dict:
        return {"code": self.code, "name": self.name,
                "time_limit_days": self.time_limit_days, "time_limit": self.time_limit,
                "documents": list(self.documents), "windows": list(self.windows)}


def _public(item: ServiceItem, windows: tuple[str, ...] = ()) -> PublicItem:
    return PublicItem(item.code, item.name, item.time_limit_days,
                      tuple(split_documents(item.documents)), windows)


def window_items(session, window: Window) -> list[PublicItem]:
    """The active items window ``window`` handles: its linked ones, or (none linked)
    its department's, by name."""
    linked = list(session.scalars(
        sa.select(ServiceItem)
        .join(WindowServiceItem, WindowServiceItem.service_item_id == ServiceItem.id)
        .where(WindowServiceItem.window_id == window.id, ServiceItem.active)
        .order_by(ServiceItem.code)))
    if not linked and not _has_links(session, window.id):
        linked = list(session.scalars(
            sa.select(ServiceItem)
            .where(ServiceItem.active, ServiceItem.department_id == window.department_id)
            .order_by(ServiceItem.code)))
    return [_public(item) for item in linked]


def _has_links(session, window_id: int) -> bool:
    return session.scalar(sa.select(WindowServiceItem.window_id)
                          .where(WindowServiceItem.window_id == window_id).limit(1)) is not None


def hall_items(session, hall_id: int | None = None) -> list[PublicItem]:
    """The active items handled at the hall's active windows, each with the codes of
    the windows handling it (linked, or by department for windows with no links), by
    code: what the board rotates through."""
    windows = list(session.execute(
        sa.select(Window.id, Window.code, Window.department_id)
        .where(Window.active, *([Window.hall_id == hall_id] if hall_id is not None else []))
        .order_by(Window.code)))
    links: dict[int, set[int]] = defaultdict(set)  # window id -> item ids
    for window_id, item_id in session.execute(
            sa.select(WindowServiceItem.window_id, WindowServiceItem.service_item_id)):
        links[window_id].add(item_id)
    items = {item.id: item for item in session.scalars(
        sa.select(ServiceItem).where(ServiceItem.active))}
    by_department: dict[int | None, list[int]] = defaultdict(list)
    for item in items.values():
        by_department[item.department_id].append(item.id)
    handled: dict[int, list[str]] = defaultdict(list)
    for window_id, code, department_id in windows:
        ids = links.get(window_id) or by_department.get(department_id, [])
        for item_id in ids:
            if item_id in items:
                handled[item_id].append(code)
    chosen = sorted((items[i] for i in handled), key=lambda it: it.code)
    return [_public(item, tuple(handled[item.id])) for item in chosen]


# ---- the CSV import ----

@dataclass
class ItemImport:
    created: int = 0
    updated: int = 0
    linked: int = 0  # items whose windows the file set


@dataclass
class _Row:
    line: int
    code: str
    name: str
    department: str
    time_limit_days: int
    documents: list[str]
    windows: list[str] | None  # None: the file has no windows column (links kept)


def _time_limit(text: str) -> int:
    text = text.strip()
    if text in INSTANT_WORDS:
        return 0
    if not text.isdigit() or int(text) > TIME_LIMIT_MAX:
        raise ValueError(f"办理时限应为 0–{TIME_LIMIT_MAX} 的工作日数（0 或“即办”为即办件），"
                         f"收到 {text!r}")
    return int(text)


def _check(line: int, row: dict, seen: dict[str, int],
           has_windows: bool) -> tuple[_Row | None, list[str]]:
    code, name = row["code"].strip(), row["name"].strip()
    department = row["department"].strip()
    problems = []
    if not CODE.fullmatch(code):
        problems.append(f"事项编码 {code!r} 应为 1–64 位字母、数字或 . - _")
    elif code in seen:
        problems.append(f"事项编码 {code} 与第 {seen[code]} 行重复")
    else:
        seen[code] = line
    if not name or len(name) > NAME_MAX:
        problems.append(f"事项名称应为 1–{NAME_MAX} 个字")
    if len(department) > 100:
        problems.append("部门名称最多 100 个字")
    limit = 0
    try:
        limit = _time_limit(row["time_limit_days"])
    except ValueError as exc:
        problems.append(str(exc))
    documents = split_documents(row.get("documents"))
    if len(documents) > DOCUMENTS_MAX:
        problems.append(f"所需材料最多 {DOCUMENTS_MAX} 项")
    if any(len(d) > DOCUMENT_MAX for d in documents):
        problems.append(f"每项材料最多 {DOCUMENT_MAX} 个字")
    windows = None
    if has_windows:
        windows = [w for w in WINDOW_SPLIT.split(row.get("windows") or "") if w]
    if problems:
        return None, [f"第 {line} 行：" + "；".join(problems)]
    return _Row(line, code, name, department, limit, documents, windows), []


def import_items(fh: IO[str]) -> ItemImport:
    """Upsert service items by code from CSV
    ``code,name,department,time_limit_days[,documents][,windows]``; all or nothing.

    ``department`` names a department (empty: any department); ``documents`` are
    separated by ``;``; ``windows`` (window codes, separated by ``;`` or spaces) sets
    the windows that handle the item, and leaves them alone when the column is
    absent. Flushes; the caller commits. Raises ImportFailed naming every bad line.
    """
    present: set[str] = set()
    errors: list[str] = []
    seen: dict[str, int] = {}
    good: list[_Row] = []
    reader = rows(fh, {"code", "name", "department", "time_limit_days"},
                  {"documents", "windows"}, present)
    for line, row in reader:
        if "__width__" in row:
            errors.append(f"第 {line} 行：列数与表头不一致 ({row['__width__']})")
            continue
        checked, problems = _check(line, row, seen, "windows" in present)
        errors += problems
        if checked is not None:
            good.append(checked)
    if not errors and not good:
        errors.append("文件只有表头，没有事项 (the file has a header but no items)")

    departments: dict[str, list[Department]] = defaultdict(list)
    for dept in db.session.scalars(sa.select(Department)):
        departments[dept.name].append(dept)
    windows = {w.code: w for w in db.session.scalars(sa.select(Window))}
    for row in good:
        found = departments.get(row.department, [])
        if row.department and not found:
            errors.append(f"第 {row.line} 行：没有名为“{row.department}”的部门"
                          "（请先导入窗口，或核对部门名称）")
        elif len(found) > 1:
            errors.append(f"第 {row.line} 行：多个大厅都有“{row.department}”，无法确定是哪一个")
        unknown = [code for code in row.windows or () if code not in windows]
        if unknown:
            errors.append(f"第 {row.line} 行：没有窗口 {'、'.join(unknown)}")
    if errors:
        raise ImportFailed(sorted(errors, key=_line_of))

    existing = {item.code: item for item in db.session.scalars(sa.select(ServiceItem))}
    result = ItemImport()
    for row in good:
        item = existing.get(row.code)
        if item is None:
            item = ServiceItem(code=row.code, active=True)
            db.session.add(item)
            result.created += 1
        else:
            result.updated += 1
        item.name = row.name
        item.department_id = departments[row.department][0].id if row.department else None
        item.time_limit_days = row.time_limit_days
        item.documents = "\n".join(row.documents) or None
    db.session.flush()
    for row in good:
        if row.windows is None:
            continue
        item = existing.get(row.code) or db.session.scalar(
            sa.select(ServiceItem).where(ServiceItem.code == row.code))
        set_windows(item, [windows[code] for code in row.windows])
        result.linked += 1
    db.session.flush()
    return result


def _line_of(message: str) -> int:
    match = re.search(r"\d+", message)
    return int(match.group()) if match else 0


def set_windows(item: ServiceItem, windows: list[Window]) -> None:
    """Make ``windows`` the windows that handle ``item`` (flushes)."""
    db.session.execute(sa.delete(WindowServiceItem)
                       .where(WindowServiceItem.service_item_id == item.id))
    for window_id in sorted({w.id for w in windows}):
        db.session.add(WindowServiceItem(window_id=window_id, service_item_id=item.id))
    db.session.flush()


# ---- the back office's item form ----

def window_codes(item: ServiceItem) -> list[str]:
    """The codes of the windows linked to ``item``."""
    return list(db.session.scalars(
        sa.select(Window.code)
        .join(WindowServiceItem, WindowServiceItem.window_id == Window.id)
        .where(WindowServiceItem.service_item_id == item.id).order_by(Window.code)))


def save_publicity(item: ServiceItem, time_limit_days: int | None, documents: str | None,
                   windows: str | None, actor: User | None) -> ServiceItem:
    """Set what 事项公示 shows of ``item``: its time limit, its documents (one a line)
    and the windows handling it (codes separated by spaces; empty: its department's
    windows). Audited; flushes."""
    codes = [c for c in WINDOW_SPLIT.split(windows or "") if c]
    found = {w.code: w for w in db.session.scalars(sa.select(Window)
                                                   .where(Window.code.in_(codes)))}
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise FieldError("windows", f"没有窗口 {'、'.join(unknown)}")
    docs = split_documents(documents)
    if len(docs) > DOCUMENTS_MAX or any(len(d) > DOCUMENT_MAX for d in docs):
        raise FieldError("documents", f"所需材料最多 {DOCUMENTS_MAX} 项，每项最多 {DOCUMENT_MAX} 个字")
    fields = ("time_limit_days", "documents")
    before = {**audit.snapshot(item, fields), "windows": " ".join(window_codes(item))}
    item.time_limit_days = time_limit_days
    item.documents = "\n".join(docs) or None
    set_windows(item, [found[c] for c in codes])
    after = {**audit.snapshot(item, fields), "windows": " ".join(window_codes(item))}
    audit.record(actor, "service_item.update", "service_item", item.id, before, after)
    return item
