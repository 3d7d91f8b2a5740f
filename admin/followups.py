"""The call list (回访清单) and the follow-up case page (回访整改).

Thin views over kiosk/calllist.py (which cases, in what order, which rows) and
kiosk/followups.py (what may be done to a case, and doing it). Every form carries the
case version the user saw: a change made meanwhile by someone else is not overwritten
blindly (CaseConflict re-renders the page with the message and keeps the input).
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import (abort, current_app, flash, jsonify, redirect, render_template, request,
                   url_for)
from flask_login import current_user

from kiosk import calllist, clock, followups, league, workdays
from kiosk.db import db, utcnow
from kiosk.excel import excel_csv
from kiosk.fields import InputError
from kiosk.models import Appeal, User
from kiosk.scale import is_bad

from . import bp, nav_item, roles
from .scope import department_scope, hall_tz

LIST_ROLES = ("caller", "supervisor", "department")
# Which roles may post each form, from kiosk/followups' one table of who may do what
# (admins pass every roles() check; followups.may still decides case by case).
FORM_ROLES = {action: tuple(role for role, actions in followups.ROLE_ACTIONS.items()
                            if action in actions and role != "admin")
              for action in followups.ACTIONS}
LIST_ARGS = ("status", "kind", "window", "assigned", "overdue", "page")


def hall_day() -> date:
    """Today in the hall: the day deadlines and "overdue" are judged on."""
    return league.hall_today(hall_tz())


def _filter_or_error() -> tuple[calllist.CallFilter, str | None]:
    try:
        return calllist.parse_filter(request.args), None
    except InputError as exc:
        return calllist.CallFilter(), exc.message


def _list_args() -> dict[str, str]:
    return {k: v for k, v in request.args.items() if k in LIST_ARGS and v}


def _calendar_warning() -> str | None:
    return workdays.calendar_warning(workdays.deadlines(), hall_day())


def _labels() -> dict:
    return {"kinds": followups.KIND_LABELS, "status_labels": followups.STATUS_LABELS,
            "results": followups.ATTEMPT_RESULTS, "views": followups.CITIZEN_VIEWS,
            "outcomes": followups.OUTCOMES, "event_labels": followups.EVENT_LABELS,
            "kind_outcomes": followups.KIND_OUTCOMES,
            "appeal_statuses": followups.APPEAL_STATUS_LABELS,
            "reasons": calllist.reason_labels(),
            "face": calllist.face, "face_is_bad": is_bad,
            "is_overdue": followups.is_overdue, "next_due": calllist.next_due,
            "today": hall_day(), "working_other": calllist.working_other}


# -- the call list ------------------------------------------------------------------

@bp.get("/followups")
@roles(*LIST_ROLES)
def followups_list():
    flt, error = _filter_or_error()
    day = hall_day()
    page = calllist.find(current_user, flt, day, request.args.get("page", 1, type=int))
    windows = league.window_choices(db.session, department_id=department_scope())
    return render_template(
        "admin/followups.html", page=page, flt=flt, error=error, windows=windows,
        statuses=calllist.STATUSES, assigned=calllist.ASSIGNED, args=_list_args(),
        warning=_calendar_warning(), mask=lambda case: calllist.shown_phone(case, False),
        **_labels()), 400 if error else 200


def _data_rows(flt: calllist.CallFilter) -> list[dict]:
    """The rows of the JSON and CSV; whole numbers are logged before they leave."""
    day, tz, whole = hall_day(), hall_tz(), calllist.whole_phones(current_user)
    cases = calllist.matching(current_user, flt, day)
    calllist.reveal(current_user, cases)
    rows = [calllist.row(case, day, tz, whole) for case in cases]
    db.session.commit()
    return rows


@bp.get("/followups.json")
@roles(*LIST_ROLES)
def followups_json():
    try:
        flt = calllist.parse_filter(request.args)
    except InputError as exc:
        return jsonify(error=exc.message), 400
    return jsonify(rows=_data_rows(flt))


@bp.get("/followups.csv")
@roles(*LIST_ROLES)
def followups_csv():
    try:
        flt = calllist.parse_filter(request.args)
    except InputError as exc:
        return jsonify(error=exc.message), 400
    rows = _data_rows(flt)
    name = f"followups-{clock.format_local(utcnow(), hall_tz(), '%Y%m%d')}.csv"
    return current_app.response_class(
        excel_csv(calllist.FIELDS, calllist.csv_rows(rows)),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/followups/print")
@roles(*LIST_ROLES)
def followups_print():
    """The printable call sheet (回访登记表): whole numbers for callers, each logged."""
    flt, error = _filter_or_error()
    day = hall_day()
    cases = calllist.matching(current_user, flt, day, limit=calllist.PRINT_MAX)
    whole = calllist.whole_phones(current_user)
    calllist.reveal(current_user, cases)
    sheet = render_template(
        "admin/followups_print.html", cases=cases, flt=flt, error=error, whole=whole,
        total=calllist.count(current_user, flt, day), limit=calllist.PRINT_MAX,
        phone=lambda case: calllist.shown_phone(case, whole), args=_list_args(),
        statuses=calllist.STATUSES, warning=_calendar_warning(), printed_at=utcnow(),
        **_labels())
    # Rendered before the commit (which expires every loaded case), sent only after it:
    # no number leaves without its reveal on record.
    db.session.commit()
    return sheet


# -- one case -------------------------------------------------------------------------

def _case_or_404(case_id: int):
    case = calllist.get(current_user, case_id)
    if case is None:
        abort(404)
    return case


def _callers() -> list[User]:
    """Who a supervisor may assign a case to."""
    return list(db.session.scalars(
        sa.select(User).where(User.role.in_(("caller", "admin")),
                              User.active.is_(True)).order_by(User.role, User.username)))


@bp.get("/followups/<int:followup_case_id>")
@roles(*LIST_ROLES)
def followup(followup_case_id: int, error: str | None = None, form: str | None = None,
             status: int = 200):
    """The case, its history and the forms the user may use. Opening it is working on
    it (for callers: the others see so); a whole number shown here is logged."""
    case = _case_or_404(followup_case_id)
    other = None
    if followups.may(current_user, "attempt", case):
        other = calllist.work_on(case, current_user)
    whole = calllist.whole_phones(current_user)
    calllist.reveal(current_user, [case])
    db.session.commit()
    may = {action: followups.may(current_user, action, case) for action in FORM_ROLES}
    return render_template(
        "admin/followups_case.html", case=case, rating=case.rating, other=other,
        phone=calllist.shown_phone(case, whole), whole=whole, may=may,
        events=followups.history(case), appeals=followups.appeals(case), callers=_callers(),
        error=error, error_form=form, draft=request.form if error else {},
        args=_list_args(), next_id=calllist.next_case_id(current_user, case, hall_day()),
        **_labels()), status


def _seen_version() -> int | None:
    raw = request.form.get("seen_version", "").strip()
    return int(raw) if raw.isdigit() else None


def _apply(case_id: int, form: str, operation, done: str):
    """Run one operation on the case, commit, and go back to the case page; a refusal
    re-renders the page with the message next to the form and the input kept."""
    case = _case_or_404(case_id)
    try:
        operation(case)
    except InputError as exc:
        db.session.rollback()
        return followup(case_id, error=exc.message, form=form, status=exc.status)
    db.session.commit()
    flash(done)
    return redirect(url_for("admin.followup", followup_case_id=case_id, **_list_args()))


def _text(name: str) -> str:
    return request.form.get(name, "").strip()


@bp.post("/followups/<int:followup_case_id>/attempt")
@roles(*FORM_ROLES["attempt"])
def followup_attempt(followup_case_id: int):
    return _apply(followup_case_id, "attempt", lambda case: followups.record_attempt(
        case, current_user, _text("result"), _text("note"), seen_version=_seen_version()),
        "已记录本次回访")


@bp.post("/followups/<int:followup_case_id>/take")
@roles(*FORM_ROLES["take"])
def followup_take(followup_case_id: int):
    return _apply(followup_case_id, "assign", lambda case: followups.take(
        case, current_user, seen_version=_seen_version()), "已由您负责此案件")


@bp.post("/followups/<int:followup_case_id>/assign")
@roles(*FORM_ROLES["assign"])
def followup_assign(followup_case_id: int):
    def assign(case):
        raw = _text("assignee")
        assignee = None
        if raw:
            assignee = db.session.get(User, int(raw)) if raw.isdigit() else None
            if assignee is None:
                raise InputError("请选择要指派的回访员")
        followups.assign(case, current_user, assignee, seen_version=_seen_version())
    return _apply(followup_case_id, "assign", assign, "已更新指派")


@bp.post("/followups/<int:followup_case_id>/rectify")
@roles(*FORM_ROLES["rectify"])
def followup_rectify(followup_case_id: int):
    return _apply(followup_case_id, "rectify", lambda case: followups.record_rectification(
        case, current_user, _text("verification"), _text("rectification"),
        seen_version=_seen_version()), "已记录核实整改情况")


@bp.post("/followups/<int:followup_case_id>/citizen-view")
@roles(*FORM_ROLES["citizen_view"])
def followup_citizen_view(followup_case_id: int):
    return _apply(followup_case_id, "citizen_view", lambda case: followups.record_citizen_view(
        case, current_user, _text("view"), _text("note"), seen_version=_seen_version()),
        "已记录群众评价")


@bp.post("/followups/<int:followup_case_id>/close")
@roles(*FORM_ROLES["close"])
def followup_close(followup_case_id: int):
    return _apply(followup_case_id, "close", lambda case: followups.close(
        case, current_user, _text("outcome"), _text("note"), seen_version=_seen_version()),
        "案件已结案")


@bp.post("/followups/<int:followup_case_id>/reopen")
@roles(*FORM_ROLES["reopen"])
def followup_reopen(followup_case_id: int):
    return _apply(followup_case_id, "reopen", lambda case: followups.reopen(
        case, current_user, _text("note"), seen_version=_seen_version()), "案件已重新打开")


@bp.post("/followups/<int:followup_case_id>/appeal")
@roles(*FORM_ROLES["appeal"])
def followup_appeal(followup_case_id: int):
    return _apply(followup_case_id, "appeal", lambda case: followups.file_appeal(
        case, current_user, _text("reason")), "申诉已提交，等待复核")


def _appeal_or_404(appeal_id: int) -> Appeal:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None or calllist.get(current_user, appeal.case_id) is None:
        abort(404)
    return appeal


@bp.post("/followups/appeals/<int:appeal_id>/rule")
@roles(*FORM_ROLES["rule"])
def followup_rule(appeal_id: int):
    appeal = _appeal_or_404(appeal_id)
    verdict = _text("verdict")

    def rule(case):
        if verdict not in ("upheld", "rejected"):
            raise InputError("请选择复核结论：申诉成立或申诉不成立")
        followups.rule_appeal(appeal, current_user, verdict == "upheld", _text("note"))
    return _apply(appeal.case_id, "rule", rule,
                  "已裁定：申诉成立" if verdict == "upheld" else "已裁定：申诉不成立")


@bp.post("/followups/appeals/<int:appeal_id>/reverse")
@roles(*FORM_ROLES["reverse"])
def followup_reverse(appeal_id: int):
    appeal = _appeal_or_404(appeal_id)
    return _apply(appeal.case_id, "reverse", lambda case: followups.reverse_ruling(
        appeal, current_user, _text("note")), "已撤销裁定，评价重新计入统计")


nav_item("admin.followups_list", "回访整改", 35)
