"""The holiday calendar (节假日安排): where each year's working days come from, and the
admin's entry of a year from the State Council's notice (it takes precedence over the
package, which lags each new year). Supervisors may look; only admins change it,
because every case's due dates follow."""
from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from kiosk import clock, workdays
from kiosk.db import db, utcnow
from kiosk.fields import InputError

from . import SETTINGS_MENU, bp, nav_item, roles
from .scope import hall_tz


def _years_shown(deadlines: workdays.Deadlines, this_year: int) -> list[int]:
    """Last year to next year, and any year entered beyond them up to the year after."""
    shown = set(range(this_year - 1, this_year + 2))
    if deadlines.source(this_year + 2) == "entered":
        shown.add(this_year + 2)
    return sorted(shown)


def _default_year(deadlines: workdays.Deadlines, this_year: int) -> int:
    """The year the form offers: the first of this and next year nobody knows yet."""
    unknown = deadlines.unknown_years(date(this_year, 1, 1), date(this_year + 1, 1, 1))
    return unknown[0] if unknown else this_year + 1


@bp.get("/calendar")
@roles("supervisor")
def calendar(error: str | None = None, form_year: str | None = None,
             text: str | None = None):
    deadlines = workdays.deadlines()
    today = clock.to_local(utcnow(), hall_tz()).date()
    views = workdays.year_views(deadlines, _years_shown(deadlines, today.year))
    if form_year is None:  # the form offers ?edit=<year>, else the first unknown year
        form_year = str(request.args.get("edit", type=int)
                        or _default_year(deadlines, today.year))
    if text is None:  # replacing an entered year starts from what was entered
        entered = next((v.entry for v in views if str(v.year) == form_year and v.entry), None)
        text = entered.source if entered else ""
    return render_template(
        "admin/calendar.html", views=views, today=today, error=error,
        form_year=form_year, text=text, may_edit=current_user.role == "admin",
        warning=workdays.calendar_warning(deadlines, today),
        weekday=workdays.weekday_label, notice_max=workdays.NOTICE_MAX,
        deadlines=deadlines), 400 if error else 200


@bp.post("/calendar")
def calendar_save():
    """Enter or replace a year (admins only); the due dates of open and closed cases
    it touches are recomputed in the same transaction."""
    form_year, text = request.form.get("year", ""), request.form.get("text", "")
    deadlines = workdays.deadlines()
    try:
        year = workdays.check_year(form_year)
        saved = workdays.save_year(db.session, current_user, year, text, deadlines)
    except InputError as exc:
        db.session.rollback()
        return calendar(error=exc.message, form_year=form_year, text=text)
    db.session.commit()
    deadlines.invalidate()  # after the commit: no thread may cache what was not kept
    flash(f"已保存 {year} 年的节假日安排（{saved.days} 天）；"
          f"{saved.cases} 件回访的期限随之重新计算")
    return redirect(url_for("admin.calendar") + f"#y{year}")


@bp.post("/calendar/<int:year>/delete")
def calendar_delete(year: int):
    """Forget an entered year: the package (or Monday–Friday) counts again."""
    deadlines = workdays.deadlines()
    removed = workdays.delete_year(db.session, current_user, year, deadlines)
    if removed is None:
        flash(f"{year} 年没有录入的安排", "error")
        return redirect(url_for("admin.calendar"))
    db.session.commit()
    deadlines.invalidate()
    flash(f"已删除录入的 {year} 年安排，改用{workdays.SOURCE_LABELS[deadlines.source(year)]}；"
          f"{removed.cases} 件回访的期限随之重新计算")
    return redirect(url_for("admin.calendar") + f"#y{year}")


nav_item("admin.calendar", "节假日", 65, SETTINGS_MENU)
