"""Follow-up cases (差评回访整改): who may do what to a case, the steps of its life
(call attempts, assignment, rectification, the citizen's view, closing, reopening),
the department's appeals and the supervisor's rulings, and when a case is overdue.

Every step checks ``may`` (one table of who may do what), refuses a form posted from
an older view of the case (``seen_version``: optimistic concurrency, so two people
never overwrite each other unseen), bumps ``case.version`` with a guarded UPDATE (a
concurrent step waits for the row and then sees the new version), and writes one
``CaseEvent``: one bump, one event, so a conflict can say exactly what changed since.

Services flush, never commit; the view or the command commits.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm.attributes import set_committed_value

from . import audit, clock, summary
from .db import db, utcnow
from .fields import InputError
from .models import Appeal, AuditEntry, CaseEvent, FollowupCase, Rating, User, Window
from .scale import APPEAL, counts, is_bad, with_flag

# One source of truth for what each code is called (pages, exports and the history).
KIND_LABELS = {"callback": "差评回访", "verify": "现场核实", "sample": "抽查回访"}
STATUS_LABELS = {"open": "待处理", "in_progress": "处理中", "closed": "已结案"}
ATTEMPT_RESULTS = {"reached": "已接通", "no_answer": "无人接听", "wrong_number": "号码错误",
                   "refused": "拒绝回访"}
CITIZEN_VIEWS = {"satisfied": "满意", "unsatisfied": "不满意"}
OUTCOMES = {"resolved": "已整改", "explained": "已解释说明", "no_fault": "核实无责",
            "unreachable": "多次联系未果", "sample_confirmed": "抽查属实",
            "sample_disputed": "抽查不符", "appeal_upheld": "申诉成立"}
APPEAL_STATUS_LABELS = {"pending": "待复核", "upheld": "申诉成立", "rejected": "申诉不成立",
                        "reversed": "已撤销"}
# What each step is called in a case's history (CaseEvent.action).
EVENT_LABELS = {"open": "立案", "attempt": "电话回访", "assign": "指派", "take": "领取",
                "rectify": "核实整改", "citizen_view": "整改后群众评价", "close": "结案",
                "reopen": "重新打开", "appeal": "提出申诉", "rule": "申诉复核",
                "reverse": "撤销复核结论"}
ACTIONS = ("attempt", "assign", "take", "rectify", "citizen_view", "close", "reopen",
           "appeal", "rule", "reverse")

# The outcomes a case of each kind may close with (appeal_upheld only by a ruling).
KIND_OUTCOMES = {
    "callback": ("resolved", "explained", "no_fault", "unreachable"),
    "verify": ("resolved", "explained", "no_fault"),
    "sample": ("sample_confirmed", "sample_disputed", "unreachable"),
}
UNANSWERED = ("no_answer", "wrong_number")  # attempts that did not reach the citizen
UNREACHABLE_ATTEMPTS = 2  # "多次联系未果" needs at least this many of them
WORKING_MINUTES = 15  # how long "X is working on this case" stays true without a touch
NOTE_MAX = 1000

# Who may do what, by role (the department's own-windows rule and the case's state
# are checked in ``refusal``).
ROLE_ACTIONS = {
    "admin": {"attempt", "assign", "take", "citizen_view", "close", "reopen", "rule",
              "reverse"},
    "supervisor": {"assign", "close", "reopen", "rule", "reverse"},
    "caller": {"attempt", "take", "citizen_view", "close"},
    "department": {"rectify", "appeal", "close"},
}
# Steps that still make sense once a case is closed.
ON_CLOSED = {"reopen", "reverse"}
# Steps that are work on the case: the first one moves it from open to in_progress.
WORK = {"attempt", "rectify", "citizen_view", "appeal"}


class CaseError(InputError):
    """A step on a case that cannot be done, with a message a person can act on."""


class CaseConflict(CaseError):
    """The case changed since the form was shown (someone else saved a step)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 409)


# --- overdue --------------------------------------------------------------------

def is_overdue(case: FollowupCase, today: date) -> bool:
    """Whether ``case`` is overdue on the hall-local day ``today``: not closed, and
    not contacted after its contact day or not resolved after its resolve day (each
    due by the end of that day)."""
    if case.status == "closed":
        return False
    return (case.contacted_at is None and today > case.contact_due) or today > case.resolve_due


def overdue_clause(today: date) -> sa.ColumnElement[bool]:
    """``is_overdue`` as a condition over FollowupCase, for lists and counts."""
    return sa.and_(
        FollowupCase.status != "closed",
        sa.or_(sa.and_(FollowupCase.contacted_at.is_(None), FollowupCase.contact_due < today),
               FollowupCase.resolve_due < today))


# --- who may do what -------------------------------------------------------------

def _department_id(case: FollowupCase) -> int | None:
    window = case.window or db.session.get(Window, case.window_id)
    return window.department_id if window else None


def _rating(case: FollowupCase) -> Rating:
    return case.rating or db.session.get(Rating, case.rating_id)


def refusal(user: User, action: str, case: FollowupCase) -> str | None:
    """Why ``user`` may not do ``action`` on ``case`` now (a Chinese sentence), or None
    when they may. The one place that says who may do what."""
    if action not in ACTIONS:
        raise ValueError(f"unknown case action {action!r}")
    if action not in ROLE_ACTIONS.get(user.role, ()):
        return "您的角色不能进行此操作"
    if user.role == "department":
        if not user.department_id or _department_id(case) != user.department_id:
            return "只能处理本部门窗口的回访件"
        if action == "close" and case.kind != "verify":
            return "部门只能对现场核实件结案"
    if case.status == "closed" and action not in ON_CLOSED:
        return "此回访件已结案"
    if action == "reopen" and case.status != "closed":
        return "此回访件尚未结案"
    if action == "reopen" and case.outcome == "appeal_upheld":
        return "此件因申诉成立结案，如需重新处理请撤销复核结论"
    if action == "attempt" and case.kind == "verify":
        return "现场核实件没有联系电话，无需电话回访"
    if action == "rectify" and case.kind == "sample":
        return "抽查回访件无需整改"
    if action == "appeal" and (case.kind == "sample" or not is_bad(_rating(case).score)):
        return "只能对差评提出申诉"
    return None


def may(user: User, action: str, case: FollowupCase) -> bool:
    """Whether ``user`` may do ``action`` (one of ACTIONS) on ``case`` now."""
    return refusal(user, action, case) is None


def _require(user: User, action: str, case: FollowupCase) -> None:
    reason = refusal(user, action, case)
    if reason is not None:
        status = 403 if reason in ("您的角色不能进行此操作", "只能处理本部门窗口的回访件",
                                   "部门只能对现场核实件结案") else 409
        raise CaseError(reason, status)


def visible_cases(user: User) -> sa.Select:
    """The cases ``user`` may see, as a select to add filters and an order to: every
    case, or for a department head only those of their department's windows."""
    query = sa.select(FollowupCase)
    if user.role == "department":
        query = query.where(FollowupCase.window_id.in_(
            sa.select(Window.id).where(Window.department_id == (user.department_id or 0))))
    return query


def can_see(user: User, case: FollowupCase) -> bool:
    """Whether ``user`` may see ``case`` at all (``visible_cases`` for one case)."""
    return user.role != "department" or (
        bool(user.department_id) and _department_id(case) == user.department_id)


# --- the history ------------------------------------------------------------------

def history(case: FollowupCase) -> list[CaseEvent]:
    """The case's steps, oldest first."""
    return list(db.session.scalars(sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
                                   .order_by(CaseEvent.at, CaseEvent.id)))


def appeals(case: FollowupCase) -> list[Appeal]:
    """The appeals filed on the case, oldest first."""
    return list(db.session.scalars(sa.select(Appeal).where(Appeal.case_id == case.id)
                                   .order_by(Appeal.filed_at, Appeal.id)))


def pending_appeal(case: FollowupCase) -> Appeal | None:
    return db.session.scalar(sa.select(Appeal).where(Appeal.case_id == case.id,
                                                     Appeal.status == "pending"))


def unanswered_attempts(case: FollowupCase) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == case.id, CaseEvent.action == "attempt",
        CaseEvent.result.in_(UNANSWERED))) or 0


def describe(event: CaseEvent) -> str:
    """One step as a person reads it: 电话回访（无人接听）, 结案（已整改）, ..."""
    label = EVENT_LABELS.get(event.action, event.action)
    detail = (ATTEMPT_RESULTS.get(event.result) or CITIZEN_VIEWS.get(event.result)
              or OUTCOMES.get(event.result) or APPEAL_STATUS_LABELS.get(event.result)
              or event.result)
    return f"{label}（{detail}）" if detail else label


def _hall_tz() -> ZoneInfo:
    return clock.zone(current_app.config["TIMEZONE"]) if has_app_context() else ZoneInfo("UTC")


def _conflict(case: FollowupCase, seen: int) -> CaseConflict:
    """The conflict for a form that saw version ``seen``: names who did what since
    (each bump wrote one event, so the newest ``version - seen`` events are those)."""
    since = max(1, case.version - seen)
    events = list(db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.id.desc()).limit(min(since, 3))))
    tz = _hall_tz()
    done = "；".join(f"{e.username} 于 {clock.format_local(e.at, tz, '%m-%d %H:%M')} "
                    f"{describe(e)}" for e in reversed(events))
    more = f"等 {since} 项" if since > 3 else ""
    return CaseConflict(f"此回访件在您打开后已被修改：{done or '有人更新了它'}{more}。"
                        "请查看最新情况后再提交。")


def _check_seen(case: FollowupCase, seen_version: int | str | None) -> None:
    if seen_version is None or seen_version == "":
        return
    try:
        seen = int(seen_version)
    except (TypeError, ValueError):
        raise CaseError("页面版本号无效，请刷新后重试") from None
    if seen != case.version:
        raise _conflict(case, seen)


def _bump(case: FollowupCase) -> None:
    """Take the next version, or fail if another transaction took it first (on
    PostgreSQL the UPDATE waits for that one to commit, then matches no row)."""
    current = case.version
    done = db.session.execute(
        sa.update(FollowupCase).where(FollowupCase.id == case.id,
                                      FollowupCase.version == current)
        .values(version=current + 1).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        db.session.refresh(case)
        raise _conflict(case, current)
    set_committed_value(case, "version", current + 1)


def _note(note: str | None, required: str | None = None) -> str | None:
    note = (note or "").strip()
    if not note:
        if required:
            raise CaseError(required)
        return None
    if len(note) > NOTE_MAX:
        raise CaseError(f"说明不能超过 {NOTE_MAX} 字")
    return note


def _step(case: FollowupCase, user: User, action: str, *, seen_version=None,
          result: str | None = None, note: str | None = None,
          status: str | None = None, now: datetime | None = None) -> CaseEvent:
    """The shared part of every step, after its own checks passed: the version (seen,
    then bumped), the status (``status``, or in_progress on the first work), the
    event. Flushes."""
    _check_seen(case, seen_version)
    _bump(case)
    before = case.status
    if status is not None:
        case.status = status
    elif action in WORK and case.status == "open":
        case.status = "in_progress"
    event = CaseEvent(case_id=case.id, at=now or utcnow(), user_id=user.id,
                      username=user.username[:64], action=action, result=result, note=note,
                      status_before=before, status_after=case.status)
    db.session.add(event)
    db.session.flush()
    return event


# --- the steps --------------------------------------------------------------------

def record_attempt(case: FollowupCase, user: User, result: str, note: str | None = None,
                   seen_version=None, *, now: datetime | None = None) -> CaseEvent:
    """One call to the citizen and how it went (ATTEMPT_RESULTS). The first attempt
    makes the case contacted; the first ``reached`` one, reached."""
    _require(user, "attempt", case)
    if result not in ATTEMPT_RESULTS:
        raise CaseError("请选择回访结果：" + "、".join(ATTEMPT_RESULTS.values()))
    note = _note(note)
    now = now or utcnow()
    event = _step(case, user, "attempt", seen_version=seen_version, result=result,
                  note=note, now=now)
    if case.contacted_at is None:
        case.contacted_at = now
    if result == "reached" and case.reached_at is None:
        case.reached_at = now
    db.session.flush()
    return event


def assign(case: FollowupCase, user: User, assignee: User | None, seen_version=None, *,
           now: datetime | None = None) -> CaseEvent:
    """Give the case to a caller (``assignee`` None: to nobody)."""
    _require(user, "assign", case)
    if assignee is not None and assignee.role not in ("caller", "admin"):
        raise CaseError("只能指派给回访员")
    if assignee is not None and not assignee.active:
        raise CaseError("该用户已停用")
    note = f"指派给 {assignee.username}" if assignee else "取消指派"
    event = _step(case, user, "assign", seen_version=seen_version, note=note, now=now)
    case.assigned_to_id = assignee.id if assignee else None
    db.session.flush()
    return event


def take(case: FollowupCase, user: User, seen_version=None, *,
         now: datetime | None = None) -> CaseEvent:
    """A caller takes the case for themself (not one already given to someone else)."""
    _require(user, "take", case)
    if case.assigned_to_id == user.id:
        raise CaseError("您已领取此回访件", 409)
    if case.assigned_to_id is not None:
        other = db.session.get(User, case.assigned_to_id)
        raise CaseError(f"此回访件已指派给 {other.username if other else '他人'}", 409)
    event = _step(case, user, "take", seen_version=seen_version, note=f"{user.username} 领取",
                  now=now)
    case.assigned_to_id = user.id
    db.session.flush()
    return event


def touch_working(case: FollowupCase, user: User, *,
                  now: datetime | None = None) -> User | None:
    """``user`` is now working on the case (they opened it). Returns someone else who
    has had it open within the last WORKING_MINUTES, so both see each other; else
    None. Not a step: no version, no event. Flushes."""
    now = now or utcnow()
    other = None
    if (case.working_by_id is not None and case.working_by_id != user.id
            and case.working_since is not None
            and case.working_since > now - timedelta(minutes=WORKING_MINUTES)):
        other = db.session.get(User, case.working_by_id)
    if case.status != "closed":
        case.working_by_id, case.working_since = user.id, now
        db.session.flush()
    return other


def working_on(case: FollowupCase, *, now: datetime | None = None) -> User | None:
    """Who has the case open right now (within WORKING_MINUTES), if anyone."""
    now = now or utcnow()
    if (case.working_by_id is None or case.working_since is None
            or case.working_since <= now - timedelta(minutes=WORKING_MINUTES)):
        return None
    return db.session.get(User, case.working_by_id)


def release_working(case: FollowupCase, user: User) -> None:
    """``user`` stopped working on the case (left it, or saved and moved on)."""
    if case.working_by_id == user.id:
        case.working_by_id, case.working_since = None, None
        db.session.flush()


def record_rectification(case: FollowupCase, user: User, verification: str,
                         rectification: str | None, seen_version=None, *,
                         now: datetime | None = None) -> CaseEvent:
    """The department's record of what it verified (required) and what it changed
    (整改措施; may be empty when it found nothing to change). Recording again
    replaces both. A verify case counts as contacted at its first verification."""
    _require(user, "rectify", case)
    verification = _note(verification, "请填写核实情况")
    rectification = _note(rectification)
    now = now or utcnow()
    note = f"核实情况：{verification}" + (f"\n整改措施：{rectification}" if rectification else "")
    event = _step(case, user, "rectify", seen_version=seen_version, note=note, now=now)
    case.verification, case.rectification, case.rectified_at = verification, rectification, now
    if case.kind == "verify" and case.contacted_at is None:
        case.contacted_at = now
    db.session.flush()
    return event


def record_citizen_view(case: FollowupCase, user: User, view: str, note: str | None = None,
                        seen_version=None, *, now: datetime | None = None) -> CaseEvent:
    """What the citizen thinks after the fix (CITIZEN_VIEWS)."""
    _require(user, "citizen_view", case)
    if view not in CITIZEN_VIEWS:
        raise CaseError("请选择群众评价：" + "、".join(CITIZEN_VIEWS.values()))
    event = _step(case, user, "citizen_view", seen_version=seen_version, result=view,
                  note=_note(note), now=now)
    case.citizen_view = view
    db.session.flush()
    return event


def close(case: FollowupCase, user: User, outcome: str, note: str | None = None,
          seen_version=None, *, now: datetime | None = None) -> CaseEvent:
    """Close the case with an outcome that fits its kind (KIND_OUTCOMES). 多次联系未果
    needs at least UNREACHABLE_ATTEMPTS unanswered calls and none that reached the
    citizen; an on-site check closes only once the department recorded it."""
    _require(user, "close", case)
    allowed = KIND_OUTCOMES[case.kind]
    if not outcome:
        raise CaseError("结案须选择处理结果")
    if outcome not in allowed:
        raise CaseError(f"{KIND_LABELS[case.kind]}的处理结果只能是："
                        + "、".join(OUTCOMES[o] for o in allowed))
    if outcome == "unreachable":
        if case.reached_at is not None:
            raise CaseError("已联系上群众，不能以“多次联系未果”结案")
        if unanswered_attempts(case) < UNREACHABLE_ATTEMPTS:
            raise CaseError(f"“多次联系未果”须至少 {UNREACHABLE_ATTEMPTS} 次未接通的回访记录")
    if case.kind == "verify" and not case.verification:
        raise CaseError("请先登记部门核实情况再结案")
    if pending_appeal(case) is not None:
        raise CaseError("此回访件有待复核的申诉，复核后再结案", 409)
    now = now or utcnow()
    event = _step(case, user, "close", seen_version=seen_version, result=outcome,
                  note=_note(note), status="closed", now=now)
    _closed(case, user, outcome, now)
    return event


def _closed(case: FollowupCase, user: User, outcome: str, now: datetime) -> None:
    case.outcome, case.closed_at, case.closed_by_id = outcome, now, user.id
    case.working_by_id, case.working_since = None, None
    db.session.flush()


def reopen(case: FollowupCase, user: User, note: str, seen_version=None, *,
           now: datetime | None = None) -> CaseEvent:
    """Put a closed case back in progress, saying why. A case closed by an upheld
    appeal reopens only by reversing the ruling (which counts the rating again)."""
    _require(user, "reopen", case)
    event = _step(case, user, "reopen", seen_version=seen_version,
                  note=_note(note, "请填写重新打开的原因"), status="in_progress", now=now)
    case.outcome, case.closed_at, case.closed_by_id = None, None, None
    db.session.flush()
    return event


# --- appeals (申诉复核) ------------------------------------------------------------

APPEAL_AUDITED = ("status", "ruling_note", "reversal_note")


def file_appeal(case: FollowupCase, user: User, reason: str, seen_version=None, *,
                now: datetime | None = None) -> Appeal:
    """The department appeals the case's bad rating (malicious or mistaken), with a
    written reason; one pending appeal at a time. Audited ("appeal.file")."""
    _require(user, "appeal", case)
    reason = _note(reason, "请填写申诉理由")
    if pending_appeal(case) is not None:
        raise CaseError("此回访件已有待复核的申诉", 409)
    now = now or utcnow()
    _step(case, user, "appeal", seen_version=seen_version, note=reason, now=now)
    appeal = Appeal(case_id=case.id, rating_id=case.rating_id, reason=reason,
                    filed_by_id=user.id, filed_at=now, status="pending")
    db.session.add(appeal)
    db.session.flush()
    audit.record(user, "appeal.file", "appeal", appeal.id, None,
                 {"rating_id": case.rating_id, "case_id": case.id, "reason": reason})
    return appeal


def rule_appeal(appeal: Appeal, user: User, upheld: bool, note: str | None = None,
                seen_version=None, *, now: datetime | None = None) -> Appeal:
    """A supervisor rules on a pending appeal, with a written opinion. Upheld: the
    rating stops being counted (every table and the live summary follow), is flagged
    ``appeal`` and its case closes as appeal_upheld. Rejected: the case goes on.
    Audited ("appeal.rule")."""
    case = appeal.case
    _require_ruling(user, "rule", case)
    if appeal.status != "pending":
        raise CaseError(f"此申诉已复核（{APPEAL_STATUS_LABELS[appeal.status]}）", 409)
    note = _note(note, "请填写复核意见")
    now = now or utcnow()
    rating = _rating(case)
    before = {**audit.snapshot(appeal, APPEAL_AUDITED), "counted": rating.counted,
              "flags": rating.flags}
    status = "upheld" if upheld else "rejected"
    _step(case, user, "rule", seen_version=seen_version, result=status, note=note,
          status="closed" if upheld else None, now=now)
    appeal.status, appeal.ruled_by_id, appeal.ruled_at, appeal.ruling_note = (
        status, user.id, now, note)
    if upheld:
        summary.set_counted(db.session, [rating.id], False, _hall_tz())
        db.session.refresh(rating, ["counted"])
        rating.flags = with_flag(rating.flags, APPEAL)
        _closed(case, user, "appeal_upheld", now)
    db.session.flush()
    audit.record(user, "appeal.rule", "appeal", appeal.id, before,
                 {**audit.snapshot(appeal, APPEAL_AUDITED), "counted": rating.counted,
                  "flags": rating.flags})
    return appeal


def _require_ruling(user: User, action: str, case: FollowupCase) -> None:
    """Rulings follow the role table; the case's state is the appeal's business."""
    if action not in ROLE_ACTIONS.get(user.role, ()):
        raise CaseError("您的角色不能进行此操作", 403)


def _uncounted_by(appeal: Appeal) -> bool:
    """Whether upholding ``appeal`` is what took its rating out of the tables (a
    rating excluded before, e.g. as misuse, stays excluded when the ruling goes)."""
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "appeal.rule",
                                    AuditEntry.target_type == "appeal",
                                    AuditEntry.target_id == str(appeal.id))
        .order_by(AuditEntry.id.desc()).limit(1))
    if entry is None or not entry.after:
        return True
    return json.loads(entry.after).get("counted") is False


def reverse_ruling(appeal: Appeal, user: User, note: str, seen_version=None, *,
                   now: datetime | None = None) -> Appeal:
    """Undo an upheld appeal, saying why: the rating is counted again (the tables
    follow), loses its ``appeal`` flag, and its case reopens in progress. Audited
    ("appeal.reverse")."""
    case = appeal.case
    _require_ruling(user, "reverse", case)
    if appeal.status != "upheld":
        raise CaseError("只能撤销“申诉成立”的复核结论", 409)
    note = _note(note, "请填写撤销原因")
    now = now or utcnow()
    rating = _rating(case)
    before = {**audit.snapshot(appeal, APPEAL_AUDITED), "counted": rating.counted,
              "flags": rating.flags}
    recount = _uncounted_by(appeal)
    _step(case, user, "reverse", seen_version=seen_version, note=note,
          status="in_progress", now=now)
    appeal.status, appeal.reversed_by_id, appeal.reversed_at, appeal.reversal_note = (
        "reversed", user.id, now, note)
    rating.flags = with_flag(rating.flags, APPEAL, False)
    # What else keeps it out of the tables (a supervisor's 不计入, misuse) still does.
    # (REQUIRE_PROMPT let it count once, or it would have had no case to appeal.)
    if recount and counts(rating.flags, require_prompt=False):
        summary.set_counted(db.session, [rating.id], True, _hall_tz())
        db.session.refresh(rating, ["counted"])
    case.outcome, case.closed_at, case.closed_by_id = None, None, None
    db.session.flush()
    audit.record(user, "appeal.reverse", "appeal", appeal.id, before,
                 {**audit.snapshot(appeal, APPEAL_AUDITED), "counted": rating.counted,
                  "flags": rating.flags})
    return appeal
