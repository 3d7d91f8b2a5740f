"""Alerts to the office's work chat (工作群提醒): the rules, the durable outbox, the
message formats, the delivery worker and the weekly summary (一周一小结).

Nothing here runs in a request. The rating write path is left alone: new bad ratings
are found by reading committed ratings after a durable cursor, by the read API's
rules (kiosk/readapi.py: ``(txid, id)`` order, only transactions older than every
running one on PostgreSQL), so none is missed or read twice, with several servers on
one database.

Every event becomes one row of the outbox (``Alert``) under a unique ``event_key``
(``bad_rating:<rating id>``, ``case_due:<case>:<due day>``, …), inserted with
``ON CONFLICT DO NOTHING``: two servers seeing the same event make one row. Rows are
then posted to ``ALERT_WEBHOOK_URL`` by whichever server claims them first (a lease,
taken with a guarded UPDATE), retried with backoff until the receiver takes them,
and given up (``failed``, shown in the back office) after ``MAX_ATTEMPTS``.

Phone numbers never leave whole: the rating's own number is masked
(kiosk/privacy.py), and so is any run of digits a citizen typed into a comment.

Configuration (CONTRACT.md): ``ALERT_WEBHOOK_URL`` (unset: alerts off),
``ALERT_WEBHOOK_FORMAT`` (``wecom``, ``dingtalk`` or ``json``), ``ALERT_KINDS`` (default
all), ``ALERT_BAD_BURST`` (``N/M``, default ``3/60``); and ``ALERT_TIMEOUT_SECONDS``
(5), ``ALERT_POLL_SECONDS`` (5) for the worker.
"""
from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import monotonic
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask

from . import casestats, clock, followups, league as leagues
from .config import Defaults
from .db import db, utcnow
from .devices import silent_tablets
from .hours import opening_hours
from .models import Alert, AlertCursor, FollowupCase, Hall, Rating, Staff, User, Window
from .privacy import mask_phone, shown_phone
from .readapi import START, Cursor, committed_horizon
from .scale import BAD_SCORE_MAX, CHANNELS, SCORES, is_bad

log = logging.getLogger(__name__)

KINDS = ("bad_rating", "bad_burst", "case_due", "kiosk_silent", "weekly_digest")
KIND_LABELS = {"bad_rating": "差评提醒", "bad_burst": "连续差评", "case_due": "回访将逾期",
               "kiosk_silent": "平板离线", "weekly_digest": "一周一小结"}
FORMATS = ("wecom", "dingtalk", "json")
STATUS_LABELS = {"pending": "待发送", "sent": "已发送", "failed": "发送失败"}

CHECK_SECONDS = 60  # how often the clock rules (case_due, kiosk_silent, digest) run
FEED_PAGE = 1000  # ratings read per transaction
STALE_HOURS = 24  # a rating that reached us longer ago than this raises no alert
MAX_ATTEMPTS = 10  # then the alert is ``failed`` until an admin retries it
BACKOFF_FIRST = 30  # seconds before the 2nd attempt; doubling up to BACKOFF_MOST
BACKOFF_MOST = 3600
SEND_BATCH = 20  # alerts one delivery round posts at most
DIGEST_AT = time(8, 30)  # Monday, hall time
CASE_DUE_AHEAD = timedelta(hours=1)
COMMENT_MAX = 200  # characters of a citizen's comment quoted in an alert
FEED = "ratings"  # the cursor's name
BRAND = "好差评"  # in every message: DingTalk robots with a keyword check want one

# A run of at least 7 digits, allowing the separators people type between them (and
# full-width digits: \d matches them): a phone number written into a comment.
DIGIT_RUN = re.compile(r"\+?\d(?:[\s\-－—.·()（）]*\d){6,}")


# ---- settings ---------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The alert settings of an app, checked."""

    url: str | None
    format: str
    kinds: frozenset[str]
    burst_count: int
    burst_minutes: int
    timeout: float
    poll: float

    @property
    def enabled(self) -> bool:
        return bool(self.url)


def parse_burst(text: str) -> tuple[int, int]:
    """``"3/60"`` as (3, 60); ValueError with a readable message."""
    match = re.fullmatch(r"\s*(\d{1,4})\s*/\s*(\d{1,5})\s*", str(text or ""))
    if not match or int(match[1]) < 2 or int(match[2]) < 1:
        raise ValueError(f"ALERT_BAD_BURST 应为 N/M（N≥2 条差评在 M 分钟内，如 3/60），"
                         f"收到 {text!r} (ALERT_BAD_BURST must be N/M, e.g. 3/60)")
    return int(match[1]), int(match[2])


def parse_kinds(value) -> frozenset[str]:
    """``ALERT_KINDS`` (a comma-separated string or a list; empty: all)."""
    if value is None or value == "":
        return frozenset(KINDS)
    items = value.replace("，", ",").split(",") if isinstance(value, str) else list(value)
    kinds = {str(k).strip() for k in items if str(k).strip()}
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(f"ALERT_KINDS 中有未知的提醒类型 {sorted(unknown)}，可用："
                         f"{', '.join(KINDS)} (unknown alert kinds)")
    return frozenset(kinds)


def settings(app: Flask) -> Settings:
    """The app's alert settings; ValueError naming the key that is wrong."""
    config = app.config
    url = (config.get("ALERT_WEBHOOK_URL") or "").strip() or None
    if url and not re.match(r"https?://", url):
        raise ValueError(f"ALERT_WEBHOOK_URL 应以 http:// 或 https:// 开头，收到 {url!r} "
                         "(ALERT_WEBHOOK_URL must be an http(s) URL)")
    fmt = (config.get("ALERT_WEBHOOK_FORMAT") or "json").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"ALERT_WEBHOOK_FORMAT 只能是 {'、'.join(FORMATS)}，收到 {fmt!r} "
                         f"(ALERT_WEBHOOK_FORMAT must be one of {', '.join(FORMATS)})")
    count, minutes = parse_burst(config.get("ALERT_BAD_BURST") or Defaults.ALERT_BAD_BURST)
    try:
        timeout = float(config.get("ALERT_TIMEOUT_SECONDS") or Defaults.ALERT_TIMEOUT_SECONDS)
        poll = float(config.get("ALERT_POLL_SECONDS") or Defaults.ALERT_POLL_SECONDS)
    except (TypeError, ValueError):
        raise ValueError("ALERT_TIMEOUT_SECONDS 和 ALERT_POLL_SECONDS 应为秒数 "
                         "(must be numbers of seconds)") from None
    return Settings(url, fmt, parse_kinds(config.get("ALERT_KINDS")), count, minutes,
                    max(timeout, 0.1), max(poll, 0.05))


def shown_url(url: str | None) -> str:
    """The webhook as the admin page shows it: a robot's URL carries its key in the
    query, which is a secret (anyone with it can post to the group)."""
    if not url:
        return ""
    return url.split("?", 1)[0] + ("?…" if "?" in url else "")


# ---- masking ----------------------------------------------------------------------

def _masked_run(match: re.Match) -> str:
    digits = re.sub(r"\D", "", match[0])
    if len(digits) >= 11:
        return mask_phone(digits) or ""
    if len(digits) >= 9:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "*" * len(digits)


def mask_text(text: str | None) -> str:
    """``text`` with every run of 7 or more digits masked: a citizen's comment may
    hold a phone number (13800138000, 138 0013 8000, ０１０-１２３４５６７８), and an
    alert never shows one whole. A date written as digits is masked too: better
    that than a number."""
    return DIGIT_RUN.sub(_masked_run, text or "")


# ---- the outbox -------------------------------------------------------------------

@dataclass
class Event:
    """An alert about to enter the outbox."""

    key: str
    kind: str
    hall: str
    window: str | None
    at: datetime  # naive UTC
    message: str


def _insert(rows: list[Event], now: datetime) -> int:
    """Put events into the outbox (one row per key, whoever else inserts it too), in
    one statement; how many were new."""
    if not rows:
        return 0
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    # In key order: two servers inserting the same events wait on each other in the
    # same order (no deadlock). RETURNING says which were new.
    values = [{"event_key": e.key[:160], "kind": e.kind, "hall": e.hall[:100],
               "window": e.window, "at": e.at, "message": e.message, "created_at": now,
               "status": "pending", "attempts": 0, "next_attempt_at": now}
              for e in sorted({e.key: e for e in rows}.values(), key=lambda e: e.key)]
    stmt = (insert(Alert).values(values)
            .on_conflict_do_nothing(index_elements=["event_key"]).returning(Alert.id))
    return len(db.session.execute(stmt).all())


@dataclass(frozen=True)
class Place:
    """A window as an alert names it."""

    code: str
    name: str
    hall: str
    hall_id: int


def _places() -> dict[int, Place]:
    rows = db.session.execute(sa.select(Window.id, Window.code, Window.name, Hall.name,
                                        Hall.id).join(Hall, Window.hall_id == Hall.id))
    return {wid: Place(code, name, hall, hall_id) for wid, code, name, hall, hall_id in rows}


def _when(moment: datetime, tz: ZoneInfo) -> str:
    return clock.format_local(moment, tz, "%m月%d日 %H:%M")


# ---- rule: bad ratings and bursts (the rating feed) -------------------------------



def _horizon() -> int | None:
    """The txid below which every rating has committed (None on SQLite, where commit
    order is id order and txid is 0)."""
    horizon = committed_horizon(db.engine.dialect.name)
    if horizon is None:
        return None
    return int(db.session.scalar(sa.select(horizon)))


def _feed_end() -> Cursor:
    """The cursor past every rating committed so far: where a new scanner starts, so
    turning alerts on does not replay the history."""
    query = sa.select(Rating.txid, Rating.id).order_by(Rating.txid.desc(),
                                                       Rating.id.desc()).limit(1)
    horizon = _horizon()
    if horizon is not None:
        query = query.where(Rating.txid < horizon)
    row = db.session.execute(query).first()
    return Cursor(row[0], row[1]) if row else START


def _cursor() -> Cursor:
    """The scanner's cursor, locked for this transaction on PostgreSQL (a second
    server's scanner waits, then reads where this one left off)."""
    row = db.session.execute(sa.select(AlertCursor.txid, AlertCursor.rating_id)
                             .where(AlertCursor.name == FEED).with_for_update()).first()
    if row is not None:
        return Cursor(row[0], row[1])
    end = _feed_end()
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(AlertCursor).values(
        name=FEED, txid=end.txid, rating_id=end.id, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"]))
    db.session.commit()
    return _cursor()


@dataclass
class ScanResult:
    read: int = 0  # ratings looked at
    new: int = 0  # alerts that entered the outbox


def scan_ratings(app: Flask, now: datetime, cfg: Settings | None = None) -> ScanResult:
    """Read the ratings committed since the cursor, a page per transaction, and turn
    bad ones into ``bad_rating`` and ``bad_burst`` alerts; commits."""
    cfg = cfg or settings(app)
    tz = clock.zone(app.config["TIMEZONE"])
    result = ScanResult()
    places: dict[int, Place] | None = None
    labels: dict[str, str] = {}
    while True:
        before = _cursor()
        # The page in feed order, narrow (most ratings are good); then the bad ones whole.
        query = (sa.select(Rating.txid, Rating.id, Rating.score, Rating.counted,
                           Rating.received_at)
                 .where(sa.tuple_(Rating.txid, Rating.id) > sa.tuple_(before.txid, before.id))
                 .order_by(Rating.txid, Rating.id).limit(FEED_PAGE))
        horizon = _horizon()
        if horizon is not None:
            query = query.where(Rating.txid < horizon)
        rows = db.session.execute(query).all()
        if not rows:
            db.session.rollback()
            return result
        last = Cursor(rows[-1].txid, rows[-1].id)
        fresh = now - timedelta(hours=STALE_HOURS)
        bad_ids = [r.id for r in rows
                   if is_bad(r.score) and r.counted and r.received_at >= fresh]
        bad = db.session.execute(
            sa.select(Rating.id, Rating.window_id, Rating.score, Rating.channel,
                      Rating.reasons, Rating.comment, Rating.phone, Rating.created_at,
                      Rating.staff_id, Rating.ticket)
            .where(Rating.id.in_(bad_ids)).order_by(Rating.id)).all() if bad_ids else []
        if bad and places is None:
            places, labels = _places(), _reason_labels()
        # The events first, by reads only: on SQLite the write lock the rating writer
        # needs is taken below, for the few statements that store them.
        events: list[Event] = []
        bursts: dict[str, list[datetime]] = {}  # this page's bursts, by window code
        for rating in bad:
            place = places.get(rating.window_id) if places else None
            if place is None:  # a window made since the page began
                places = _places()
                place = places[rating.window_id]
            if "bad_rating" in cfg.kinds:
                events.append(bad_rating_event(rating, place, tz, labels))
            if "bad_burst" in cfg.kinds:
                burst = bad_burst_event(rating, place, cfg, tz, bursts.get(place.code, []))
                if burst is not None:
                    events.append(burst)
                    bursts.setdefault(place.code, []).append(burst.at)
        # Claim the page: a scanner that read the same cursor (a second process on
        # SQLite; on PostgreSQL the row lock above makes it wait) finds it moved and
        # drops its page.
        moved = db.session.execute(
            sa.update(AlertCursor)
            .where(AlertCursor.name == FEED, AlertCursor.txid == before.txid,
                   AlertCursor.rating_id == before.id)
            .values(txid=last.txid, rating_id=last.id, updated_at=now)).rowcount
        if moved != 1:
            db.session.rollback()
            continue
        result.new += _insert(events, now)
        db.session.commit()
        result.read += len(rows)


def _reason_labels() -> dict[str, str]:
    from .calllist import reason_labels

    return reason_labels()


def bad_rating_event(rating, place: Place, tz: ZoneInfo,
                     labels: dict[str, str] | None = None) -> Event:
    """One bad rating, as the work chat reads it (``labels``: reason code -> label)."""
    score = SCORES[rating.score]
    channel = CHANNELS.get(rating.channel)
    parts = [f"【{BRAND}·{KIND_LABELS['bad_rating']}】{place.hall} {place.code} {place.name}："
             f"{_when(rating.created_at, tz)} 收到一条“{score.zh}”评价"
             f"（{channel.zh if channel else rating.channel}）。"]
    if rating.staff_id:
        clerk = db.session.get(Staff, rating.staff_id)
        if clerk is not None:
            parts.append(f"当班人员：{clerk.name}（工号 {clerk.staff_no}）。")
    codes = [c for c in (rating.reasons or "").split(";") if c]
    if codes:
        labels = labels or _reason_labels()
        parts.append("原因：" + "、".join(labels.get(c, c) for c in codes) + "。")
    if rating.comment:
        comment = rating.comment.strip()
        if len(comment) > COMMENT_MAX:
            comment = comment[:COMMENT_MAX] + "…"
        parts.append(f"留言：“{mask_text(comment)}”。")
    if rating.ticket:
        parts.append(f"票号/办件号：{mask_text(rating.ticket)}。")
    phone = shown_phone(rating.phone, whole=False)
    parts.append(f"群众留有联系电话 {phone}，请按时回访。" if phone
                 else "群众未留电话，请现场核实。")
    return Event(f"bad_rating:{rating.id}", "bad_rating", place.hall, place.code,
                 rating.created_at, "".join(parts))


def bad_burst_event(rating, place: Place, cfg: Settings, tz: ZoneInfo,
                    pending: list[datetime] = ()) -> Event | None:
    """A burst when this bad rating is the Nth at its window within M minutes, unless
    the window already has a burst alert within those M minutes, in the outbox or
    among ``pending`` (the times of bursts about to enter it): the same burst, one
    alert per window per burst."""
    since = rating.created_at - timedelta(minutes=cfg.burst_minutes)
    count = db.session.scalar(
        sa.select(sa.func.count()).select_from(Rating).where(
            Rating.window_id == rating.window_id, Rating.counted,
            Rating.score <= BAD_SCORE_MAX, Rating.created_at > since,
            Rating.created_at <= rating.created_at))
    if count < cfg.burst_count:
        return None
    until = rating.created_at + timedelta(minutes=cfg.burst_minutes)
    if any(since < at <= until for at in pending):
        return None
    already = db.session.scalar(
        sa.select(sa.func.count()).select_from(Alert).where(
            Alert.kind == "bad_burst", Alert.window == place.code,
            Alert.at > since, Alert.at <= until))
    if already:
        return None
    message = (f"【{BRAND}·{KIND_LABELS['bad_burst']}】{place.hall} {place.code} {place.name}："
               f"{cfg.burst_minutes} 分钟内已收到 {count} 条差评（最近一条 "
               f"{_when(rating.created_at, tz)}），请窗口负责人尽快了解情况。")
    return Event(f"bad_burst:{place.code}:{rating.id}", "bad_burst", place.hall, place.code,
                 rating.created_at, message)


# ---- rule: a follow-up case about to be overdue -----------------------------------

def contact_deadline(day: date, app: Flask) -> datetime:
    """When a case due to be contacted on ``day`` becomes overdue in practice: the
    hall's closing time that day (end of the day when it does not open), naive UTC."""
    hours = opening_hours(app)
    spans = hours.spans(day)
    tz = clock.zone(app.config["TIMEZONE"])
    if not spans or spans[-1][1] == time.max:
        return clock.day_start_utc(day + timedelta(days=1), tz)
    return clock.to_utc(datetime.combine(day, spans[-1][1]), tz)


def case_due_events(app: Flask, now: datetime) -> list[Event]:
    """Cases not contacted whose contact deadline falls within the next hour."""
    tz = clock.zone(app.config["TIMEZONE"])
    today = leagues.hall_today(tz, now)
    deadline = contact_deadline(today, app)
    if not deadline - CASE_DUE_AHEAD <= now < deadline:
        return []
    cases = db.session.scalars(
        sa.select(FollowupCase).where(FollowupCase.status != "closed",
                                      FollowupCase.contacted_at.is_(None),
                                      FollowupCase.contact_due == today)
        .order_by(FollowupCase.id)).all()
    places = _places() if cases else {}
    out = []
    for case in cases:
        place = places[case.window_id]
        message = (f"【{BRAND}·{KIND_LABELS['case_due']}】{place.hall} {place.code} "
                   f"{place.name}：回访件 #{case.id}（{followups.KIND_LABELS[case.kind]}，"
                   f"{_when(case.rated_at, tz)} 的评价）须在今天 "
                   f"{clock.format_local(deadline, tz, '%H:%M')} 前联系群众，目前尚未联系，"
                   "即将逾期。")
        out.append(Event(f"case_due:{case.id}:{case.contact_due.isoformat()}", "case_due",
                         place.hall, place.code, now, message))
    return out


# ---- rule: a kiosk tablet silent in opening hours ---------------------------------

def kiosk_silent_events(app: Flask, now: datetime) -> list[Event]:
    """One alert per tablet per silence (a silence ends with the next heartbeat)."""
    tz = clock.zone(app.config["TIMEZONE"])
    out = []
    places = None
    for tablet in silent_tablets(db.session, now, app):
        places = places or _places()
        place = places[tablet.window_id]
        since = tablet.last_seen_at or tablet.paired_at
        heard = (f"最后联系于 {_when(tablet.last_seen_at, tz)}" if tablet.last_seen_at
                 else "配对后从未联系")
        message = (f"【{BRAND}·{KIND_LABELS['kiosk_silent']}】{place.hall} {place.code} "
                   f"{place.name}：评价平板 #{tablet.device_id} 在办公时间内已 "
                   f"{int(tablet.silent_open_seconds // 60)} 分钟没有联系（{heard}），"
                   "请检查平板的电源和网络。")
        out.append(Event(f"kiosk_silent:{tablet.device_id}:{since.isoformat()}",
                         "kiosk_silent", place.hall, place.code, now, message))
    return out


# ---- the weekly summary (一周一小结) ------------------------------------------------

def digest_moment(week: leagues.Period, tz: ZoneInfo) -> datetime:
    """Monday 08:30 hall time of the week after ``week``, naive UTC."""
    return clock.to_utc(datetime.combine(week.next().first, DIGEST_AT), tz)


def _names(rows: list[dict]) -> list[str]:
    return [f"{r['window']} {r['name']}" for r in rows]


def weekly_figures(app: Flask, hall_id: int, week: leagues.Period,
                   now: datetime) -> dict:
    """The figures of one hall's week, from the functions the league page uses
    (kiosk/league.py, kiosk/casestats.py): what the summary says."""
    tz = clock.zone(app.config["TIMEZONE"])
    prior = app.config["LEAGUE_PRIOR"]
    today = leagues.hall_today(tz, now)
    table = leagues.league_table(db.session, week, tz, hall_id=hall_id, prior=prior)
    before = leagues.league_table(db.session, week.previous(), tz, hall_id=hall_id,
                                  prior=prior)
    doc = table.as_dict()
    rows = doc["rows"]
    satisfaction = doc["mean_satisfaction"]
    previous = before.as_dict()["mean_satisfaction"]
    start, end = week.utc_range(tz)
    cases = casestats.report(db.session, start, end, today, tz, hall_id=hall_id).overall
    open_cases, overdue = _open_cases(hall_id, today)
    return {
        "week": week.label, "from": week.first.isoformat(), "to": week.last.isoformat(),
        "ratings": sum(r["ratings"] for r in rows), "bad": sum(r["bad"] for r in rows),
        "satisfaction": satisfaction, "previous_satisfaction": previous,
        "change": (None if satisfaction is None or previous is None
                   else round(satisfaction - previous, 1)),
        "red_flag": _names([r for r in rows if r["mark"] == "red_flag"]),
        "laggard": _names([r for r in rows if r["mark"] == "laggard"]),
        "callback_cases": cases.callback_cases, "called_back": cases.called_back,
        "called_back_on_time": _called_on_time(start, end, hall_id, tz),
        "callback_rate": cases.callback_rate, "on_time_rate": cases.on_time_rate,
        "open_cases": open_cases, "overdue_cases": overdue,
    }


def _called_on_time(start: datetime, end: datetime, hall_id: int, tz: ZoneInfo) -> int:
    """Call backs of the week's bad ratings first contacted by the end of their
    contact day (casestats.timeliness's contact rule), appeals upheld left out."""
    rows = db.session.execute(
        sa.select(FollowupCase.contacted_at, FollowupCase.contact_due)
        .join(Window, Window.id == FollowupCase.window_id)
        .where(FollowupCase.kind == "callback", FollowupCase.contacted_at.is_not(None),
               FollowupCase.rated_at >= start, FollowupCase.rated_at < end,
               Window.hall_id == hall_id,
               sa.or_(FollowupCase.outcome.is_(None),
                      FollowupCase.outcome.not_in(casestats.EXCLUDED_OUTCOMES))))
    return sum(1 for contacted, due in rows if casestats.contacted_in_time(contacted, due, tz))


def _open_cases(hall_id: int, today: date) -> tuple[int, int]:
    """Cases of the hall not closed, whenever rated, and how many are overdue today
    (casestats.open_now's figures, for one hall)."""
    where = [FollowupCase.status != "closed",
             FollowupCase.window_id.in_(sa.select(Window.id).where(Window.hall_id == hall_id))]
    total = db.session.scalar(sa.select(sa.func.count()).select_from(FollowupCase)
                              .where(*where))
    overdue = db.session.scalar(sa.select(sa.func.count()).select_from(FollowupCase)
                                .where(*where, followups.overdue_clause(today)))
    return total, overdue


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:g}%"


def digest_message(hall: str, week: leagues.Period, f: dict) -> str:
    """The summary as the work chat reads it."""
    if f["satisfaction"] is None:
        sat = "满意度 —"
    else:
        sat = f"满意度 {f['satisfaction']:g}"
        if f["change"] is not None:
            sign = "+" if f["change"] > 0 else ""
            sat += f"（上周 {f['previous_satisfaction']:g}，{sign}{f['change']:g}）"
        else:
            sat += "（上周无评价）"
    lines = [
        f"【{BRAND}·{KIND_LABELS['weekly_digest']}】{hall} {week.title}"
        f"（{week.first:%m月%d日}—{week.last:%m月%d日}）",
        f"评价 {f['ratings']} 条，{sat}",
        "红旗窗口：" + ("、".join(f["red_flag"]) or "无"),
        "后进窗口：" + ("、".join(f["laggard"]) or "无"),
        f"差评 {f['bad']} 条：需回访 {f['callback_cases']} 件，已回访 {f['called_back']} 件"
        f"（回访率 {_pct(f['callback_rate'])}），按时回访 {f['called_back_on_time']} 件；"
        f"按时办结率 {_pct(f['on_time_rate'])}",
        f"回访整改：未结案 {f['open_cases']} 件，其中逾期 {f['overdue_cases']} 件",
    ]
    return "\n".join(lines)


def weekly_digest_events(app: Flask, now: datetime) -> list[Event]:
    """Last week's summary per hall, from Monday 08:30 hall time on (a server down
    then sends it when it is back, that week)."""
    tz = clock.zone(app.config["TIMEZONE"])
    week = leagues.current("week", tz, now).previous()
    moment = digest_moment(week, tz)
    if now < moment:
        return []
    out = []
    for hall_id, name in db.session.execute(sa.select(Hall.id, Hall.name).order_by(Hall.id)):
        key = f"weekly_digest:{hall_id}:{week.label}"
        if db.session.scalar(sa.select(Alert.id).where(Alert.event_key == key)):
            continue  # (the figures are not worth computing twice)
        figures = weekly_figures(app, hall_id, week, now)
        out.append(Event(key, "weekly_digest", name, None, moment,
                         digest_message(name, week, figures)))
    return out


def check_clock_rules(app: Flask, now: datetime, cfg: Settings | None = None) -> int:
    """Run the rules that depend on the time rather than on a new rating; commits;
    how many alerts entered the outbox."""
    cfg = cfg or settings(app)
    events: list[Event] = []
    if "case_due" in cfg.kinds:
        events += case_due_events(app, now)
    if "kiosk_silent" in cfg.kinds:
        events += kiosk_silent_events(app, now)
    if "weekly_digest" in cfg.kinds:
        events += weekly_digest_events(app, now)
    new = _insert(events, now)
    db.session.commit()
    return new


# ---- formats ----------------------------------------------------------------------

def payload(alert: Alert, fmt: str, tz: ZoneInfo) -> dict:
    """The body posted for ``alert`` (CONTRACT.md "Bulletin and alerts")."""
    if fmt in ("wecom", "dingtalk"):
        return {"msgtype": "text", "text": {"content": alert.message}}
    return {"kind": alert.kind, "hall": alert.hall, "window": alert.window,
            "at": clock.to_local(alert.at, tz).isoformat(), "message": alert.message}


# ---- delivery ---------------------------------------------------------------------

def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed try."""
    return timedelta(seconds=min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MOST))


class DeliveryError(Exception):
    """The receiver did not take the alert (the reason, for the admin page)."""


def post(url: str, body: dict, timeout: float) -> None:
    """POST ``body`` as JSON; DeliveryError unless the receiver took it. A robot
    (WeCom, DingTalk) answers 200 with ``{"errcode": 0}``; another errcode is a
    refusal (a wrong key, too many messages a minute) and is retried."""
    data = json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "kiosk-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            answer = resp.read(4096)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"{type(exc).__name__}: {reason}") from None
    try:
        parsed = json.loads(answer) if answer.strip() else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("errcode") not in (None, 0, "0"):
        raise DeliveryError(f"errcode {parsed.get('errcode')}: {parsed.get('errmsg', '')}"[:300])


@dataclass
class DeliveryResult:
    sent: int = 0
    failed: int = 0  # attempts that did not get through (retried later or given up)
    errors: list[str] = field(default_factory=list)


def _due():
    return sa.and_(Alert.status == "pending",
                   sa.or_(Alert.claimed_until.is_(None), Alert.claimed_until < sa.bindparam("now")))


def _claim(token: str, now: datetime, lease: timedelta, limit: int) -> list[Alert]:
    """Take a lease on up to ``limit`` due alerts (one guarded UPDATE: a row another
    sender holds is not taken), oldest due first; they are returned detached, and
    no transaction stays open while they are posted."""
    due = (sa.select(Alert.id).where(_due(), Alert.next_attempt_at <= now)
           .order_by(Alert.next_attempt_at, Alert.id).limit(limit))
    ids = db.session.scalars(due, {"now": now}).all()
    if not ids:
        db.session.rollback()
        return []
    db.session.execute(
        sa.update(Alert).where(Alert.id.in_(ids), _due(), Alert.next_attempt_at <= now)
        .values(claimed_by=token, claimed_until=now + lease)
        .execution_options(synchronize_session=False), {"now": now})
    db.session.commit()
    rows = list(db.session.scalars(sa.select(Alert).where(Alert.claimed_by == token)
                                   .order_by(Alert.next_attempt_at, Alert.id)))
    for row in rows:
        db.session.expunge(row)
    db.session.rollback()
    return rows


def deliver(app: Flask, now: datetime | None = None, cfg: Settings | None = None,
            limit: int = SEND_BATCH) -> DeliveryResult:
    """Post the alerts that are due, claimed first (so two servers never post the
    same one), outside any transaction; record each outcome as it comes; commits."""
    cfg = cfg or settings(app)
    result = DeliveryResult()
    if not cfg.enabled:
        return result
    tz = clock.zone(app.config["TIMEZONE"])
    now = now or utcnow()
    # Long enough for the whole batch at the slowest a post may take; a batch that
    # runs past it anyway stops (another server may have taken the rest by then).
    lease = timedelta(seconds=cfg.timeout * 2 * limit + 60)
    token = secrets.token_hex(8)
    started = monotonic()
    claimed = _claim(token, now, lease, limit)
    for alert in claimed:
        if monotonic() - started > lease.total_seconds() - cfg.timeout * 2:
            break
        alert_id, key, attempts = alert.id, alert.event_key, alert.attempts + 1
        body = payload(alert, cfg.format, tz)
        error = None
        try:
            post(cfg.url, body, cfg.timeout)
        except DeliveryError as exc:
            error = str(exc)
        values: dict = {"attempts": attempts, "claimed_by": None, "claimed_until": None}
        if error is None:
            values.update(status="sent", sent_at=max(now, utcnow()), last_error=None)
            result.sent += 1
        else:
            values.update(last_error=error[:500], next_attempt_at=now + backoff(attempts),
                          status="failed" if attempts >= MAX_ATTEMPTS else "pending")
            result.failed += 1
            result.errors.append(error)
            log.warning("alert %s not delivered (attempt %d): %s", key, attempts, error)
        db.session.execute(sa.update(Alert).where(Alert.id == alert_id,
                                                  Alert.claimed_by == token).values(**values))
        db.session.commit()
        if error is not None:
            # The receiver is down or refusing: the rest of the batch waits for the
            # next round rather than each costing a timeout now.
            break
    if result.sent + result.failed < len(claimed):  # give back what was not tried
        db.session.execute(sa.update(Alert).where(Alert.claimed_by == token)
                           .values(claimed_by=None, claimed_until=None)
                           .execution_options(synchronize_session=False))
        db.session.commit()
    return result


def retry(alert: Alert, user: User | None, now: datetime | None = None) -> bool:
    """Send a failed alert again (an admin's button): back to pending, due now, with a
    fresh set of attempts. Audited; flushes. False when it was not failed."""
    from . import audit

    if alert.status != "failed":
        return False
    alert.status = "pending"
    alert.attempts = 0
    alert.next_attempt_at = now or utcnow()
    alert.claimed_by = alert.claimed_until = None
    db.session.flush()
    audit.record(user, "alert.retry", "alert", alert.id, before={"status": "failed"},
                 after={"status": "pending"})
    return True


# ---- one round, the worker --------------------------------------------------------

@dataclass
class Round:
    read: int
    new: int
    delivery: DeliveryResult


def run_once(app: Flask, now: datetime | None = None, clock_rules: bool = True) -> Round:
    """One round: read new ratings, (optionally) the clock rules, deliver what is due.
    The CLI's ``kiosk send-alerts`` and the worker both run this."""
    cfg = settings(app)
    now = now or utcnow()
    scanned = scan_ratings(app, now, cfg)
    new = scanned.new + (check_clock_rules(app, now, cfg) if clock_rules else 0)
    return Round(scanned.read, new, deliver(app, now, cfg))


class Worker:
    """The worker ``kiosk serve`` starts: two daemon threads, one running the rules
    every ``ALERT_POLL_SECONDS`` (the clock rules once a minute), one posting what is
    due. A dead receiver only ever holds up the sender: the outbox keeps filling, and
    requests never wait on either."""

    def __init__(self, app: Flask, cfg: Settings) -> None:
        self.app = app
        self.cfg = cfg
        self.stopping = threading.Event()
        self.last_clock = float("-inf")
        self.threads = [threading.Thread(target=self._loop, args=(self._rules,),
                                         name="kiosk-alert-rules", daemon=True),
                        threading.Thread(target=self._loop, args=(self._send,),
                                         name="kiosk-alert-sender", daemon=True)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def _rules(self) -> None:
        started = monotonic()
        now = utcnow()
        scan_ratings(self.app, now, self.cfg)
        if started - self.last_clock >= CHECK_SECONDS:
            check_clock_rules(self.app, now, self.cfg)
            self.last_clock = started

    def _send(self) -> None:
        # A full batch taken: more may be due (a busy hour); go on at once.
        while deliver(self.app, utcnow(), self.cfg).sent == SEND_BATCH:
            if self.stopping.is_set():
                return

    def _loop(self, work) -> None:
        while not self.stopping.is_set():
            try:
                with self.app.app_context():
                    try:
                        work()
                    finally:
                        db.session.remove()
            except Exception:  # noqa: BLE001 - a bad round must not end the worker
                log.exception("alert round failed; trying again")
            self.stopping.wait(self.cfg.poll)


def start_worker(app: Flask) -> Worker | None:
    """Start the worker when ``ALERT_WEBHOOK_URL`` is set (None: alerts off);
    ValueError for settings that are wrong."""
    cfg = settings(app)
    if not cfg.enabled:
        return None
    worker = Worker(app, cfg)
    worker.start()
    return worker


# ---- what the admin page reads ----------------------------------------------------

def recent(status: str | None = None, kind: str | None = None,
           limit: int = 200) -> list[Alert]:
    """The newest alerts first, optionally of one status and kind."""
    query = sa.select(Alert).order_by(Alert.created_at.desc(), Alert.id.desc()).limit(limit)
    if status:
        query = query.where(Alert.status == status)
    if kind:
        query = query.where(Alert.kind == kind)
    return list(db.session.scalars(query))


def counts() -> dict[str, int]:
    """How many alerts are in each status."""
    found = dict(db.session.execute(sa.select(Alert.status, sa.func.count())
                                    .group_by(Alert.status)).all())
    return {status: found.get(status, 0) for status in STATUS_LABELS}
