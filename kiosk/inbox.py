"""The suggestions inbox (意见箱): finding suggestions, marking them handled with a
reply note, reopening them, and the CSV the hall office keeps.

Services flush, never commit; every change is written to the audit log.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from . import audit, clock, paging
from .db import db, utcnow
from .fields import InputError
from .glance import Scope
from .models import Suggestion, User, Window
from .privacy import masked_phone, may_see_whole_phone, unseal_phone
from .scale import CHANNELS

REPLY_MAX = 1000
PER_PAGE = 20
STATUSES = {"all": "全部", "open": "未处理", "handled": "已处理"}
AUDITED = ("handled_at", "handled_by_id", "reply")


@dataclass(frozen=True)
class InboxFilter:
    """What the inbox shows: a status, one window, a range of hall-time days, a text."""

    status: str = "all"
    window: str | None = None  # window code
    first: date | None = None
    last: date | None = None
    text: str | None = None

    def conditions(self, tz: ZoneInfo) -> list:
        where = []
        if self.status == "open":
            where.append(Suggestion.handled_at.is_(None))
        elif self.status == "handled":
            where.append(Suggestion.handled_at.is_not(None))
        if self.window:
            where.append(Suggestion.window_id.in_(
                sa.select(Window.id).where(Window.code == self.window)))
        start, end = clock.day_range_utc(self.first, self.last, tz)
        if start is not None:
            where.append(Suggestion.created_at >= start)
        if end is not None:
            where.append(Suggestion.created_at < end)
        if self.text:
            where.append(Suggestion.text.icontains(self.text, autoescape=True))
        return where


def visible(scope: Scope) -> list:
    """Conditions for the suggestions a scope may read: a department head only those
    left at their department's windows (a suggestion with no window is the hall's)."""
    if scope.everything:
        return []
    return [Suggestion.window_id.in_(scope.window_ids())]


def _query(scope: Scope, flt: InboxFilter, tz: ZoneInfo) -> sa.Select:
    return (sa.select(Suggestion)
            .where(*visible(scope), *flt.conditions(tz))
            .options(joinedload(Suggestion.window).joinedload(Window.department),
                     joinedload(Suggestion.handled_by)))


def find(scope: Scope, flt: InboxFilter, tz: ZoneInfo, number: int = 1,
         per_page: int = PER_PAGE) -> paging.Page:
    """One page of the suggestions that match, newest first."""
    query = _query(scope, flt, tz)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Suggestion).where(
        *visible(scope), *flt.conditions(tz)))
    return paging.fetch(query.order_by(Suggestion.created_at.desc(), Suggestion.id.desc()),
                        total, number, per_page)


def matching(scope: Scope, flt: InboxFilter, tz: ZoneInfo) -> list[Suggestion]:
    """Every suggestion that matches, newest first (for the export)."""
    return list(db.session.scalars(
        _query(scope, flt, tz).order_by(Suggestion.created_at.desc(), Suggestion.id.desc())
    ).unique())


def newest(scope: Scope, limit: int = 5) -> list[Suggestion]:
    """The newest suggestions a scope may read (the dashboard's list)."""
    return list(db.session.scalars(
        sa.select(Suggestion).where(*visible(scope))
        .options(joinedload(Suggestion.window))
        .order_by(Suggestion.created_at.desc(), Suggestion.id.desc()).limit(limit)))


def get(scope: Scope, suggestion_id: int) -> Suggestion | None:
    """One suggestion, or None when it does not exist or the scope may not read it."""
    return db.session.scalar(sa.select(Suggestion).where(
        Suggestion.id == suggestion_id, *visible(scope)))


def open_count(scope: Scope) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Suggestion).where(
        Suggestion.handled_at.is_(None), *visible(scope)))


def mark_handled(suggestion: Suggestion, user: User, reply: str,
                 now: datetime | None = None) -> None:
    """Mark a suggestion handled by ``user`` with a reply note (required). Audited;
    flushes. Marking it again updates the note and who handled it."""
    reply = (reply or "").strip()
    if not reply:
        raise InputError("请填写处理说明（答复内容或处理结果）")
    if len(reply) > REPLY_MAX:
        raise InputError(f"处理说明不能超过 {REPLY_MAX} 字")
    before = audit.snapshot(suggestion, AUDITED)
    suggestion.handled_at = now or utcnow()
    suggestion.handled_by_id = user.id
    suggestion.reply = reply
    db.session.flush()
    audit.record(user, "suggestion.handle", "suggestion", suggestion.id, before,
                 audit.snapshot(suggestion, AUDITED))


def reopen(suggestion: Suggestion, user: User) -> bool:
    """Put a handled suggestion back among the unhandled ones (the note is kept as a
    draft). Audited; flushes. False if it was not handled."""
    if suggestion.handled_at is None:
        return False
    before = audit.snapshot(suggestion, AUDITED)
    suggestion.handled_at = None
    suggestion.handled_by_id = None
    db.session.flush()
    audit.record(user, "suggestion.reopen", "suggestion", suggestion.id, before,
                 audit.snapshot(suggestion, AUDITED))
    return True


def reveal_phone(suggestion: Suggestion, user: User) -> str | None:
    """The suggestion's number whole, for a role ``may_see_whole_phone`` allows;
    every reveal goes to the audit log (never the number itself). Flushes. None when
    it left no number; PermissionError for any other role."""
    if not may_see_whole_phone(user.role):
        raise PermissionError("only callers and admins may see a whole number")
    if not suggestion.phone:
        return None
    audit.record(user, "phone.reveal", "suggestion", suggestion.id)
    return unseal_phone(suggestion.phone)


CSV_HEADER = ("编号", "提交时间", "窗口编号", "窗口名称", "部门", "意见内容", "联系电话",
              "渠道", "状态", "处理时间", "处理人", "处理说明")


def csv_rows(suggestions: Iterable[Suggestion], tz: ZoneInfo) -> Iterable[tuple]:
    """The export's rows (CSV_HEADER), times in hall time, phones masked for every
    role: a file travels, and a reveal is one number on screen, logged."""
    def local(moment: datetime | None) -> str:
        return clock.format_local(moment, tz)

    for s in suggestions:
        window = s.window
        channel = CHANNELS.get(s.channel or "")
        yield (s.id, local(s.created_at), window.code if window else "",
               window.name if window else "", window.department.name if window else "",
               s.text, masked_phone(s.phone) or "",
               channel.zh if channel else "", "已处理" if s.handled_at else "未处理",
               local(s.handled_at), s.handled_by.username if s.handled_by else "",
               s.reply if s.handled_at else "")
