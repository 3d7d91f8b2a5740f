"""Alerts to the work chat (kiosk/alerts.py) against a local HTTP receiver: each rule
fires once, the formats are CONTRACT.md's, phone numbers never leave whole, the
weekly summary says what the league says, a receiver that fails and then answers
gets the alert once, and a dead receiver never slows a rating."""
from __future__ import annotations

import json
import socket
import statistics
import threading
import time
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from kiosk import alerts, clock, league as leagues, phonekeys
from kiosk.db import db, utcnow
from kiosk.models import Alert, Device, FollowupCase, Hall

from .helpers import make_window, pair_device
from .liveserver import Client, LiveServer

TZ = clock.zone("Asia/Shanghai")
HALL = "测试政务服务大厅"
PHONE = "13800138000"


class Receiver:
    """A work-chat robot on 127.0.0.1: answers the statuses in ``answers`` in turn,
    then 200 ``{"errcode": 0}``; keeps every body it was sent and those it took."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.requests: list[dict] = []
        self.taken: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.requests.append(body)
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    if 200 <= status < 300:
                        receiver.taken.append(body)
                answer = json.dumps({"errcode": 0 if status == 200 else 1,
                                     "errmsg": "ok"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key=secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def contents(self, kind: str | None = None) -> list[str]:
        """The messages taken (wecom/dingtalk), optionally those of one kind."""
        texts = [b["text"]["content"] for b in self.taken]
        if kind:
            texts = [t for t in texts if alerts.KIND_LABELS[kind] in t.split("】")[0]]
        return texts

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app):
    r = Receiver()
    app.config.update(ALERT_WEBHOOK_URL=r.url, ALERT_WEBHOOK_FORMAT="wecom")
    yield r
    r.close()


def rate(app, window: str, score: int, *, minutes_ago: float = 1, **fields) -> int:
    """A rating through the real write path, tapped ``minutes_ago`` minutes ago."""
    now = utcnow()
    tapped = now - timedelta(minutes=minutes_ago)
    body = {"window": window, "score": score, "channel": "qr",
            "client_id": uuid.uuid4().hex, "created_at": tapped.isoformat() + "Z", **fields}
    stored = app.extensions["kiosk.intake"].accept(body, now=now)
    db.session.expire_all()
    return stored.id


def one_round(app, now: datetime | None = None) -> alerts.Round:
    return alerts.run_once(app, now or utcnow(), clock_rules=False)


def outbox(kind: str | None = None) -> list[Alert]:
    db.session.expire_all()
    query = sa.select(Alert).order_by(Alert.id)
    if kind:
        query = query.where(Alert.kind == kind)
    return list(db.session.scalars(query))


# ---- settings and masking -----------------------------------------------------------

def test_settings_are_checked_with_a_message_naming_the_key(app):
    app.config.update(ALERT_WEBHOOK_URL="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
                      ALERT_WEBHOOK_FORMAT="dingtalk", ALERT_KINDS="bad_rating, case_due",
                      ALERT_BAD_BURST="4/30")
    cfg = alerts.settings(app)
    assert (cfg.format, cfg.kinds, cfg.burst_count, cfg.burst_minutes) == (
        "dingtalk", {"bad_rating", "case_due"}, 4, 30)
    assert alerts.shown_url(cfg.url) == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…"
    for key, value in [("ALERT_WEBHOOK_FORMAT", "slack"), ("ALERT_KINDS", "bad_rating,spam"),
                       ("ALERT_BAD_BURST", "3"), ("ALERT_WEBHOOK_URL", "ftp://x")]:
        app.config[key] = value
        with pytest.raises(ValueError, match=key):
            alerts.settings(app)
        app.config[key] = {"ALERT_WEBHOOK_FORMAT": "json", "ALERT_KINDS": None,
                           "ALERT_BAD_BURST": "3/60",
                           "ALERT_WEBHOOK_URL": "http://x"}[key]
    app.config["ALERT_WEBHOOK_URL"] = None
    assert not alerts.settings(app).enabled
    assert alerts.settings(app).kinds == set(alerts.KINDS)


@pytest.mark.parametrize("typed", [
    "13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000",
    "１３８００１３８０００", "010-62345678", "6234 5678"])
def test_numbers_typed_into_a_comment_are_masked(typed):
    text = alerts.mask_text(f"请打{typed}找我，谢谢")
    digits = "".join(c for c in typed if c.isdigit())
    assert digits not in "".join(c for c in text if c.isdigit() or c == "*")
    assert "*" in text and text.startswith("请打") and text.endswith("找我，谢谢")


def test_short_numbers_in_a_comment_stay_readable():
    assert alerts.mask_text("等了 40 分钟，3号窗口，票号 A023") == "等了 40 分钟，3号窗口，票号 A023"


# ---- bad ratings ----------------------------------------------------------------------

def test_a_bad_rating_sends_one_alert_with_the_phone_masked(app, receiver):
    make_window()
    one_round(app)  # the scanner starts from what is stored now
    rate(app, "A01", 5)
    rate(app, "A01", 1, reasons=["attitude", "waiting"], phone=PHONE,
         comment="窗口人员态度差，请回电 138 0013 8000 或 13912345678")
    first = one_round(app)
    assert first.read == 2 and first.new == 1 and first.delivery.sent == 1
    again = one_round(app)
    assert again.read == 0 and again.new == 0 and again.delivery.sent == 0
    [message] = receiver.contents()
    assert receiver.taken[0]["msgtype"] == "text" and set(receiver.taken[0]) == {"msgtype", "text"}
    assert HALL in message and "A01 综合受理窗口" in message and "非常不满意" in message
    assert "服务态度、等候时间长" in message and "张丽" in message
    assert "138****8000" in message
    for whole in (PHONE, "138 0013 8000", "13912345678", "0013"):
        assert whole not in message
    [row] = outbox()
    assert (row.kind, row.status, row.attempts, row.window) == ("bad_rating", "sent", 1, "A01")


def test_good_and_long_delivered_ratings_send_nothing(app, receiver):
    make_window()
    one_round(app)
    rate(app, "A01", 3)
    rate(app, "A01", 4)
    old = rate(app, "A01", 2)
    from kiosk.models import Rating
    db.session.get(Rating, old).received_at = utcnow() - timedelta(days=2)
    db.session.commit()
    assert one_round(app).new == 0
    assert receiver.requests == []


def test_history_before_alerts_were_turned_on_is_not_replayed(app, receiver):
    app.config["ALERT_KINDS"] = "bad_rating"
    make_window()
    rate(app, "A01", 1)
    rate(app, "A01", 2)
    assert one_round(app).new == 0
    rate(app, "A01", 1)
    assert one_round(app).new == 1


def test_a_burst_of_bad_ratings_sends_one_burst_alert_per_window(app, receiver):
    app.config.update(ALERT_WEBHOOK_FORMAT="json", ALERT_BAD_BURST="3/60")
    make_window()
    make_window("A02", "不动产窗口", staff_no="S002")
    one_round(app)
    for minutes in (50, 30, 20, 10):
        rate(app, "A01", 1, minutes_ago=minutes)
    rate(app, "A02", 2, minutes_ago=5)
    rate(app, "A02", 1, minutes_ago=4)
    one_round(app)
    rate(app, "A01", 2, minutes_ago=1)  # still the same burst
    one_round(app)
    kinds = [b["kind"] for b in receiver.taken]
    assert kinds.count("bad_rating") == 7 and kinds.count("bad_burst") == 1
    [burst] = [b for b in receiver.taken if b["kind"] == "bad_burst"]
    assert set(burst) == {"kind", "hall", "window", "at", "message"}
    assert burst["hall"] == HALL and burst["window"] == "A01"
    assert "60 分钟内已收到 3 条差评" in burst["message"]
    local = datetime.fromisoformat(burst["at"])
    assert local.utcoffset() == timedelta(hours=8)


def test_two_scanners_at_once_make_one_alert_per_event(app, receiver):
    make_window()
    one_round(app)
    for _ in range(6):
        rate(app, "A01", 1, minutes_ago=200)  # apart from each other: no burst
        rate(app, "A01", 5)
    errors = []

    def scan():
        try:
            with app.app_context():
                alerts.scan_ratings(app, utcnow())
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scan) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(outbox("bad_rating")) == 6
    for _ in range(2):
        alerts.deliver(app, utcnow())
    assert len(receiver.contents("bad_rating")) == 6


# ---- delivery ---------------------------------------------------------------------

def test_a_receiver_that_fails_then_answers_gets_the_alert_once(app, receiver):
    make_window()
    one_round(app)
    rate(app, "A01", 1)
    receiver.answers = [500]
    now = utcnow()
    first = alerts.run_once(app, now, clock_rules=False)
    assert first.delivery.failed == 1 and receiver.taken == []
    [row] = outbox()
    assert (row.status, row.attempts) == ("pending", 1) and "500" in row.last_error
    assert row.next_attempt_at == now + timedelta(seconds=alerts.BACKOFF_FIRST)
    assert alerts.deliver(app, now + timedelta(seconds=10)).sent == 0  # backing off
    assert alerts.deliver(app, now + timedelta(seconds=31)).sent == 1
    for later in (60, 600, 6000):
        assert alerts.deliver(app, now + timedelta(seconds=later)).sent == 0
    assert len(receiver.requests) == 2 and len(receiver.contents("bad_rating")) == 1
    [row] = outbox()
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_robot_refusal_in_the_body_is_retried(app, receiver):
    """WeCom and DingTalk answer 200 with a non-zero errcode when they refuse."""
    make_window()
    one_round(app)
    rate(app, "A01", 2)
    receiver.answers = [299]  # 2xx, errcode 1
    now = utcnow()
    assert alerts.run_once(app, now, clock_rules=False).delivery.failed == 1
    assert "errcode 1" in outbox()[0].last_error
    assert alerts.deliver(app, now + timedelta(minutes=1)).sent == 1


def test_after_a_failure_the_rest_of_the_batch_is_sent_next_round(app, receiver):
    make_window()
    one_round(app)
    rate(app, "A01", 1, minutes_ago=300)
    rate(app, "A01", 2)
    alerts.scan_ratings(app, utcnow())
    receiver.answers = [500]
    now = utcnow()
    first = alerts.deliver(app, now)
    assert (first.sent, first.failed) == (0, 1) and len(receiver.requests) == 1
    assert all(row.claimed_by is None for row in outbox())  # nothing left held
    assert alerts.deliver(app, now).sent == 1  # the other one; the failed one waits
    assert alerts.deliver(app, now + timedelta(minutes=1)).sent == 1
    assert len(receiver.contents("bad_rating")) == 2 and len(receiver.requests) == 3


def test_two_senders_post_a_due_alert_once(app, receiver):
    make_window()
    one_round(app)
    for _ in range(4):
        rate(app, "A01", 1, minutes_ago=500)
        rate(app, "A01", 1, minutes_ago=1)
    alerts.scan_ratings(app, utcnow())
    sent = []

    def send():
        with app.app_context():
            sent.append(alerts.deliver(app, utcnow()).sent)
            db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = outbox()
    assert len(rows) == 10  # 8 bad ratings, 2 bursts
    assert sum(sent) == len(rows) == len(receiver.requests) == len(receiver.taken)
    assert all(row.status == "sent" and row.attempts == 1 for row in rows)


def test_send_alerts_command(app, receiver, runner):
    app.config["ALERT_KINDS"] = "bad_rating,bad_burst"  # no Monday summary today
    make_window()
    one_round(app)
    rate(app, "A01", 1)
    result = runner.invoke(args=["send-alerts"])
    assert result.exit_code == 0, result.output
    assert "1 new alerts; 1 sent" in result.output
    assert len(receiver.contents("bad_rating")) == 1
    app.config["ALERT_WEBHOOK_URL"] = ""
    result = runner.invoke(args=["send-alerts"])
    assert result.exit_code != 0 and "ALERT_WEBHOOK_URL" in result.output


# ---- clock rules --------------------------------------------------------------------

MONDAY = datetime(2026, 11, 30)  # a working day


def local(day: datetime, hh: int, mm: int) -> datetime:
    return clock.to_utc(day.replace(hour=hh, minute=mm), TZ)


def test_a_case_about_to_be_overdue_alerts_once_within_the_hour(app, receiver):
    app.config["ALERT_KINDS"] = "case_due"
    make_window()
    rate(app, "A01", 1, phone=PHONE)
    rate(app, "A01", 2)
    due, contacted = db.session.scalars(sa.select(FollowupCase).order_by(FollowupCase.id)).all()
    due.contact_due = contacted.contact_due = MONDAY.date()
    contacted.contacted_at = local(MONDAY, 10, 0)
    db.session.commit()
    # Opening hours end at 17:30 on working days: alerts from 16:30.
    assert alerts.check_clock_rules(app, local(MONDAY, 16, 0)) == 0
    assert alerts.check_clock_rules(app, local(MONDAY, 16, 40)) == 1
    assert alerts.check_clock_rules(app, local(MONDAY, 17, 10)) == 0
    assert alerts.check_clock_rules(app, local(MONDAY, 17, 40)) == 0  # overdue now
    alerts.deliver(app, local(MONDAY, 16, 41))
    [message] = receiver.contents("case_due")
    assert f"回访件 #{due.id}" in message and "17:30 前联系群众" in message
    assert HALL in message and "A01" in message and PHONE not in message


def test_a_silent_tablet_alerts_once_per_silence(app, receiver):
    app.config["ALERT_KINDS"] = "kiosk_silent"
    make_window()
    pair_device("A01")
    device = db.session.scalars(sa.select(Device)).one()
    device.last_seen_at = local(MONDAY, 10, 0)
    db.session.commit()
    assert alerts.check_clock_rules(app, local(MONDAY, 10, 5)) == 0
    assert alerts.check_clock_rules(app, local(MONDAY, 10, 12)) == 1
    assert alerts.check_clock_rules(app, local(MONDAY, 10, 30)) == 0
    device.last_seen_at = local(MONDAY, 10, 31)  # back, then silent again
    db.session.commit()
    assert alerts.check_clock_rules(app, local(MONDAY, 10, 45)) == 1
    alerts.deliver(app, local(MONDAY, 10, 46))
    messages = receiver.contents("kiosk_silent")
    assert len(messages) == 2 and "最后联系于 11月30日 10:31" in messages[1]
    assert f"评价平板 #{device.id}" in messages[0] and "A01 综合受理窗口" in messages[0]


# ---- the weekly summary -------------------------------------------------------------

def test_the_weekly_summary_says_what_the_league_says(app, receiver, login):
    app.config.update(ALERT_WEBHOOK_FORMAT="json")
    week = leagues.current("week", TZ).previous()
    codes = ["A01", "A02", "A03", "A04", "A05"]
    for i, code in enumerate(codes):
        make_window(code, f"{code}号窗口", staff_no=f"S{i:03d}")
    mix = {"A01": [5, 5, 5, 4], "A02": [5, 4, 3, 1], "A03": [2, 1, 3],
           "A04": [4, 4, 5, 5, 5, 2], "A05": [3]}
    for day, (code, scores) in enumerate(mix.items()):
        for k, score in enumerate(scores):
            tapped = clock.to_utc(datetime.combine(week.first + timedelta(days=day % 5),
                                                   datetime.min.time()).replace(hour=10, minute=k), TZ)
            app.extensions["kiosk.intake"].accept(
                {"window": code, "score": score, "channel": "qr",
                 "client_id": uuid.uuid4().hex, "created_at": tapped.isoformat() + "Z",
                 **({"phone": PHONE} if score <= 2 and k % 2 == 0 else {})},
                now=tapped + timedelta(minutes=1))
    # The week before, for the change in satisfaction.
    tapped = clock.to_utc(datetime.combine(week.previous().first, datetime.min.time())
                          .replace(hour=11), TZ)
    for score in (5, 1):
        app.extensions["kiosk.intake"].accept(
            {"window": "A01", "score": score, "channel": "qr", "client_id": uuid.uuid4().hex,
             "created_at": tapped.isoformat() + "Z"}, now=tapped + timedelta(minutes=1))
    # One case called back: it counts in the figures.
    case = db.session.scalars(sa.select(FollowupCase).where(
        FollowupCase.kind == "callback").order_by(FollowupCase.id)).first()
    case.contacted_at = case.rated_at + timedelta(hours=1)
    db.session.commit()

    monday = alerts.digest_moment(week, TZ)
    assert alerts.check_clock_rules(app, monday - timedelta(minutes=1)) == 0
    assert alerts.check_clock_rules(app, monday + timedelta(minutes=1)) == 1
    assert alerts.check_clock_rules(app, monday + timedelta(hours=30)) == 0
    alerts.deliver(app, monday + timedelta(minutes=2))
    [sent] = [b for b in receiver.taken if b["kind"] == "weekly_digest"]
    assert sent["window"] is None and sent["hall"] == HALL
    assert sent["at"] == clock.to_local(monday, TZ).isoformat()
    assert sent["at"].endswith("08:30:00+08:00")

    league = login("admin").get(f"/admin/league.json?week={week.label}").get_json()
    rows = league["rows"]
    figures = alerts.weekly_figures(app, db.session.scalar(sa.select(Hall.id)), week, monday)
    assert figures["ratings"] == sum(r["ratings"] for r in rows) == 18
    assert figures["bad"] == sum(r["bad"] for r in rows) == 4
    assert figures["satisfaction"] == league["mean_satisfaction"]
    assert figures["red_flag"] == [f"{r['window']} {r['name']}" for r in rows
                                   if r["mark"] == "red_flag"] != []
    assert figures["laggard"] == [f"{r['window']} {r['name']}" for r in rows
                                  if r["mark"] == "laggard"] != []
    for key in ("callback_rate", "on_time_rate"):
        assert figures[key] == league["followups"][key]
    assert figures["called_back"] == league["followups"]["called_back"] == 1
    before = login("admin").get(
        f"/admin/league.json?week={week.previous().label}").get_json()
    assert figures["previous_satisfaction"] == before["mean_satisfaction"] == 50.0
    assert figures["change"] == round(league["mean_satisfaction"] - 50.0, 1)

    text = sent["message"]
    assert f"评价 {figures['ratings']} 条" in text
    assert f"满意度 {league['mean_satisfaction']:g}（上周 50" in text
    assert "红旗窗口：" + "、".join(figures["red_flag"]) in text
    assert "后进窗口：" + "、".join(figures["laggard"]) in text
    assert f"差评 {figures['bad']} 条" in text and "已回访 1 件" in text
    assert f"未结案 {figures['open_cases']} 件，其中逾期 {figures['overdue_cases']} 件" in text


# ---- the real server ----------------------------------------------------------------

def _hanging_receiver() -> tuple[socket.socket, str]:
    """A receiver that takes connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


def _post_latencies(server: LiveServer, n: int) -> list[float]:
    client = Client(server.port)
    took = []
    try:
        for i in range(n):
            started = time.perf_counter()
            status, _ = client.post("/api/ratings", {
                "window": "A01", "score": 1 if i % 2 else 5, "channel": "qr",
                "client_id": uuid.uuid4().hex, "comment": "请回电 13800138000"})
            took.append(time.perf_counter() - started)
            assert status == 201
    finally:
        client.close()
    return took


def test_a_dead_receiver_never_slows_a_rating(app, database_uri, tmp_path):
    """Against the real server: a receiver that never answers costs the alert worker
    its timeout per try, and a rating nothing. (bench/alerts.py measures it under
    load; here a loose bound: far below the worker's 5 s timeout, which every rating
    would wait out if an alert were posted in its request.)"""
    make_window()
    sock, url = _hanging_receiver()
    config = {"ALERT_WEBHOOK_URL": url, "ALERT_WEBHOOK_FORMAT": "wecom",
              "ALERT_POLL_SECONDS": "0.2", "ALERT_TIMEOUT_SECONDS": "5",
              "ALERT_KINDS": "bad_rating"}
    alerts.scan_ratings(app, utcnow())  # the scanner's cursor starts here
    server = LiveServer(database_uri, tmp_path / "on", config=config,
                        phone_key=phonekeys.key_path(app))
    try:
        took = _post_latencies(server, 40)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
                len(outbox()) == 20 and any(a.attempts for a in outbox())):
            time.sleep(0.2)
    finally:
        server.stop()
        sock.close()
    assert max(took) < 2.5, f"slowest rating {max(took):.3f}s"
    assert statistics.median(took) < 0.5
    rows = outbox("bad_rating")
    assert len(rows) == 20  # every bad rating reached the outbox
    assert any(a.attempts and "timed out" in (a.last_error or "") for a in rows)
    assert all(a.status == "pending" for a in rows)


def test_two_servers_send_each_alert_once(app, database_uri, tmp_path):
    """Two servers on one database, each with its worker: ratings sent to both, each
    bad one reaches the work chat once, and the burst once."""
    make_window()
    r = Receiver()
    config = {"ALERT_WEBHOOK_URL": r.url, "ALERT_WEBHOOK_FORMAT": "wecom",
              "ALERT_POLL_SECONDS": "0.1", "ALERT_BAD_BURST": "3/60",
              "ALERT_KINDS": "bad_rating,bad_burst"}
    key = phonekeys.key_path(app)
    alerts.scan_ratings(app, utcnow())  # the scanner's cursor starts here
    servers = [LiveServer(database_uri, tmp_path / f"srv{i}", config=config, phone_key=key)
               for i in range(2)]
    try:
        clients = [Client(s.port) for s in servers]
        for i in range(8):
            status, _ = clients[i % 2].post("/api/ratings", {
                "window": "A01", "score": 1 if i % 2 else 5, "channel": "qr",
                "client_id": uuid.uuid4().hex, "phone": PHONE})
            assert status == 201
        for c in clients:
            c.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(r.taken) < 5:
            time.sleep(0.1)
        time.sleep(1.0)  # a repeat would come now
    finally:
        for s in servers:
            s.stop()
        r.close()
    assert len(r.contents("bad_rating")) == 4
    assert len(r.contents("bad_burst")) == 1
    assert len(r.requests) == 5
    assert all(PHONE not in m for m in r.contents())
