"""Chart images for the league and dashboard pages (PNG, drawn by kiosk/charts.py).

The data is read on every request (a few summary rows); the picture is drawn only when
that data changed (``charts.cached_png`` is keyed by it). Browsers may keep a picture
for a minute.
"""
from __future__ import annotations

from flask import Response, jsonify, request

from kiosk import charts
from kiosk import league as leagues
from kiosk.db import db

from . import bp, roles
from .league import VIEWERS, build, hall_tz, request_scope, request_week

MAX_AGE = 60


def png_response(png: bytes) -> Response:
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = f"private, max-age={MAX_AGE}"
    return response


def _trend_hall(scope) -> int | None:
    """The hall the trend's 全厅 line shows: the chosen one, or the department's."""
    if scope.hall_id is None and scope.department_id is not None:
        return leagues.department_hall(db.session, scope.department_id)
    return scope.hall_id


@bp.get("/charts/trend.png")
@roles(*VIEWERS)
def chart_trend():
    """The hall's satisfaction over the 12 weeks up to ``week`` and, with
    ``window=CODE``, that window's."""
    try:
        scope, week = request_scope(), request_week()
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    hall_id = _trend_hall(scope)
    window = None
    code = request.args.get("window", "").strip()
    if code:
        window = next((w for w in leagues.window_choices(db.session, hall_id,
                                                         scope.department_id)
                       if w.code == code), None)
        if window is None:
            return jsonify(error=f"没有窗口 {code!r} (unknown window)"), 404
    trend = leagues.satisfaction_trend(db.session, week, hall_id=hall_id,
                                       window_id=window.id if window else None)
    label = f"{window.code} {window.name}" if window else None
    png = charts.cached_png(
        ("trend", trend.weeks, trend.hall, trend.window, label),
        lambda: charts.satisfaction_trend_png(trend.weeks, trend.hall, trend.window, label))
    return png_response(png)


@bp.get("/charts/levels.png")
@roles(*VIEWERS)
def chart_levels():
    """The levels given to each ranked window (``by=staff``: clerk) in ``week``, best
    ranked on top: the rows of the league table above it."""
    try:
        scope, week = request_scope(), request_week()
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    rows = leagues.level_counts(build(week, scope))
    png = charts.cached_png(
        ("levels", [[label, sorted(counts.items())] for label, counts in rows]),
        lambda: charts.levels_png(rows))
    return png_response(png)


@bp.get("/charts/heatmap.png")
@roles(*VIEWERS)
def chart_heatmap():
    """Ratings and bad ratings of ``week`` by weekday and hour."""
    try:
        scope, week = request_scope(), request_week()
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    tz = hall_tz()
    start, end = week.utc_range(tz)
    ids = leagues.window_ids(db.session, scope.hall_id, scope.department_id)
    heat = charts.heatmap_counts(start, end, tz, ids)
    png = charts.cached_png(("heatmap", heat.hours, heat.ratings, heat.bad),
                            lambda: charts.heatmap_png(heat.ratings, heat.bad, heat.hours))
    return png_response(png)
