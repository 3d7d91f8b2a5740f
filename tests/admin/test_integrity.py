"""The review page (评价核查): flagged ratings listed, the supervisor's decisions, and
every table following them."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk.db import db
from kiosk.models import AuditEntry, FollowupCase
from kiosk.scale import EXCLUDED, KEPT, MISUSE, SUSPECT

from ..helpers import csrf_token, make_window, pair_device
from ..test_integrity import league_count, open_moment, post, ratings, summary_is_true


@pytest.fixture
def burst(app, client):
    """Six 非常满意 at A01 within ten minutes with no service event (a burst), and at
    A02 one rating from a tablet pressed three times (misuse)."""
    make_window("A01")
    make_window("A02", staff_no="S002")
    start = open_moment(app)
    for i in range(6):
        post(client, start + timedelta(minutes=i), channel="qr")
    tablet = app.test_client()
    pair_device("A02", "kiosk", tablet)
    for i in range(3):
        post(tablet, start + timedelta(seconds=i), window="A02", score=1)
    return start


def ids_where(*flags: str) -> list[int]:
    return [r.id for r in ratings() if all(f in r.flag_codes for f in flags)]


def decide(client, ids, decision, page="/admin/integrity"):
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post("/admin/integrity/decide",
                       data={"csrf_token": token, "decision": decision, "ids": ids})


def test_the_page_lists_the_burst_first_and_the_misuse(burst, login):
    page = login("supervisor").get("/admin/integrity")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "待核查 6" in html
    assert "疑似连续好评：A01" in html and "6 条" in html
    assert html.count('data-rating="') == 6  # the default view: pending suspects
    everything = login("supervisor").get("/admin/integrity?flag=all").get_data(as_text=True)
    rows = re.findall(r'data-rating="(\d+)"', everything)
    assert len(rows) == 8  # 6 suspect + 2 misuse presses (the first press counts)
    assert rows[:6] == [str(i) for i in sorted(ids_where(SUSPECT), reverse=True)]
    assert "重复按键" in everything and "恢复计入" in everything
    misuse = login("supervisor").get("/admin/integrity?flag=misuse&window=A02")
    assert len(re.findall(r'data-rating="', misuse.get_data(as_text=True))) == 2


def test_who_may_review(burst, login):
    assert login("admin").get("/admin/integrity").status_code == 200
    for role in ("caller", "department"):
        assert login(role).get("/admin/integrity").status_code == 403
    client = login("caller")
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    response = client.post("/admin/integrity/decide", data={
        "csrf_token": token, "decision": "exclude", "ids": ids_where(SUSPECT)})
    assert response.status_code == 403
    assert all(r.counted for r in ratings() if SUSPECT in r.flag_codes)


def test_filters(burst, login):
    client = login("supervisor")
    day = burst + timedelta(hours=8)  # the hall's date of the burst
    before = (day - timedelta(days=1)).date().isoformat()
    assert "没有符合条件的评价" in client.get(
        f"/admin/integrity?flag=all&end={before}").get_data(as_text=True)
    on_day = client.get(f"/admin/integrity?flag=all&start={day.date()}&end={day.date()}")
    assert len(re.findall(r'data-rating="', on_day.get_data(as_text=True))) == 8
    bad = client.get("/admin/integrity?start=yesterday")
    assert bad.status_code == 400 and "开始日期应为 YYYY-MM-DD" in bad.get_data(as_text=True)


def test_exclude_a_whole_burst_then_undo_then_keep(burst, login):
    client = login("supervisor")
    suspects = ids_where(SUSPECT)
    assert league_count(login, burst) == 6
    response = decide(client, suspects, "exclude")
    assert response.status_code == 302
    assert league_count(login, burst) == 0  # the tables follow the decision
    assert all(EXCLUDED in r.flag_codes and not r.counted for r in ratings()
               if r.id in suspects)
    assert summary_is_true()
    # A second supervisor deciding from a stale page changes nothing.
    other = login("supervisor")
    stale = decide(other, suspects, "keep")
    assert stale.status_code == 409
    assert "已由他人处理" in stale.get_data(as_text=True)
    assert league_count(login, burst) == 0
    # Undone: back to pending, counted again.
    assert decide(client, suspects, "undo").status_code == 302
    assert league_count(login, burst) == 6
    assert set(ids_where(SUSPECT)) == set(suspects) and not ids_where(EXCLUDED)
    # Kept: counted, no longer pending, the flag still there.
    assert decide(client, suspects, "keep").status_code == 302
    assert league_count(login, burst) == 6
    assert set(ids_where(SUSPECT, KEPT)) == set(suspects)
    assert "待核查 6" not in client.get("/admin/integrity").get_data(as_text=True)
    assert summary_is_true()
    # Every decision is in the audit log, per rating, with who made it.
    entries = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action.like("integrity.%")).order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == (["integrity.exclude"] * 6 + ["integrity.undo"] * 6
                                           + ["integrity.keep"] * 6)
    assert {e.username for e in entries} == {client.user.username}
    assert {e.target_id for e in entries} == {str(i) for i in suspects}
    assert '"counted": false' in entries[0].after
    decided = client.get("/admin/integrity?flag=decided").get_data(as_text=True)
    assert "已核查：计入" in decided and client.user.username in decided
    audit_page = login("admin").get("/admin/audit").get_data(as_text=True)
    assert "核查：不计入" in audit_page and "撤销核查结论" in audit_page


def test_restore_a_misuse_press(burst, login):
    client = login("supervisor")
    pressed = ids_where(MISUSE)
    assert len(pressed) == 2
    assert league_count(login, burst, "A02") == 1
    cases = db.session.scalar(sa.select(sa.func.count()).select_from(FollowupCase))
    assert decide(client, pressed[:1], "keep").status_code == 302
    assert league_count(login, burst, "A02") == 2
    # A restored bad rating is followed up like any counted one.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowupCase)) == cases + 1
    # "exclude" is no decision for a press that is already out of the tables.
    assert decide(client, pressed[1:], "exclude").status_code == 409
    assert decide(client, pressed[:1], "undo").status_code == 302
    assert league_count(login, burst, "A02") == 1
    assert summary_is_true()


def test_a_decision_needs_ratings_and_a_known_verdict(burst, login):
    client = login("supervisor")
    assert decide(client, [], "exclude").status_code == 400
    assert decide(client, ids_where(SUSPECT)[:1], "delete").status_code == 400
    assert decide(client, [999999], "keep").status_code == 404
    assert all(r.counted for r in ratings() if SUSPECT in r.flag_codes)


def test_the_dashboard_shows_what_waits(burst, login):
    html = login("supervisor").get("/admin/").get_data(as_text=True)
    assert "待核查 6 条可疑评价（近90天" in html and 'href="/admin/integrity"' in html
    assert "待核查" not in login("caller").get("/admin/").get_data(as_text=True)
    nav = login("supervisor").get("/admin/").get_data(as_text=True)
    assert ">评价核查</a>" in nav


def test_the_dashboard_counts_recent_suspects_and_the_page_lists_all(app, login):
    """The dashboard's count is bounded to recent days (it stays quick on years of
    ratings); the review page lists an old suspect too."""
    import uuid

    from kiosk.db import utcnow

    make_window("A01")
    long_ago = utcnow() - timedelta(days=100)
    night = long_ago.replace(hour=16, minute=0)  # 00:00 hall time: closed
    app.extensions["kiosk.intake"].accept(
        {"window": "A01", "score": 4, "channel": "terminal", "client_id": uuid.uuid4().hex,
         "created_at": night.isoformat() + "Z"}, now=night + timedelta(minutes=1))
    assert ids_where(SUSPECT)
    supervisor = login("supervisor")
    assert "待核查 0 条" in supervisor.get("/admin/").get_data(as_text=True)
    page = supervisor.get("/admin/integrity").get_data(as_text=True)
    assert "待核查 1" in page and page.count('data-rating="') == 1
