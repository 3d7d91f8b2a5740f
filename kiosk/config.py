"""Configuration: defaults, then instance/config.py, then KIOSK_* environment variables."""
from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from flask import Flask


class Defaults:
    TIMEZONE = "Asia/Shanghai"
    PUBLIC_BASE_URL = None  # what QR codes point at, e.g. "https://pj.example.gov.cn"
    LEAGUE_PRIOR = 10
    FOLLOWUP_SAMPLE_RATE = 0.05
    CONTACT_DUE_WORKDAYS = 1
    RESOLVE_DUE_WORKDAYS = 15
    PHONE_RETENTION_DAYS = 180
    # A queued offline rating may carry a tap time this far back / ahead of the server.
    RATING_MAX_AGE_DAYS = 30
    RATING_MAX_FUTURE_SECONDS = 300
    # How long the kiosk waits on a half-finished screen before it resets itself.
    KIOSK_IDLE_SECONDS = 30
    # The thank-you screen shows this long, offering 重新评价 (the tap is held until then).
    KIOSK_THANKS_SECONDS = 8
    # An idle kiosk asks this often whether its 挂牌 card changed (换岗 shows within it).
    KIOSK_CARD_POLL_SECONDS = 20
    # The hall display board (/board) fetches its figures this often.
    BOARD_REFRESH_SECONDS = 60
    # The largest staff photo upload accepted (it is re-encoded to a small JPEG).
    STAFF_PHOTO_MAX_BYTES = 5 * 1024 * 1024
    # Back-office sign-in: this many failures in a row lock the account this long.
    LOGIN_MAX_FAILURES = 5
    LOGIN_LOCK_MINUTES = 15
    # Reverse proxies in front of the server whose X-Forwarded-Proto is trusted
    # (0: none; 1 for one nginx), so session cookies are Secure behind HTTPS.
    PROXY_COUNT = 0
    # The hall's 行政区划代码 (GB/T 2260, e.g. "440304"), written into every record of
    # the national export (kiosk export-ratings --format gbt39046); it refuses to run
    # while this is empty.
    REGION_CODE = ""
    # The hall's opening hours in hall time (kiosk/hours.py): on working days, and on
    # other days ("" = closed). A tablet silent in them raises an alert; a rating
    # outside them is flagged for a supervisor.
    OPENING_HOURS = "09:00-12:00,13:30-17:30"
    WEEKEND_HOURS = ""
    # Whether a kiosk rating counts only when a service event (一次一评) prompted it.
    # Unprompted ratings are kept and always marked ``unprompted`` either way.
    REQUIRE_PROMPT = False
    # Presses from one tablet or one phone closer together than this are kept but
    # flagged ``misuse`` and not counted.
    MISUSE_INTERVAL_SECONDS = 30
    # Flagged ``suspect`` for a supervisor (still counted until one decides): "N/M", N
    # or more 非常满意 at one window within M minutes with no service event behind them
    # ("" turns burst checks off); and on-site ratings tapped while the hall is closed,
    # this many minutes after closing still counting as open (the last citizen).
    SUSPECT_BURST = "6/10"
    SUSPECT_GRACE_MINUTES = 30
    # A service event (一次一评) invites a rating this long, unless the window's next
    # event replaces it sooner (kiosk/evaluations.py).
    EVALUATION_OPEN_MINUTES = 10
    # Paired tablets (kiosk/devices.py): a pairing link works once, for this long; a
    # tablet heard from within DEVICE_ONLINE_SECONDS is online; it sends a heartbeat
    # every KIOSK_HEARTBEAT_SECONDS; silent this long in opening hours, the dashboard
    # lists it.
    PAIRING_CODE_HOURS = 24
    DEVICE_ONLINE_SECONDS = 180
    KIOSK_HEARTBEAT_SECONDS = 60
    KIOSK_SILENT_MINUTES = 10
    # Alerts to the office's work chat (kiosk/alerts.py): a WeCom or DingTalk group
    # robot's webhook, or any receiver of plain JSON (None: alerts off); the kinds to
    # send ("" or None: all); "N/M" bad ratings at one window within M minutes make a
    # bad_burst; how long one post may take, and how often the worker looks.
    ALERT_WEBHOOK_URL = None
    ALERT_WEBHOOK_FORMAT = "json"  # "wecom", "dingtalk" or "json"
    ALERT_KINDS = None
    ALERT_BAD_BURST = "3/60"
    ALERT_TIMEOUT_SECONDS = 5
    ALERT_POLL_SECONDS = 5
    # `kiosk serve` stores ratings through a writer process of its own
    # (kiosk/writerproc.py); False keeps the writer a thread of the server process.
    WRITER_PROCESS = True
    SQLALCHEMY_DATABASE_URI = None  # instance/kiosk.sqlite unless set
    # Packages with an init_app(app) that add to the app: the back office.
    EXTENSIONS = ("admin",)


def load(app: Flask, test_config: dict | None) -> None:
    """Fill ``app.config`` in the documented order and fill in what is missing."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("KIOSK")
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        path = Path(app.instance_path) / "kiosk.sqlite"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))


def _instance_secret(instance: Path) -> str:
    """The site's secret key, generated once into the instance folder."""
    path = instance / "secret_key"
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = _new_secret(path)
    if not key:
        raise RuntimeError(f"{path} is empty: delete it and a new key is made on start")
    return key


def _new_secret(path: Path) -> str:
    # Written whole to a private temporary file, then linked into place: a process
    # starting at the same moment sees either no file or the whole key, and only one
    # of the two keys wins.
    key = secrets.token_hex(32)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text().strip()
    finally:
        os.unlink(tmp)
    return key
