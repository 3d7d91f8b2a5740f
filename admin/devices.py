"""A window's paired devices (平板与设备): pairing links with their QR code, each
device's health from its heartbeat, and revoking one. Supervisors and department
heads (their own department's windows) look; admins pair and revoke."""
from __future__ import annotations

import base64

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from kiosk import devices, qr
from kiosk.db import db, utcnow
from kiosk.models import DEVICE_KINDS, Device, Window

from . import bp, roles
from .manage import render
from .scope import scoped_window


def devices_page(window: Window, made: dict | None = None, status: int = 200):
    now = utcnow()
    online = current_app.config["DEVICE_ONLINE_SECONDS"]
    rows = [(d, devices.status(d, now, online)) for d in devices.window_devices(db.session, window.id)]
    return render("admin/devices.html", status, window=window, rows=rows, made=made,
                  kinds=devices.KIND_LABELS, labels=devices.STATUS_LABELS,
                  online_minutes=online / 60)


@bp.get("/windows/<code>/devices")
@roles("supervisor", "department")
def window_devices(code: str):
    return devices_page(scoped_window(code))


@bp.post("/windows/<code>/devices/pair")
def window_pair(code: str):
    """Make a one-time pairing link and show it with its QR code, once: only its hash
    is stored, so it is rendered in this answer (not redirected to)."""
    window = scoped_window(code)
    kind = request.form.get("kind", "kiosk")
    if kind not in DEVICE_KINDS:
        abort(400)
    hours = current_app.config["PAIRING_CODE_HOURS"]
    secret = devices.create_code(db.session, window, kind, current_user, utcnow(), hours)
    db.session.commit()
    base = qr.qr_base(current_app.config.get("PUBLIC_BASE_URL"), request.host_url)
    url = devices.pair_url(base.url, secret)
    warning = None if base.configured else (
        f"未设置 PUBLIC_BASE_URL：链接指向本页的地址 {base.url}，平板必须能访问这个地址；"
        "否则请在 instance/config.py 或环境变量 KIOSK_PUBLIC_BASE_URL 中设置平板能访问的地址。")
    made = {"kind": kind, "url": url, "hours": hours, "warning": warning,
            "qr": "data:image/png;base64," + base64.b64encode(qr.qr_png(url, 8)).decode()}
    return devices_page(window, made)


@bp.post("/devices/<int:device_id>/revoke")
def device_revoke(device_id: int):
    device = db.get_or_404(Device, device_id)
    window = scoped_window(device.window.code)
    if devices.revoke(db.session, device, current_user, utcnow()):
        db.session.commit()
        flash("已吊销该设备：它的评价将在几秒内被拒收（已排队的评价保留在设备上）。")
    else:
        flash("该设备已被吊销。")
    return redirect(url_for("admin.window_devices", code=window.code))
