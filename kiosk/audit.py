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
from .models import AuditEntry, User

# What the audit page calls an action; an action not named here is read as
# "<thing><verb>" from TARGET_LABELS and VERB_LABELS, or shown as its code.
ACTION_LABELS = {
    "auth.login": "登录",
    "auth.login_failed": "登录失败",
    "auth.locked": "账号锁定",
    "user.password_change": "修改本人密码",
    "user.password_reset": "重置密码",
    "user.unlock": "解除锁定",
}
TARGET_LABELS = {
    "user": "用户", "hall": "大厅", "department": "股室", "window": "窗口", "staff": "工作人员",
    "duty": "挂牌", "service_item": "服务事项", "reason": "差评原因", "suggestion": "意见建议",
    "rating": "评价", "followup": "回访", "setting": "设置",
}
VERB_LABELS = {"create": "新建", "update": "修改", "delete": "删除", "deactivate": "停用",
               "activate": "启用", "handle": "处理", "exclude": "剔除", "reinstate": "恢复"}


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
        username=(user.username if user else (username or "(system)"))[:64], action=action,
        target_type=target_type, target_id=None if target_id is None else str(target_id),
        before=_json(before), after=_json(after))
    db.session.add(entry)
    db.session.flush()
    return entry


def action_label(action: str) -> str:
    """The audit page's name for an action code."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    thing, _, verb = action.partition(".")
    if thing in TARGET_LABELS and verb in VERB_LABELS:
        return TARGET_LABELS[thing] + VERB_LABELS[verb]
    return action


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
