"""The suggestions inbox (意见箱): read, mark handled with a reply note, reopen,
filter, export. Department heads see the suggestions left at their windows."""
from __future__ import annotations

from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kiosk import clock, inbox, league, privacy
from kiosk.db import db, utcnow
from kiosk.excel import excel_csv
from kiosk.fields import InputError

from . import bp, nav_item, roles
from .scope import glance_scope, hall_tz

INBOX_ROLES = ("supervisor", "department")
# Inbox readers who may also reveal a number (admins always may).
REVEAL_ROLES = tuple(r for r in INBOX_ROLES if privacy.may_see_whole_phone(r))
TEXT_MAX = 100


def _day(name: str, errors: list[str]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(f"日期“{raw}”格式不正确，应为 YYYY-MM-DD")
        return None


def parse_filter(default_status: str = "all") -> tuple[inbox.InboxFilter, list[str]]:
    """The inbox filter of the query string, and what was wrong with it."""
    errors: list[str] = []
    status = request.args.get("status", default_status)
    first, last = _day("from", errors), _day("to", errors)
    if first and last and first > last:
        errors.append("开始日期晚于结束日期")
    return inbox.InboxFilter(
        status=status if status in inbox.STATUSES else "all",
        window=request.args.get("window", "").strip() or None, first=first, last=last,
        text=request.args.get("q", "").strip()[:TEXT_MAX] or None), errors


def _list_args() -> dict[str, str]:
    """The list's filters and page, to come back to after opening a suggestion."""
    return {k: v for k, v in request.args.items()
            if k in ("status", "window", "from", "to", "q", "page") and v}


@bp.get("/suggestions")
@roles(*INBOX_ROLES)
def suggestions():
    # The inbox opens on what still needs doing; 全部 and 已处理 are one choice away.
    flt, errors = parse_filter(default_status="open")
    scope = glance_scope()
    page = inbox.find(scope, flt, hall_tz(), request.args.get("page", 1, type=int))
    windows = league.window_choices(db.session, department_id=scope.department_id)
    return render_template(
        "admin/suggestions.html", page=page, flt=flt, errors=errors, windows=windows,
        statuses=inbox.STATUSES, args=_list_args(), mask=privacy.masked_phone,
        open_count=inbox.open_count(scope))


@bp.get("/suggestions.csv")
@roles(*INBOX_ROLES)
def suggestions_csv():
    flt, _ = parse_filter()
    tz = hall_tz()
    rows = inbox.csv_rows(inbox.matching(glance_scope(), flt, tz), tz)
    name = f"suggestions-{clock.format_local(utcnow(), tz, '%Y%m%d')}.csv"
    return current_app.response_class(
        excel_csv(inbox.CSV_HEADER, rows), mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _get_or_404(suggestion_id: int):
    suggestion = inbox.get(glance_scope(), suggestion_id)
    if suggestion is None:
        abort(404)
    return suggestion


@bp.get("/suggestions/<int:suggestion_id>")
@roles(*INBOX_ROLES)
def suggestion(suggestion_id: int, error: str | None = None, draft: str | None = None,
               whole_phone: str | None = None):
    item = _get_or_404(suggestion_id)
    return render_template(
        "admin/suggestions_detail.html", s=item, args=_list_args(), error=error,
        draft=item.reply if draft is None else draft,
        phone=whole_phone or privacy.masked_phone(item.phone), revealed=bool(whole_phone),
        may_reveal=privacy.may_see_whole_phone(current_user.role),
        reply_max=inbox.REPLY_MAX), 400 if error else 200


@bp.post("/suggestions/<int:suggestion_id>/phone")
@roles(*REVEAL_ROLES)
def suggestion_phone(suggestion_id: int):
    """Show the number whole, once, on this response (never in a URL or the session);
    the reveal is logged."""
    item = _get_or_404(suggestion_id)
    try:
        phone = inbox.reveal_phone(item, current_user)
    except PermissionError:
        abort(403)
    db.session.commit()
    return suggestion(suggestion_id, whole_phone=phone)


@bp.post("/suggestions/<int:suggestion_id>/handle")
@roles(*INBOX_ROLES)
def suggestion_handle(suggestion_id: int):
    item = _get_or_404(suggestion_id)
    reply = request.form.get("reply", "")
    try:
        inbox.mark_handled(item, current_user, reply)
    except InputError as exc:
        db.session.rollback()
        return suggestion(suggestion_id, error=exc.message, draft=reply)
    db.session.commit()
    flash("已标记为已处理")
    return redirect(url_for("admin.suggestion", suggestion_id=suggestion_id, **_list_args()))


@bp.post("/suggestions/<int:suggestion_id>/reopen")
@roles(*INBOX_ROLES)
def suggestion_reopen(suggestion_id: int):
    item = _get_or_404(suggestion_id)
    if inbox.reopen(item, current_user):
        db.session.commit()
        flash("已重新打开，等待处理")
    return redirect(url_for("admin.suggestion", suggestion_id=suggestion_id, **_list_args()))


nav_item("admin.suggestions", "意见箱", 40)
