"""The audit log page (admins only): who changed what, when, before → after."""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask import render_template, request

from kiosk import audit, clock
from kiosk.users import ROLE_LABELS

from . import SETTINGS_MENU, bp, nav_item
from .scope import hall_tz

PER_PAGE = 50
# How the page names the fields and values it shows.
FIELD_LABELS = {
    "username": "用户名", "role": "角色", "department": "股室", "active": "启用",
    "failed_logins": "连续失败次数", "locked_until": "锁定至", "reason": "原因",
    "name": "名称", "code": "编号", "hall": "大厅", "window": "窗口", "staff": "工作人员",
    "ratings": "评价条数", "since": "自", "until": "至", "address": "地址",
    "hall_id": "大厅", "department_id": "部门", "window_id": "窗口", "staff_id": "工作人员",
    "staff_no": "工号", "duties": "岗位职责", "photo": "照片", "started_at": "开始时间",
    "ended_at": "结束时间", "handled_at": "处理时间", "handled_by_id": "处理人",
    "reply": "处理说明", "zh": "中文名称", "en": "英文名称", "sort_order": "排序",
}
REASONS = {"unknown user": "用户名不存在", "wrong password": "密码错误",
           "locked": "账号锁定中", "inactive": "账号已停用"}
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


def shown(field: str, value: Any, names: dict[tuple[str, str], str] | None = None) -> str:
    """A logged value as a person reads it (stored moments are naive UTC; the id of
    another record as that record's name, from ``audit.names``)."""
    if value is None or value == "":
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    kind = audit.REFERENCES.get(field)
    if kind and isinstance(value, int):
        name = (names or {}).get((kind, str(value)))
        return f"{name} #{value}" if name else f"#{value}"
    if field == "role" and value in ROLE_LABELS:
        return ROLE_LABELS[value]
    if field == "reason" and value in REASONS:
        return REASONS[value]
    if isinstance(value, str) and ISO_MOMENT.fullmatch(value):
        return clock.format_local(datetime.fromisoformat(value), hall_tz())
    return str(value)


def _day(text: str | None, errors: list[str], label: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(f"{label}“{text}”不是有效日期（格式：2026-03-01）")
        return None


@bp.get("/audit", endpoint="audit")
def audit_log():
    args = request.args
    errors: list[str] = []
    first = _day(args.get("from"), errors, "开始日期")
    last = _day(args.get("to"), errors, "结束日期")
    start, end = clock.day_range_utc(first, last, hall_tz())
    filters = {key: args.get(key, "").strip() for key in
               ("user", "action", "target_type", "target_id")}
    # 命令行 is how the page names changes made on the server's command line.
    username = audit.SYSTEM if filters["user"] == audit.SYSTEM_LABEL else filters["user"]
    entries = audit.search(username=username, action=filters["action"],
                           target_type=filters["target_type"],
                           target_id=filters["target_id"], start=start, end=end,
                           page=args.get("page", 1, type=int), per_page=PER_PAGE)
    return render_template(
        "admin/audit.html", entries=entries, filters=filters, errors=errors,
        first=first, last=last, actions=audit.actions(),
        target_types=audit.target_types(), changes=audit.changes,
        action_label=audit.action_label, target_label=audit.TARGET_LABELS.get,
        actor=audit.actor_label, names=audit.names(entries.items),
        field_label=FIELD_LABELS.get, shown=shown)


nav_item("admin.audit", "审计日志", 70, SETTINGS_MENU)
