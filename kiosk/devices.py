"""Paired devices: the kiosk tablet at a window (and the clerk's PC), and their health.

A device is paired by opening a one-time link (``/pair/<code>``) that an admin makes
on the window's admin page or with ``kiosk pair-device``. The browser then keeps a
random secret in an HttpOnly cookie (``ratings.DEVICE_COOKIE``); only its SHA-256
is stored. A kiosk rating is taken only from a tablet paired with that window
(``DeviceCheck``), so a rating cannot be sent for a window from anywhere else, and a
lost or stolen tablet is shut out by revoking it.

Tablets send a heartbeat every minute (app version, ratings queued offline); the back
office reads ``status`` and ``silent_tablets`` from it. Plain functions: the public
views, the admin, the CLI and the tests all call these.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from . import audit
from .fields import InputError
from .hours import opening_hours
from .models import DEVICE_KINDS, Device, PairingCode, User, Window

PAIR_PATH = "/pair/"
COOKIE_MAX_AGE = 10 * 365 * 24 * 3600  # a tablet stays paired until it is revoked
VERSION_MAX = Device.__table__.c.app_version.type.length
QUEUED_MAX = 1_000_000
STATUS_LABELS = {"online": "在线", "offline": "离线", "never": "从未连接",
                 "revoked": "已吊销"}
KIND_LABELS = {"kiosk": "评价平板", "clerk": "窗口人员电脑"}


def secret_hash(secret: str) -> str:
    """What the database keeps of a device secret or a pairing code."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def pair_url(base_url: str, code: str) -> str:
    """The link that pairs whichever browser opens it."""
    return base_url.rstrip("/") + PAIR_PATH + code


# ---- pairing ----

def create_code(session: Session, window: Window, kind: str = "kiosk",
                user: User | None = None, now: datetime | None = None,
                hours: float = 24) -> str:
    """A new one-time pairing code for ``window`` (returned once; stored hashed), valid
    for ``hours``. Audited. Flushes; the caller commits."""
    from .db import utcnow

    if kind not in DEVICE_KINDS:
        raise InputError(f"kind must be one of {', '.join(DEVICE_KINDS)}")
    now = now or utcnow()
    code = secrets.token_urlsafe(18)
    row = PairingCode(window_id=window.id, kind=kind, code_hash=secret_hash(code),
                      created_at=now, created_by_id=user.id if user else None,
                      expires_at=now + timedelta(hours=hours))
    session.add(row)
    session.flush()
    audit.record(user, "device.pair_code", "window", window.id,
                 after={"kind": kind, "expires_at": row.expires_at})
    return code


class PairingRefused(InputError):
    """A pairing link that does not work (any more); ``reason`` says why for the page:
    ``unknown``, ``used`` or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"pairing code {reason}", status=404 if reason == "unknown" else 410)
        self.reason = reason


@dataclass(frozen=True)
class Paired:
    device_id: int
    secret: str  # for the cookie; never stored
    window_code: str
    kind: str


def redeem(session: Session, code: str, now: datetime,
           current_secret: str | None = None) -> Paired:
    """Pair the browser opening ``code``: a new device with a new secret. A code works
    once (two browsers racing for it: one wins) and until it expires. The browser's
    earlier device, if its cookie names one, is revoked: one browser is one device,
    and a re-paired tablet must not stay listed as a second, silent one.
    Flushes; the caller commits."""
    row = session.scalar(sa.select(PairingCode).where(PairingCode.code_hash == secret_hash(code))
                         .options(joinedload(PairingCode.window)))
    if row is None:
        raise PairingRefused("unknown")
    if row.used_at is not None:
        raise PairingRefused("used")
    if row.expires_at <= now:
        raise PairingRefused("expired")
    taken = session.execute(
        sa.update(PairingCode).where(PairingCode.id == row.id, PairingCode.used_at.is_(None))
        .values(used_at=now)).rowcount
    if taken != 1:
        raise PairingRefused("used")
    if current_secret:
        session.execute(sa.update(Device).where(
            Device.secret_hash == secret_hash(current_secret), Device.revoked_at.is_(None))
            .values(revoked_at=now))
    secret = new_secret()
    device = Device(window_id=row.window_id, kind=row.kind, secret_hash=secret_hash(secret),
                    paired_at=now, paired_by_id=row.created_by_id)
    session.add(device)
    session.flush()
    session.execute(sa.update(PairingCode).where(PairingCode.id == row.id)
                    .values(device_id=device.id))
    return Paired(device.id, secret, row.window.code, row.kind)


def revoke(session: Session, device: Device, user: User | None, now: datetime) -> bool:
    """Shut a device out (its cookie stops working on every server within
    ``DeviceCheck.REFRESH`` seconds); it stays listed. Audited. False if it was
    revoked already. Flushes; the caller commits."""
    if device.revoked_at is not None:
        return False
    device.revoked_at = now
    device.revoked_by_id = user.id if user else None
    audit.record(user, "device.revoke", "device", device.id,
                 before={"window_id": device.window_id, "kind": device.kind,
                         "revoked_at": None},
                 after={"window_id": device.window_id, "kind": device.kind,
                        "revoked_at": now})
    session.flush()
    return True


# ---- the rating path's check ----

@dataclass(frozen=True, slots=True)
class Known:
    """An active (not revoked) device, as DeviceCheck keeps it."""

    id: int
    window_id: int
    kind: str


class DeviceCheck:
    """Which device a cookie secret belongs to, answered from memory.

    Every kiosk rating asks, so the active devices are held in memory and reloaded
    (one small query) at most every ``REFRESH`` seconds while ratings come in: a
    revocation is seen within that on every server, and the steady state costs no
    query per rating. A secret not in memory is looked up at once (one indexed
    query), so a tablet paired a moment ago, through any server, is known on its
    first tap.
    """

    REFRESH = 2.0

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._devices: dict[str, Known] = {}
        self._windows: dict[int, str] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self.engine.connect() as conn:
            devices = {h: Known(i, w, k) for h, i, w, k in conn.execute(sa.text(
                "SELECT secret_hash, id, window_id, kind FROM device "
                "WHERE revoked_at IS NULL"))}
            windows = dict(conn.execute(sa.text("SELECT id, code FROM service_window")).all())
        self._devices, self._windows = devices, windows
        self._loaded_at = time.monotonic()

    def _reload_if_older(self, seconds: float) -> None:
        if time.monotonic() - self._loaded_at < seconds:
            return
        with self._lock:  # one thread reloads; the others then find it fresh
            if time.monotonic() - self._loaded_at >= seconds:
                self._load()

    def clear(self) -> None:
        """Forget what is held (the next question reloads)."""
        self._loaded_at = float("-inf")

    def device(self, secret: str | None) -> Known | None:
        """The active device with this cookie secret, or None."""
        if not secret:
            return None
        key = secret_hash(secret)
        self._reload_if_older(self.REFRESH)
        found = self._devices.get(key)
        if found is None:
            found = self._lookup(key)
        return found

    def _lookup(self, key: str) -> Known | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT id, window_id, kind FROM device "
                "WHERE secret_hash = :h AND revoked_at IS NULL"), {"h": key}).first()
            if row is None:
                return None
            if row.window_id not in self._windows:
                self._windows = dict(conn.execute(
                    sa.text("SELECT id, code FROM service_window")).all())
        found = Known(*row)
        with self._lock:
            self._devices = {**self._devices, key: found}
        return found

    def paired(self, secret: str | None, window_id: int, kind: str = "kiosk") -> int:
        """The id of the ``kind`` device with this secret paired with the window;
        InputError 403 otherwise (ratings.DeviceCheck)."""
        found = self.device(secret)
        if found is None or found.window_id != window_id or found.kind != kind:
            if window_id not in self._windows:  # (a window added since the last load)
                self._reload_if_older(0.25)
            code = self._windows.get(window_id, str(window_id))
            what = "this tablet" if kind == "kiosk" else "this computer"
            raise InputError(f"{what} is not paired with window {code}: pair it from the "
                             "window's admin page", status=403)
        return found.id


# ---- heartbeat and health ----

def heartbeat(session: Session, secret: str | None, version: object, queued: object,
              now: datetime) -> Device:
    """Record a heartbeat from the device with this cookie secret; InputError 403 when
    it is not an active device, 400 for a bad body. Flushes; the caller commits."""
    if version is not None and not isinstance(version, str):
        raise InputError("version must be a string")
    if queued is not None and (type(queued) is not int or not 0 <= queued <= QUEUED_MAX):
        raise InputError("queued must be a whole number of items")
    device = session.scalar(sa.select(Device).where(
        Device.secret_hash == secret_hash(secret), Device.revoked_at.is_(None))) if secret else None
    if device is None:
        raise InputError("this device is not paired: pair it from the window's admin page",
                         status=403)
    device.last_seen_at = now
    device.app_version = version[:VERSION_MAX] if version else None
    device.queued = queued
    session.flush()
    return device


def status(device: Device, now: datetime, online_seconds: float = 180) -> str:
    """``online`` (heard within ``online_seconds``), ``offline`` or ``never`` (paired,
    no heartbeat yet); ``revoked`` for a revoked device."""
    if device.revoked_at is not None:
        return "revoked"
    if device.last_seen_at is None:
        return "never"
    return "online" if (now - device.last_seen_at).total_seconds() <= online_seconds else "offline"


def window_devices(session: Session, window_id: int) -> list[Device]:
    """A window's devices: active ones first (newest paired first), then revoked."""
    return list(session.scalars(
        sa.select(Device).where(Device.window_id == window_id)
        .options(joinedload(Device.paired_by), joinedload(Device.revoked_by))
        .order_by(Device.revoked_at.is_not(None), Device.paired_at.desc(), Device.id.desc())))


@dataclass(frozen=True)
class Tablet:
    """A window's kiosk tablet as the windows list shows it: the active one heard
    from last (``device`` None: no tablet paired), and how many are active."""

    device: Device | None
    status: str  # online | offline | never | none
    count: int


def window_tablets(session: Session, window_ids: list[int], now: datetime,
                   online_seconds: float = 180) -> dict[int, Tablet]:
    """Each window's kiosk tablet (``Tablet``), by window id, in one query."""
    found: dict[int, list[Device]] = {}
    if window_ids:
        for device in session.scalars(sa.select(Device).where(
                Device.window_id.in_(window_ids), Device.kind == "kiosk",
                Device.revoked_at.is_(None))):
            found.setdefault(device.window_id, []).append(device)
    out = {}
    for window_id in window_ids:
        devices = found.get(window_id, [])
        if not devices:
            out[window_id] = Tablet(None, "none", 0)
            continue
        best = max(devices, key=lambda d: (d.last_seen_at or datetime.min, d.paired_at, d.id))
        out[window_id] = Tablet(best, status(best, now, online_seconds), len(devices))
    return out


@dataclass(frozen=True)
class SilentTablet:
    """A paired kiosk tablet not heard from for a while of opening hours."""

    device_id: int
    window_id: int
    window_code: str
    window_name: str
    department_id: int
    last_seen_at: datetime | None  # None: never heard from since pairing
    paired_at: datetime
    silent_open_seconds: float  # of opening hours since last heard (or paired)


def silent_tablets(session: Session, now: datetime, app=None,
                   department_id: int | None = None) -> list[SilentTablet]:
    """Active kiosk tablets of active windows silent for ``KIOSK_SILENT_MINUTES`` of
    the hall's opening hours (kiosk/hours.py), never-heard ones counted from pairing;
    by window code. A tablet switched off overnight is not silent at 09:01: only open
    time counts. The dashboard shows them; issue 9's ``kiosk_silent`` alert reuses it."""
    from flask import current_app

    app = app or current_app._get_current_object()
    hours = opening_hours(app)
    limit = float(app.config["KIOSK_SILENT_MINUTES"]) * 60
    query = (sa.select(Device, Window).join(Window, Device.window_id == Window.id)
             .where(Device.kind == "kiosk", Device.revoked_at.is_(None), Window.active)
             .order_by(Window.code, Device.id))
    if department_id is not None:
        query = query.where(Window.department_id == department_id)
    out = []
    for device, window in session.execute(query):
        since = device.last_seen_at or device.paired_at
        silent = hours.open_seconds(since, now)
        if silent >= limit:
            out.append(SilentTablet(device.id, window.id, window.code, window.name,
                                    window.department_id, device.last_seen_at,
                                    device.paired_at, silent))
    return out
