"""The audit log: every change made in the back office, who made it, when, and the
values before and after."""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from .db import db, utcnow
from .models import AuditEntry, User


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
    return json.dumps({k: plain(v) for k, v in values.items()}, ensure_ascii=False,
                      sort_keys=True, default=str)


def record(user: User | None, action: str, target_type: str | None = None,
           target_id: object = None, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None) -> AuditEntry | None:
    """Log one change (``action`` like ``window.update``). When both ``before`` and
    ``after`` are given only the fields that changed are kept, and a change that
    changed nothing is not logged (None). Flushes; the caller commits."""
    if before is not None and after is not None:
        changed = [k for k in after if before.get(k) != after.get(k)]
        if not changed:
            return None
        before = {k: before.get(k) for k in changed}
        after = {k: after[k] for k in changed}
    entry = AuditEntry(
        at=utcnow(), user_id=user.id if user else None,
        username=user.username if user else "(system)", action=action,
        target_type=target_type, target_id=None if target_id is None else str(target_id),
        before=_json(before), after=_json(after))
    db.session.add(entry)
    db.session.flush()
    return entry
