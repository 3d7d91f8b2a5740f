"""The read API for other systems (/api/v1): ratings since a cursor, the league table,
the follow-up cases, and the OpenAPI document that describes them (kiosk/openapi.py).

Every call but the document needs ``Authorization: Bearer <token>`` of scope ``read``
(kiosk/tokens.py): 401 without one or with an unknown or revoked one, 403 for a token
of another scope. Phones are always masked here.

The rating feed must let a provincial platform pull every rating exactly once, across
restarts and while servers insert. On PostgreSQL a rating's id is drawn when it is
inserted, not when it commits, so a transaction holding id 7 can commit after one
holding id 8: a cursor over ids alone would hand out 8, move past 7 and never see it.
So each rating records its inserting transaction (``rating.txid``, a server default),
and a page holds only rows of transactions older than every transaction still running
(``pg_snapshot_xmin``): no row can ever commit below that line any more. Pages follow
(txid, id). A slow writer holds the line back for as long as it runs; rows wait, never
vanish. SQLite lets one writer at a time commit, so id order is commit order there and
txid is 0 throughout. The cursor ``<txid>.<id>`` is opaque to clients.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import wraps
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, g, jsonify, request

from . import calllist, casestats, clock, league as leagues, tokens
from .db import db
from .exports import COLUMNS
from .fields import InputError
from .models import Rating, Staff, Window
from .privacy import shown_phone

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

LIMIT_DEFAULT = 100
LIMIT_MAX = 1000
CASES_MAX = 1000  # follow-up cases in one answer ("more" says when there were others)
CURSOR = re.compile(r"(\d{1,19})\.(\d{1,19})")
BIGINT_MAX = 2**63 - 1
# A rating in the feed: the export's columns, and the service event (一次一评) it
# answers (kiosk/evaluations.py), which the export's fixed columns leave out.
FEED_COLUMNS = (*COLUMNS, "evaluation_id")


def hall_tz() -> ZoneInfo:
    return clock.zone(current_app.config["TIMEZONE"])


# -- the guard --------------------------------------------------------------------------

def token_required(scope: str):
    """Let the view run only for a live token of ``scope`` (kept as ``g.api_token``)."""
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            status, row = tokens.authenticate(
                tokens.bearer(request.headers.get("Authorization")), scope)
            db.session.commit()  # the last_used_at note, before any long read
            if status == 401:
                resp = jsonify(error="缺少有效的 API 令牌 (a valid API token is required: "
                                     "Authorization: Bearer <token>)")
                resp.headers["WWW-Authenticate"] = 'Bearer realm="kiosk"'
                return resp, 401
            if status == 403:
                return jsonify(error=f"此令牌的权限为“{row.scope}”，不能调用此接口 (this "
                                     f"token's scope is {row.scope}; this call needs "
                                     f"{scope})"), 403
            g.api_token = row
            return view(*args, **kwargs)
        return guarded
    return decorate


# -- ratings since a cursor -------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Cursor:
    txid: int
    id: int

    def __str__(self) -> str:
        return f"{self.txid}.{self.id}"


START = Cursor(0, 0)


def parse_cursor(text: str | None) -> Cursor:
    if text is None or not text.strip():
        return START
    match = CURSOR.fullmatch(text.strip())
    if match is None or max(int(match[1]), int(match[2])) > BIGINT_MAX:
        raise InputError(f"after 应为上一页返回的 next，收到“{text}” (after must be the "
                         "`next` of an earlier page)")
    return Cursor(int(match[1]), int(match[2]))


def parse_limit(text: str | None, default: int, most: int) -> int:
    if text is None or not text.strip():
        return default
    if not text.strip().isdigit() or not 1 <= int(text) <= most:
        raise InputError(f"limit 应为 1 到 {most} 的整数，收到“{text}” "
                         f"(limit must be a whole number from 1 to {most})")
    return int(text)


# The feed's line (the read API's and the alerts'), drawn from this database's
# transactions only: pg_snapshot_xmin is cluster-wide, and on a PostgreSQL server that
# hosts other databases too, one long transaction there (a pg_dump, another
# application) would hold the feed back for as long as it runs. The line: the
# smallest transaction id still running in this snapshot (``xip``) that is not known
# to belong to another database, or the snapshot's ``xmax`` when there is none.
# A transaction of this database is never taken for another's (pg_stat_activity says
# which database a running one is in; one that ended meanwhile, or whose row the role
# may not read, counts as possibly ours), so the line is never drawn past a rating
# still to commit. Ids below it were over when it was drawn: any later statement sees
# all their rows.
HORIZON_SQL = """
WITH s AS (SELECT pg_current_snapshot() AS snap),
other AS (SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity
          WHERE backend_xid IS NOT NULL AND datname IS DISTINCT FROM current_database())
SELECT least((SELECT pg_snapshot_xmax(snap)::text::bigint FROM s),
             (SELECT min(x::text::bigint) FROM s, pg_snapshot_xip(s.snap) AS x
              WHERE x::text::bigint % 4294967296 NOT IN (SELECT xid FROM other)))
"""


def committed_horizon(dialect: str):
    """The txid below which every transaction of this database has ended, as a
    scalar subquery (None: no such line needed, on SQLite)."""
    if dialect != "postgresql":
        return None
    return sa.text(HORIZON_SQL).columns(sa.column("horizon", sa.BigInteger)).scalar_subquery()


def ratings_after(after: Cursor, limit: int, tz: ZoneInfo) -> tuple[list[dict], Cursor]:
    """Up to ``limit`` ratings past ``after`` in feed order, as the export's fields
    (phone masked), and the cursor to ask with next (``after`` when none were ready)."""
    query = (
        sa.select(Rating.txid, Rating.id, Rating.client_id, Window.code, Rating.score,
                  Rating.channel, Rating.reasons, Rating.comment, Rating.phone,
                  Rating.created_at, Staff.staff_no, Rating.ticket, Rating.counted,
                  Rating.flags, Rating.evaluation_id)
        .join(Window, Rating.window_id == Window.id)
        .outerjoin(Staff, Rating.staff_id == Staff.id)
        .where(sa.tuple_(Rating.txid, Rating.id) > sa.tuple_(after.txid, after.id))
        .order_by(Rating.txid, Rating.id)
        .limit(limit)
    )
    horizon = committed_horizon(db.engine.dialect.name)
    if horizon is not None:  # one statement: the line and the rows share a snapshot
        query = query.where(Rating.txid < horizon)
    rows, last = [], after
    for txid, *values in db.session.execute(query):
        values[7] = shown_phone(values[7], whole=False)
        values[8] = clock.to_local(values[8], tz).isoformat()
        values[11] = bool(values[11])
        rows.append(dict(zip(FEED_COLUMNS, values)))
        last = Cursor(txid, values[0])
    return rows, last


@bp.get("/ratings")
@token_required("read")
def ratings():
    after = parse_cursor(request.args.get("after"))
    limit = parse_limit(request.args.get("limit"), LIMIT_DEFAULT, LIMIT_MAX)
    rows, last = ratings_after(after, limit, hall_tz())
    db.session.rollback()  # end the read: a PostgreSQL snapshot is not kept open
    return jsonify(ratings=rows, next=str(last))


# -- the league table -------------------------------------------------------------------

def _id_arg(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise InputError(f"{name} 应为编号数字，收到“{value}” ({name} must be an id)")
    return int(value)


def league_document(period: leagues.Period, tz: ZoneInfo, by: str, hall_id: int | None,
                    department_id: int | None) -> dict:
    """The league of ``period`` with each row's follow-up figures: what the back
    office's league.json answers."""
    table = leagues.league_table(db.session, period, tz, by=by, hall_id=hall_id,
                                 department_id=department_id,
                                 prior=current_app.config["LEAGUE_PRIOR"])
    return casestats.league_document(table, casestats.for_table(
        db.session, table, tz, hall_id=hall_id, department_id=department_id))


@bp.get("/league")
@token_required("read")
def league():
    tz = hall_tz()
    by = request.args.get("by", "").strip() or "window"
    if by not in leagues.BY:
        raise InputError(f"by 只能是 window 或 staff，收到“{by}” (by must be window or staff)")
    week = request.args.get("week", "").strip()
    try:
        period = leagues.parse_week(week) if week else leagues.current("week", tz)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    data = league_document(period, tz, by, _id_arg("hall"), _id_arg("department"))
    db.session.rollback()
    return jsonify(data)


# -- follow-up cases --------------------------------------------------------------------

# The API reads as an office that sees every department and never whole numbers.
READER = SimpleNamespace(id=None, role="api", department_id=None)


@bp.get("/followups")
@token_required("read")
def followups():
    if request.args.get("assigned", "").strip() == "me":
        raise InputError("assigned=me 只用于后台 (assigned=me is for signed-in users)")
    flt = calllist.parse_filter(request.args)
    tz = hall_tz()
    today = leagues.hall_today(tz)
    cases = calllist.matching(READER, flt, today, limit=CASES_MAX + 1)
    rows = [calllist.row(case, today, tz, whole=False) for case in cases[:CASES_MAX]]
    db.session.rollback()
    return jsonify(rows=rows, more=len(cases) > CASES_MAX)


# -- the document -----------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi_document():
    """Public: it describes the calls, it holds no data."""
    from .openapi import document

    return jsonify(document())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
