"""The audit log: every change made in the back office, who made it, when, and the
values before and after."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination

from .db import db, utcnow
from .models import (AuditEntry, Department, Duty, Hall, ReasonCode, ServiceItem, Staff,
                     User, Window)

# What the audit page calls each action: every action the code records is named here
# (tests/test_audit.py reads the source to make sure); an unknown one shows its code.
ACTION_LABELS = {
    "auth.login": "登录",
    "auth.logout": "退出登录",
    "auth.login_failed": "登录失败",
    "auth.locked": "账号锁定",
    "user.create": "新建用户",
    "user.update": "修改用户",
    "user.password_change": "修改本人密码",
    "user.password_reset": "重置密码",
    "user.unlock": "解除锁定",
    "hall.create": "新建大厅",
    "hall.update": "修改大厅",
    "hall.delete": "删除大厅",
    "department.create": "新建部门",
    "department.update": "修改部门",
    "department.delete": "删除部门",
    "window.create": "新建窗口",
    "window.update": "修改窗口",
    "window.delete": "删除窗口",
    "staff.create": "新建工作人员",
    "staff.update": "修改工作人员",
    "staff.delete": "删除工作人员",
    "staff.photo": "更换照片",
    "staff.photo_delete": "删除照片",
    "duty.start": "开始在岗",
    "duty.end": "结束在岗",
    "duty.change": "换岗",
    "rating.reattribute": "评价改归属",
    "service_item.create": "新建服务事项",
    "service_item.update": "修改服务事项",
    "service_item.delete": "删除服务事项",
    "reason.create": "新建差评原因",
    "reason.update": "修改差评原因",
    "reason.delete": "删除差评原因",
    "reason.deactivate": "停用差评原因",
    "suggestion.handle": "处理意见建议",
    "suggestion.reopen": "重新打开意见建议",
    "phone.reveal": "查看完整号码",
    "calendar.update": "录入节假日安排",
    "calendar.delete": "删除录入的节假日安排",
    "appeal.file": "提出申诉",
    "appeal.rule": "申诉复核",
    "appeal.reverse": "撤销复核结论",
    "token.create": "创建接口令牌",
    "token.revoke": "吊销接口令牌",
    "integrity.keep": "核查：计入",
    "integrity.exclude": "核查：不计入",
    "integrity.undo": "撤销核查结论",
    "device.pair_code": "生成设备配对链接",
    "device.revoke": "吊销已配对设备",
    "alert.retry": "重新发送工作群提醒",
    "survey.create": "新建问卷",
    "survey.publish": "发布问卷",
    "survey.settings": "修改问卷有效期与投放位置",
}
TARGET_LABELS = {
    "user": "用户", "hall": "大厅", "department": "部门", "window": "窗口", "staff": "工作人员",
    "duty": "在岗记录", "service_item": "服务事项", "reason": "差评原因",
    "suggestion": "意见建议", "rating": "评价", "followup": "回访", "setting": "设置",
    "calendar": "节假日安排（年份）",
    "appeal": "申诉",
    "followup_case": "回访件",
    "api_token": "接口令牌",
    "device": "已配对设备",
    "alert": "工作群提醒",
    "survey": "问卷",
}
# Who acted when nobody was signed in and no name was tried: the server's command line.
SYSTEM = "(system)"
SYSTEM_LABEL = "命令行"
# Logged fields that hold another record's id, and the kind of record they point at.
REFERENCES = {"window_id": "window", "staff_id": "staff", "department_id": "department",
              "hall_id": "hall", "handled_by_id": "user"}


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The named attributes of ``obj``, as the audit log keeps them."""
    return {name: getattr(obj, name) for name in fields}


def _json(values: dict[str, Any] | None) -> str | None:
    if values is None:
        return None

    def plain(value: Any) -> Any:
        if isinstance(value, (datetime, date)):
            return value.isoformat()
        return value
    # Fields stay in the order given, which is the order the audit page shows.
    return json.dumps({k: plain(v) for k, v in values.items()}, ensure_ascii=False,
                      default=str)


def record(user: User | None, action: str, target_type: str | None = None,
           target_id: object = None, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None, *,
           username: str | None = None) -> AuditEntry | None:
    """Log one change (``action`` like ``window.update``). When both ``before`` and
    ``after`` are given only the fields that changed are kept, and a change that
    changed nothing is not logged (None). ``username`` names who acted when no user
    is signed in (the name a failed sign-in was tried as). Never pass a password or
    its hash. Flushes; the caller commits."""
    if before is not None and after is not None:
        changed = [k for k in after if before.get(k) != after.get(k)]
        if not changed:
            return None
        before = {k: before.get(k) for k in changed}
        after = {k: after[k] for k in changed}
    entry = AuditEntry(
        at=utcnow(), user_id=user.id if user else None,
        username=(user.username if user else (username or SYSTEM))[:64], action=action,
        target_type=target_type, target_id=None if target_id is None else str(target_id),
        before=_json(before), after=_json(after))
    db.session.add(entry)
    db.session.flush()
    return entry


def action_label(action: str) -> str:
    """The audit page's name for an action code (the code itself when unnamed)."""
    return ACTION_LABELS.get(action, action)


def actor_label(entry: AuditEntry) -> str:
    """Who acted, as the audit page says it: the user name, or 命令行 for a change made
    on the server's command line."""
    return SYSTEM_LABEL if entry.user_id is None and entry.username == SYSTEM else entry.username


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any


def changes(entry: AuditEntry) -> list[Change]:
    """The entry's fields as before → after pairs, in field order (a missing side is
    None: a creation has no before, a deletion no after)."""
    before = json.loads(entry.before) if entry.before else {}
    after = json.loads(entry.after) if entry.after else {}
    fields = list(dict.fromkeys([*before, *after]))
    return [Change(name, before.get(name), after.get(name)) for name in fields]


def search(*, username: str | None = None, action: str | None = None,
           target_type: str | None = None, target_id: str | None = None,
           start: datetime | None = None, end: datetime | None = None,
           page: int = 1, per_page: int = 50) -> Pagination:
    """Audit entries, newest first, matching every filter given: ``username`` exactly,
    ``action`` exactly or as a prefix when it ends with ``.`` (``user.``),
    ``target_type``/``target_id`` exactly, ``start <= at < end`` (naive UTC)."""
    query = sa.select(AuditEntry)
    if username:
        query = query.where(AuditEntry.username == username)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True)
                            if action.endswith(".") else AuditEntry.action == action)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    if start is not None:
        query = query.where(AuditEntry.at >= start)
    if end is not None:
        query = query.where(AuditEntry.at < end)
    query = query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    return db.paginate(query, page=page, per_page=per_page, error_out=False, count=True)


def actions() -> list[str]:
    """Every action code in the log, for the filter list."""
    return list(db.session.scalars(sa.select(AuditEntry.action).distinct()
                                   .order_by(AuditEntry.action)))


def target_types() -> list[str]:
    """Every target type in the log, for the filter list."""
    return list(db.session.scalars(
        sa.select(AuditEntry.target_type).where(AuditEntry.target_type.is_not(None))
        .distinct().order_by(AuditEntry.target_type)))


def _named(kind: str, ids: set[str]) -> dict[str, str]:
    """Display names of the ``kind`` records with these ids (absent: deleted since)."""
    if kind == "reason":
        return dict(db.session.execute(
            sa.select(ReasonCode.code, ReasonCode.zh).where(ReasonCode.code.in_(ids))).all())
    numbers = [int(i) for i in ids if i.isdigit()]
    if not numbers:
        return {}
    if kind == "window":
        rows = db.session.execute(sa.select(Window.id, Window.code + " " + Window.name)
                                  .where(Window.id.in_(numbers)))
    elif kind == "staff":
        rows = db.session.execute(sa.select(Staff.id, Staff.name, Staff.staff_no)
                                  .where(Staff.id.in_(numbers)))
        rows = [(i, f"{name}（{no}）") for i, name, no in rows]
    elif kind == "department":
        rows = db.session.execute(sa.select(Department.id, Department.name)
                                  .where(Department.id.in_(numbers)))
    elif kind == "hall":
        rows = db.session.execute(sa.select(Hall.id, Hall.name).where(Hall.id.in_(numbers)))
    elif kind == "user":
        rows = db.session.execute(sa.select(User.id, User.username).where(User.id.in_(numbers)))
    elif kind == "service_item":
        rows = db.session.execute(
            sa.select(ServiceItem.id, ServiceItem.code + " " + ServiceItem.name)
            .where(ServiceItem.id.in_(numbers)))
    elif kind == "duty":
        rows = db.session.execute(
            sa.select(Duty.id, Window.code, Staff.name).join(Window, Duty.window_id == Window.id)
            .join(Staff, Duty.staff_id == Staff.id).where(Duty.id.in_(numbers)))
        rows = [(i, f"{code} · {name}") for i, code, name in rows]
    else:
        return {}
    return {str(i): name for i, name in rows}


def names(entries: Iterable[AuditEntry]) -> dict[tuple[str, str], str]:
    """What the records an audit page shows are called now, by (kind, id): the entries'
    targets and the ids their logged fields hold (``REFERENCES``), looked up with one
    query per kind. The log itself keeps the ids as they were."""
    wanted: dict[str, set[str]] = {}
    for entry in entries:
        if entry.target_type and entry.target_id:
            wanted.setdefault(entry.target_type, set()).add(entry.target_id)
        for change in changes(entry):
            kind = REFERENCES.get(change.field)
            for value in (change.before, change.after):
                if kind and isinstance(value, int) and not isinstance(value, bool):
                    wanted.setdefault(kind, set()).add(str(value))
    return {(kind, i): name for kind, ids in wanted.items()
            for i, name in _named(kind, ids).items()}
