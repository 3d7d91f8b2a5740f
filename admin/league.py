"""The weekly window league (周排名) and the monthly / quarterly assessment (月考核).

Pages, JSON and CSV of the same rows (kiosk/league.py computes them from the live
summary). A department head sees only their own department's league.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask import (Response, current_app, jsonify, render_template, request,
                   url_for)
from flask_login import current_user

from kiosk import casestats
from kiosk import league as leagues
from kiosk.db import db
from kiosk.excel import excel_csv

from . import bp, nav_item, roles
from .scope import department_scope, hall_tz

VIEWERS = ("supervisor", "department")
ASSESSMENT_KINDS = ("month", "quarter", "year")


@dataclass(frozen=True)
class Scope:
    """Whose league: a hall, a department, or everything; per window or per clerk."""

    hall_id: int | None
    department_id: int | None
    by: str

    def args(self, **more) -> dict:
        """Query arguments that keep this scope on a link."""
        args = {"hall": self.hall_id, "department": self.department_id,
                "by": None if self.by == "window" else self.by}
        args.update(more)
        return {k: v for k, v in args.items() if v is not None}


def _id_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"{name} 应为编号数字，收到 {value!r} ({name} must be an id)")
    return int(value)


def request_scope() -> Scope:
    """The hall, department and ``by`` of the request; a department head is always
    held to their own department."""
    by = request.args.get("by", "window") or "window"
    if by not in leagues.BY:
        raise ValueError(f"by 只能是 window 或 staff，收到 {by!r} (by must be window or staff)")
    hall_id, department_id = _id_arg("hall"), _id_arg("department")
    own = department_scope()
    if own is not None:  # a department head: their rows of their hall's league
        department_id, hall_id = own, None
    return Scope(hall_id, department_id, by)


def request_week() -> leagues.Period:
    week = request.args.get("week")
    if week is None or not week.strip():
        return leagues.current("week", hall_tz())
    return leagues.parse_week(week)


def request_assessment_period() -> leagues.Period:
    given = [k for k in ASSESSMENT_KINDS if request.args.get(k, "").strip()]
    if len(given) > 1:
        raise ValueError("month、quarter、year 只能指定一个 (give one of month, quarter, year)")
    if not given:
        return leagues.last_complete_month(hall_tz())
    return leagues.parse_period(given[0], request.args[given[0]])


def build(period: leagues.Period, scope: Scope) -> leagues.League:
    return leagues.league_table(db.session, period, hall_tz(), by=scope.by,
                                hall_id=scope.hall_id, department_id=scope.department_id,
                                prior=current_app.config["LEAGUE_PRIOR"])


def case_report(table: leagues.League, scope: Scope) -> casestats.Report:
    """The follow-up figures of the cases of the table's period and scope."""
    return casestats.for_table(db.session, table, hall_tz(), hall_id=scope.hall_id,
                               department_id=scope.department_id)


def table_json(table: leagues.League, scope: Scope) -> dict:
    return casestats.league_document(table, case_report(table, scope))


def bad_data(exc: ValueError):
    return jsonify(error=str(exc)), 400


def csv_response(table: leagues.League, scope: Scope, stem: str) -> Response:
    name = f"{stem}-{table.period.label}{'-staff' if table.by == 'staff' else ''}.csv"
    fields = (*table.fields, *casestats.LEAGUE_FIELDS)
    rows = [[row[f] for f in fields]
            for row in casestats.league_rows(table, case_report(table, scope))]
    return Response(excel_csv(fields, rows),
                    content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def trend_url(scope: Scope, week: leagues.Period, code: str) -> str:
    """The league page of ``week`` with window ``code``'s satisfaction trend shown."""
    return url_for("admin.league", **scope.args(week=week.label, window=code)) + "#trend"


def page_context(table: leagues.League, scope: Scope, endpoint: str, **keep) -> dict:
    """What the league and assessment pages show around the table; ``keep``: more
    query arguments the previous / next links carry (the league's chosen window)."""
    today = leagues.hall_today(hall_tz())
    period = table.period
    report = case_report(table, scope)
    later = period.next()
    # A window's name in the table opens its trend: on the league, this week's page;
    # from an assessment, the league of the period's last week (or this week).
    week = period if period.kind == "week" else leagues.period_of(
        "week", min(period.last, today))
    is_dept = current_user.role == "department"
    return {
        "table": table, "period": period, "scope": scope, "is_department": is_dept,
        "rows": casestats.league_rows(table, report), "case_totals": report.overall,
        "ranked": sum(1 for row in table.rows if row.rank is not None),
        # A period still running (Monday morning's week): its ranks are not final.
        "running_total": (sum(row.ratings for row in table.rows)
                          if period.contains(today) else None),
        "marks": leagues.MARK_LABELS[table.by], "levels": leagues.LEVELS,
        "halls": [] if is_dept else leagues.hall_choices(db.session),
        "departments": leagues.department_choices(db.session, scope.hall_id,
                                                  scope.department_id if is_dept else None),
        "prev_url": url_for(endpoint, **scope.args(**{period.kind: period.previous().label},
                                                   **keep)),
        "next_url": (url_for(endpoint, **scope.args(**{period.kind: later.label}, **keep))
                     if later.first <= today else None),
        "window_url": lambda code: trend_url(scope, week, code),
        "url": lambda ep, **more: url_for(ep, **scope.args(**{period.kind: period.label},
                                                            **more)),
    }


# The messages of kiosk/league.py and request_scope read "中文 (English)": JSON keeps
# both, a page shows the Chinese.
ENGLISH_TAIL = re.compile(r"\s+\([^()]*\)\s*$")


def chinese_part(message: str) -> str:
    """``"2026 年只有 53 周，没有第 99 周 (2026-W99: ...)"`` without the English."""
    return ENGLISH_TAIL.sub("", message) or message


def bad_page(template: str, exc: ValueError, endpoint: str):
    return render_template(template, error=chinese_part(str(exc)), table=None,
                           back_url=url_for(endpoint)), 400


# -- the weekly league ---------------------------------------------------------------

@bp.get("/league")
@roles(*VIEWERS)
def league():
    try:
        scope, week = request_scope(), request_week()
    except ValueError as exc:
        return bad_page("admin/league.html", exc, "admin.league")
    table = build(week, scope)
    hall_id = scope.hall_id
    if hall_id is None and scope.department_id is not None:
        hall_id = leagues.department_hall(db.session, scope.department_id)
    windows = leagues.window_choices(db.session, hall_id, scope.department_id)
    chosen = request.args.get("window") or ""
    if chosen not in {w.code for w in windows}:
        chosen = ""
    return render_template("admin/league.html", windows=windows, chosen_window=chosen,
                           **page_context(table, scope, "admin.league",
                                          window=chosen or None))


@bp.get("/league.json")
@roles(*VIEWERS)
def league_json():
    try:
        scope, week = request_scope(), request_week()
    except ValueError as exc:
        return bad_data(exc)
    return jsonify(table_json(build(week, scope), scope))


@bp.get("/league.csv")
@roles(*VIEWERS)
def league_csv():
    try:
        scope, week = request_scope(), request_week()
    except ValueError as exc:
        return bad_data(exc)
    return csv_response(build(week, scope), scope, "league")


# -- the monthly / quarterly / yearly assessment -------------------------------------

@bp.get("/assessment")
@roles(*VIEWERS)
def assessment():
    try:
        scope, period = request_scope(), request_assessment_period()
    except ValueError as exc:
        return bad_page("admin/assessment.html", exc, "admin.assessment")
    table = build(period, scope)
    today = leagues.hall_today(hall_tz())
    kinds = {kind: leagues.period_of(kind, min(period.last, today)) for kind in ASSESSMENT_KINDS}
    return render_template("admin/assessment.html", kinds=kinds,
                           **page_context(table, scope, "admin.assessment"))


@bp.get("/assessment.json")
@roles(*VIEWERS)
def assessment_json():
    try:
        scope, period = request_scope(), request_assessment_period()
    except ValueError as exc:
        return bad_data(exc)
    return jsonify(table_json(build(period, scope), scope))


@bp.get("/assessment.csv")
@roles(*VIEWERS)
def assessment_csv():
    try:
        scope, period = request_scope(), request_assessment_period()
    except ValueError as exc:
        return bad_data(exc)
    return csv_response(build(period, scope), scope, "assessment")


nav_item("admin.league", "周排名", 20)
nav_item("admin.assessment", "月考核", 30)
