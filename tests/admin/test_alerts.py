"""The alerts page (admin/alerts.py): what was sent, what waits, what failed and why;
an admin sends a failed one again. Admins only."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk import alerts
from kiosk.db import db, utcnow
from kiosk.models import AuditEntry

from ..helpers import csrf_token, make_window
from ..test_alerts import Receiver, outbox, rate


@pytest.fixture
def receiver(app):
    r = Receiver()
    app.config.update(ALERT_WEBHOOK_URL=r.url, ALERT_WEBHOOK_FORMAT="wecom")
    yield r
    r.close()


def test_a_failed_alert_is_shown_with_its_reason_and_an_admin_sends_it_again(
        app, receiver, login):
    make_window()
    alerts.run_once(app, utcnow(), clock_rules=False)
    rate(app, "A01", 1, comment="请回电 13800138000")
    receiver.answers = [503] * alerts.MAX_ATTEMPTS
    now = utcnow()
    alerts.run_once(app, now, clock_rules=False)
    for _ in range(1, alerts.MAX_ATTEMPTS):
        now += timedelta(hours=2)
        alerts.deliver(app, now)
    [row] = outbox()
    assert (row.status, row.attempts) == ("failed", alerts.MAX_ATTEMPTS)
    assert alerts.deliver(app, now + timedelta(days=1)).sent == 0  # given up

    admin = login("admin")
    page = admin.get("/admin/alerts?status=failed").get_data(as_text=True)
    assert "发送失败" in page and "HTTP 503" in page and "重新发送" in page
    assert "138****8000" in page and "13800138000" not in page
    assert "key=secret" not in page  # the robot's key stays off the page
    assert 'class="value alert-count-failed">1<' in page
    answer = admin.post(f"/admin/alerts/{row.id}/retry?status=failed",
                        data={"csrf_token": csrf_token(page)})
    assert answer.status_code == 302
    assert outbox()[0].status == "pending"
    assert alerts.deliver(app, utcnow()).sent == 1
    page = admin.get("/admin/alerts?status=sent").get_data(as_text=True)
    assert "已发送" in page and "A01" in page and "重新发送" not in page
    assert len(receiver.contents("bad_rating")) == 1
    assert db.session.scalar(sa.select(AuditEntry.action).where(
        AuditEntry.target_type == "alert")) == "alert.retry"
    # A sent alert is not sent again from the page.
    again = admin.post(f"/admin/alerts/{row.id}/retry", data={"csrf_token": csrf_token(page)})
    assert again.status_code == 409
    assert len(receiver.requests) == alerts.MAX_ATTEMPTS + 1


def test_the_page_says_when_alerts_are_off_or_set_wrong(app, login):
    admin = login("admin")
    page = admin.get("/admin/alerts").get_data(as_text=True)
    assert "提醒未开启" in page and "ALERT_WEBHOOK_URL" in page
    app.config.update(ALERT_WEBHOOK_URL="https://oapi.dingtalk.com/robot/send?access_token=t0k",
                      ALERT_WEBHOOK_FORMAT="dingtalk", ALERT_KINDS="bad_rating,weekly_digest")
    page = admin.get("/admin/alerts").get_data(as_text=True)
    assert "https://oapi.dingtalk.com/robot/send?…" in page and "t0k" not in page
    assert "差评提醒、一周一小结" in page
    app.config["ALERT_BAD_BURST"] = "three"
    page = admin.get("/admin/alerts").get_data(as_text=True)
    assert "提醒设置有误" in page and "ALERT_BAD_BURST" in page


def test_only_admins_see_the_alerts_page(app, login):
    for role in ("supervisor", "caller"):
        assert login(role).get("/admin/alerts").status_code == 403
    assert app.test_client().get("/admin/alerts").status_code == 302  # to the login page
    assert login("admin").get("/admin/alerts").status_code == 200
