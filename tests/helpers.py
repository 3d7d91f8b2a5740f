"""Builders for test data, shared by every test module."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from kiosk.db import db, utcnow
from kiosk.models import Department, Duty, Hall, Staff, Window


def make_window(code: str = "A01", name: str = "综合受理窗口", dept: str = "政务服务中心",
                staff_no: str | None = "S001", staff_name: str = "张丽",
                on_duty_since: datetime | None = None) -> Window:
    """A window (in the one test hall) with a clerk on duty since ``on_duty_since``."""
    hall = db.session.query(Hall).first() or Hall(name="测试政务服务大厅")
    department = (db.session.query(Department).filter_by(name=dept).first()
                  or Department(hall=hall, name=dept))
    window = Window(code=code, name=name, hall=hall, department=department)
    db.session.add(window)
    if staff_no:
        clerk = Staff(staff_no=staff_no, name=staff_name, department=department,
                      duties="综合受理")
        db.session.add(Duty(window=window, staff=clerk,
                            started_at=on_duty_since or utcnow() - timedelta(days=60)))
    db.session.commit()
    return window


def rating_body(**fields) -> dict:
    """A valid /api/ratings body, with ``fields`` overriding. Channel ``qr`` (a phone
    needs no paired tablet); a test about the kiosk pairs one (``pair_device``)."""
    body = {"window": "A01", "score": 5, "channel": "qr",
            "client_id": uuid.uuid4().hex}
    body.update(fields)
    return body


def pair_device(code: str = "A01", kind: str = "kiosk", client=None) -> str:
    """Pair a device with window ``code`` straight in the database (inside an app
    context) and return its secret; with ``client`` (a Flask test client) its device
    cookie is set too, as opening a pairing link would."""
    import hashlib
    import secrets

    from kiosk.models import Device
    from kiosk.ratings import DEVICE_COOKIE

    window = db.session.query(Window).filter_by(code=code).one()
    secret = secrets.token_urlsafe(24)
    db.session.add(Device(window_id=window.id, kind=kind,
                          secret_hash=hashlib.sha256(secret.encode()).hexdigest()))
    db.session.commit()
    if client is not None:
        client.set_cookie(DEVICE_COOKIE, secret)
    return secret


def pair_browser(context, base_url: str, code: str = "A01", kind: str = "kiosk") -> str:
    """Pair a Playwright browser ``context`` with window ``code`` as opening a pairing
    link would (its HttpOnly device cookie for ``base_url``); inside an app context on
    the live server's database. Returns the device secret."""
    from kiosk.ratings import DEVICE_COOKIE

    secret = pair_device(code, kind)
    context.add_cookies([{"name": DEVICE_COOKIE, "value": secret, "url": base_url,
                          "httpOnly": True, "sameSite": "Lax"}])
    return secret


def marks(rating) -> set[str]:
    """A rating's flags apart from ``suspect``: a kiosk tap made "now" is flagged
    suspect whenever the suite runs outside the hall's opening hours (evenings and
    weekends), and a test of something else must not depend on the time of day."""
    return set(rating.flag_codes) - {"suspect"}


PASSWORD = "correct horse battery"


def make_user(username: str, role: str, department: str | None = None,
              password: str = PASSWORD):
    """A back-office user; ``department`` names the department a department head runs."""
    from kiosk.models import User

    user = User(username=username, role=role)
    user.set_password(password)
    if department is not None:
        user.department_id = db.session.query(Department).filter_by(name=department).one().id
    db.session.add(user)
    db.session.commit()
    return user


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    import re

    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no csrf_token on the page"
    return match.group(1)


def sign_in(client, username: str, password: str = PASSWORD, next_url: str = ""):
    """Post the login form as a browser would (with its CSRF token)."""
    page = client.get("/admin/login")
    url = "/admin/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"username": username, "password": password,
                                  "csrf_token": csrf_token(page.get_data(as_text=True))})


def wait_js(page, expression: str, timeout: float = 30_000) -> None:
    """Until ``expression`` is truthy in ``page`` (``timeout`` in ms, as Playwright's).

    Playwright's ``page.wait_for_function`` runs ``eval`` inside the page, which the
    site's Content-Security-Policy (kiosk/security.py: no 'unsafe-eval') refuses;
    ``page.evaluate`` goes through DevTools, which the policy does not govern."""
    import time

    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            if page.evaluate(expression):
                return
        except Error:  # the page is navigating; ask the next one
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} ms waiting for: {expression}")
        time.sleep(0.05)
