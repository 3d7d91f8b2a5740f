"""The duty roster (挂牌): who is on duty at which window, from when until when.

A duty in force at a moment follows the rule of ``Window.duty_at`` (the rating write
path and imports apply the same rule). Changes made here keep the roster simple
enough for that rule to read plainly: a clerk is never on duty at two windows at
once, the duties of one window never overlap, a duty never ends before it began, and
nothing starts or ends in the future. 换岗 ends the current duty and starts the next at
the same instant, so no tap falls between two clerks or onto both.

A change may be back-dated (a clerk who started at 08:30 is put on the roster at
09:30). Every change then re-attributes the window's ratings tapped since its moment
by the same rule, and moves their counts in the live summary in the same flush, so
the staff tables credit the clerk who really was at the window.

Times are naive UTC (as stored); messages show them in the hall's time zone. Every
function locks what it changes, writes the audit log and flushes; the caller commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from . import audit, clock, summary
from .db import db
from .imports import DutyRoster
from .models import Duty, Rating, Staff, User, Window
from .records import FieldError

DUTY_FIELDS = ("window_id", "staff_id", "started_at", "ended_at")
# A form's "now" may be a few seconds behind the server's; more than this ahead is a
# mistake (a duty planned for later is not something the roster keeps).
FUTURE_SLACK = timedelta(minutes=1)
MOVE_CHUNK = 500  # rating ids per UPDATE when re-attributing


@dataclass
class OnDuty:
    """One window and the duty in force there now (None: nobody on duty)."""

    window: Window
    duty: Duty | None


def current_duty(window: Window, now: datetime) -> Duty | None:
    """The duty in force at ``window`` at ``now`` (the rule of Window.duty_at)."""
    return db.session.scalar(window.duty_at(now))


def on_duty_now(windows: list[Window], now: datetime) -> list[OnDuty]:
    """Each window with its duty in force at ``now``, in one query."""
    ids = [w.id for w in windows]
    duties: dict[int, Duty] = {}
    if ids:
        query = (sa.select(Duty).where(
            Duty.window_id.in_(ids), Duty.started_at <= now,
            sa.or_(Duty.ended_at.is_(None), Duty.ended_at > now))
            .options(joinedload(Duty.staff))  # every page shows the clerk
            .order_by(Duty.started_at))
        for duty in db.session.scalars(query):
            duties[duty.window_id] = duty  # the latest started wins, as in duty_at
    return [OnDuty(w, duties.get(w.id)) for w in windows]


def history(window: Window) -> sa.Select[tuple[Duty]]:
    """The window's duties, newest first."""
    return (sa.select(Duty).where(Duty.window_id == window.id)
            .order_by(Duty.started_at.desc(), Duty.id.desc()))


def start_duty(window: Window, staff: Staff, at: datetime, now: datetime, tz: ZoneInfo,
               actor: User | None) -> Duty:
    """Put ``staff`` on duty at ``window`` from ``at`` (open-ended)."""
    _lock(window, staff)
    _check_moment(at, now, tz, "started_at", "开始")
    _check_clerk(staff, at, tz)
    clash = _window_busy(window, at)
    if clash is not None:
        raise FieldError("staff_id", f"该窗口{_since(clash, tz)}已有 {_who(clash.staff)} 在岗，"
                                     "请使用“换岗”，或先结束当前在岗")
    duty = _begin(window, staff, at, actor, "duty.start")
    reattribute(window, at, now, tz, actor)
    return duty


def end_duty(duty: Duty, at: datetime, now: datetime, tz: ZoneInfo,
             actor: User | None) -> Duty:
    """End an open duty at ``at``."""
    _lock(duty.window)
    db.session.refresh(duty)
    if duty.ended_at is not None:
        raise FieldError(None, f"这条在岗记录已于 {_local(duty.ended_at, tz)} 结束")
    _check_moment(at, now, tz, "ended_at", "结束")
    if at < duty.started_at:
        raise FieldError("ended_at", f"结束时间不能早于开始时间（{_local(duty.started_at, tz)}）")
    before = audit.snapshot(duty, DUTY_FIELDS)
    duty.ended_at = at
    db.session.flush()
    audit.record(actor, "duty.end", "duty", duty.id, before, audit.snapshot(duty, DUTY_FIELDS))
    reattribute(duty.window, at, now, tz, actor)
    return duty


def change_duty(window: Window, next_staff: Staff, at: datetime, now: datetime,
                tz: ZoneInfo, actor: User | None) -> Duty:
    """换岗: end the duty in force at ``window`` at ``at`` and start ``next_staff``'s at
    the same instant, in one step. With nobody on duty it simply starts the next."""
    _lock(window, next_staff)
    _check_moment(at, now, tz, "at", "换岗")
    current = current_duty(window, at)
    if current is not None and current.staff_id == next_staff.id:
        raise FieldError("staff_id", f"{_who(next_staff)} 已在该窗口在岗")
    later = db.session.scalar(sa.select(Duty).where(
        Duty.window_id == window.id, Duty.id != (current.id if current else -1),
        sa.or_(Duty.ended_at.is_(None), Duty.ended_at > at)).limit(1))
    if later is not None:
        raise FieldError("at", f"该窗口在 {_local(at, tz)} 之后还有 {_who(later.staff)} "
                               f"{_since(later, tz)}的在岗记录，换岗时间不能早于它")
    _check_clerk(next_staff, at, tz)
    if current is not None:
        before = audit.snapshot(current, DUTY_FIELDS)
        current.ended_at = at
        db.session.flush()
        audit.record(actor, "duty.end", "duty", current.id, before,
                     audit.snapshot(current, DUTY_FIELDS))
    duty = _begin(window, next_staff, at, actor, "duty.change" if current else "duty.start")
    reattribute(window, at, now, tz, actor)
    return duty


def reattribute(window: Window, since: datetime, now: datetime, tz: ZoneInfo,
                actor: User | None) -> int:
    """Give the window's ratings tapped in [``since``, ``now``) to the clerk the roster
    now says was on duty at each tap (the rule of Window.duty_at, via DutyRoster),
    moving their counts in the live summary in the same flush. Audited; returns how
    many ratings moved. Nothing to do for a change made at the present moment."""
    if since >= now:
        return 0
    db.session.flush()
    duties = db.session.scalars(sa.select(Duty).where(
        Duty.window_id == window.id, Duty.started_at < now,
        sa.or_(Duty.ended_at.is_(None), Duty.ended_at > since)))
    rule = DutyRoster(duties)
    moves: dict[tuple[int | None, int | None], list[int]] = {}
    for rating_id, created_at, staff_id in db.session.execute(
            sa.select(Rating.id, Rating.created_at, Rating.staff_id).where(
                Rating.window_id == window.id, Rating.created_at >= since,
                Rating.created_at < now)):
        on_duty = rule.staff_at(window.id, created_at)
        if on_duty != staff_id:
            moves.setdefault((staff_id, on_duty), []).append(rating_id)
    delta = summary.Delta(tz)
    moved = 0
    for (old, new), ids in sorted(moves.items(), key=lambda m: (m[0][0] or 0, m[0][1] or 0)):
        for i in range(0, len(ids), MOVE_CHUNK):
            # Only rows still with the old clerk: a row changed meanwhile is not
            # counted twice in the summary.
            rows = db.session.execute(
                sa.update(Rating)
                .where(Rating.id.in_(ids[i:i + MOVE_CHUNK]),
                       Rating.staff_id.is_(None) if old is None else Rating.staff_id == old)
                .values(staff_id=new)
                .returning(Rating.created_at, Rating.score, Rating.counted)
                .execution_options(synchronize_session="fetch")).all()
            moved += len(rows)
            for created_at, score, counted in rows:
                if counted:
                    delta.add(created_at, window.id, old, score, -1)
                    delta.add(created_at, window.id, new, score, 1)
    summary.apply_in_session(db.session, delta)
    if moved:
        audit.record(actor, "rating.reattribute", "window", window.id, None,
                     {"ratings": moved, "since": since, "until": now})
    return moved


# ---- the checks ----

def _begin(window: Window, staff: Staff, at: datetime, actor: User | None,
           action: str) -> Duty:
    duty = Duty(window_id=window.id, staff_id=staff.id, started_at=at)
    db.session.add(duty)
    db.session.flush()
    audit.record(actor, action, "duty", duty.id, None, audit.snapshot(duty, DUTY_FIELDS))
    return duty


def _lock(window: Window, *staff: Staff) -> None:
    """Hold the window's row (and the clerks') until commit, so two people changing the
    roster at once are taken one after the other. An UPDATE rather than SELECT ... FOR
    UPDATE, which SQLite ignores: there it takes the database's write lock."""
    unsynced = {"synchronize_session": False}
    db.session.execute(sa.update(Window).where(Window.id == window.id)
                       .values(active=Window.active), execution_options=unsynced)
    for clerk in staff:
        db.session.execute(sa.update(Staff).where(Staff.id == clerk.id)
                           .values(active=Staff.active), execution_options=unsynced)


def _check_moment(at: datetime, now: datetime, tz: ZoneInfo, field: str, what: str) -> None:
    if at > now + FUTURE_SLACK:
        raise FieldError(field, f"{what}时间不能晚于现在（{_local(now, tz)}）")


def _check_clerk(staff: Staff, at: datetime, tz: ZoneInfo) -> None:
    """The clerk is active and has no duty anywhere that runs on at or after ``at``."""
    if not staff.active:
        raise FieldError("staff_id", f"{_who(staff)} 已停用，不能挂牌")
    clash = db.session.scalar(
        sa.select(Duty).where(Duty.staff_id == staff.id,
                              sa.or_(Duty.ended_at.is_(None), Duty.ended_at > at))
        .order_by(Duty.started_at.desc()).limit(1))
    if clash is None:
        return
    if clash.ended_at is None:
        raise FieldError("staff_id", f"{_who(staff)} 正在 {clash.window.code} 窗口在岗"
                                     f"{_since(clash, tz)}，同一人不能同时在两个窗口挂牌")
    raise FieldError("staff_id", f"{_who(staff)} 在 {clash.window.code} 窗口有 "
                                 f"{_local(clash.started_at, tz)}–{_local(clash.ended_at, tz)} "
                                 "的在岗记录，与此时间重叠")


def _window_busy(window: Window, at: datetime) -> Duty | None:
    """A duty at the window that is open or runs past ``at``."""
    return db.session.scalar(
        sa.select(Duty).where(Duty.window_id == window.id,
                              sa.or_(Duty.ended_at.is_(None), Duty.ended_at > at))
        .order_by(Duty.started_at.desc()).limit(1))


def _who(staff: Staff) -> str:
    return f"{staff.name}（{staff.staff_no}）"


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return clock.format_local(moment, tz)


def _since(duty: Duty, tz: ZoneInfo) -> str:
    return f"（自 {_local(duty.started_at, tz)} 起）"
