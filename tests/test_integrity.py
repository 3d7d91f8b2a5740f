"""Misuse and suspicious ratings (kiosk/integrity.py): what the writer flags as it
stores a batch, and what the tables count because of it. The review page's decisions
are in tests/admin/test_integrity.py."""
from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

import pytest
import sqlalchemy as sa

from kiosk import clock, integrity, summary
from kiosk.db import db, utcnow
from kiosk.hours import opening_hours
from kiosk.models import Rating
from kiosk.ratings import RATER_COOKIE, DriverSQL, NewRating
from kiosk.scale import EXCLUDED, KEPT, MISUSE, SUSPECT, UNPROMPTED

from .helpers import make_window, pair_device

TZ = clock.zone("Asia/Shanghai")


def open_moment(app, at: time = time(10, 0)) -> datetime:
    """A recent moment (naive UTC) at ``at`` hall time on a day the hall was open:
    within the bounds a tap time may have, and in the past."""
    hours = opening_hours(app)
    today = clock.to_local(utcnow(), TZ).date()
    for back in range(2, 14):
        moment = clock.to_utc(datetime.combine(today - timedelta(days=back), at), TZ)
        if hours.is_open(moment):
            return moment
    raise AssertionError("no open day in the last two weeks")


def closed_moment(app) -> datetime:
    """23:00 hall time on a recent day: the hall is closed whatever the calendar says."""
    return open_moment(app) + timedelta(hours=13)


def week_of(moment: datetime) -> str:
    year, week, _ = clock.to_local(moment, TZ).isocalendar()
    return f"{year}-W{week:02d}"


def post(client, moment: datetime, **fields):
    body = {"window": "A01", "score": 5, "channel": "kiosk", "client_id": uuid.uuid4().hex,
            "created_at": moment.isoformat() + "Z"}
    body.update(fields)
    return client.post("/api/ratings", json=body)


def league_count(login, moment: datetime, code: str = "A01") -> int:
    rows = login("supervisor").get(f"/admin/league.json?week={week_of(moment)}").get_json()["rows"]
    return next(r["ratings"] for r in rows if r["window"] == code)


def summary_is_true() -> bool:
    return summary.stored(db.session) == summary.scan(db.session, TZ)


def ratings() -> list[Rating]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Rating).order_by(Rating.created_at, Rating.id)))


def rescreen(app, **config) -> None:
    """Change the integrity settings of a running app (the screen reads them once)."""
    app.config.update(config)
    app.extensions["kiosk.intake"].writer.screen = integrity.Screen(app)


@pytest.fixture
def window(app):
    return make_window("A01")


# -- misuse --------------------------------------------------------------------------

def test_five_fast_presses_from_one_tablet_count_once(app, client, window, login, runner):
    pair_device("A01", "kiosk", client)
    start = open_moment(app)
    for i in range(5):
        assert post(client, start + timedelta(seconds=2 * i)).status_code == 201
    stored = ratings()
    assert len(stored) == 5  # kept, every one
    assert [r.counted for r in stored] == [True, False, False, False, False]
    assert all(MISUSE in r.flag_codes for r in stored[1:])
    assert MISUSE not in stored[0].flag_codes
    assert len({r.device_id for r in stored}) == 1 and stored[0].device_id is not None
    assert league_count(login, start) == 1
    rebuilt = runner.invoke(args=["rebuild-summary"])
    assert "it already matched the ratings" in rebuilt.output
    assert league_count(login, start) == 1
    # The next citizen, after the interval, counts again.
    assert post(client, start + timedelta(seconds=70)).status_code == 201
    assert league_count(login, start) == 2


def test_two_tablets_at_one_window_each_count(app, window, login):
    first, second = app.test_client(), app.test_client()
    pair_device("A01", "kiosk", first)
    pair_device("A01", "kiosk", second)
    start = open_moment(app)
    post(first, start)
    post(second, start + timedelta(seconds=1))
    assert league_count(login, start) == 2


def test_five_fast_presses_from_one_phone_count_once(app, window, login):
    phone = app.test_client()
    page = phone.get("/q/A01")
    assert page.status_code == 200
    cookie = phone.get_cookie(RATER_COOKIE)
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    start = open_moment(app)
    for i in range(5):
        assert post(phone, start + timedelta(seconds=3 * i), channel="qr").status_code == 201
    assert [r.counted for r in ratings()] == [True, False, False, False, False]
    assert league_count(login, start) == 1
    assert summary_is_true()
    # Opening the page again keeps the phone's cookie: it is the same phone.
    phone.get("/q/A01")
    assert phone.get_cookie(RATER_COOKIE).value == cookie.value


def test_two_phones_on_one_wifi_both_count(app, window, login):
    start = open_moment(app)
    phones = [app.test_client(), app.test_client()]
    for i, phone in enumerate(phones):
        phone.get("/q/A01")
        # Both come from the same address (the hall's Wi-Fi): never told apart by IP.
        response = phone.post("/api/ratings", environ_base={"REMOTE_ADDR": "10.0.0.7"}, json={
            "window": "A01", "score": 4, "channel": "qr", "client_id": uuid.uuid4().hex,
            "created_at": (start + timedelta(seconds=i)).isoformat() + "Z"})
        assert response.status_code == 201
    stored = ratings()
    assert len({r.rater for r in stored}) == 2 and None not in {r.rater for r in stored}
    assert [r.counted for r in stored] == [True, True]
    assert league_count(login, start) == 2


def test_misuse_off_when_the_interval_is_zero(app, client, window, login):
    rescreen(app, MISUSE_INTERVAL_SECONDS=0)
    pair_device("A01", "kiosk", client)
    start = open_moment(app)
    for i in range(5):
        post(client, start + timedelta(seconds=i), score=4)
    assert all(r.counted and MISUSE not in r.flag_codes for r in ratings())
    assert league_count(login, start) == 5


def test_a_queue_sent_out_of_order_still_counts_once(app, client, window, login):
    """A tablet's offline queue may arrive newest first: the press stored first
    counts, the others within the interval of it are misuse either way."""
    pair_device("A01", "kiosk", client)
    start = open_moment(app)
    for i in (4, 3, 2, 1, 0):
        post(client, start + timedelta(seconds=i), score=4)
    assert sum(r.counted for r in ratings()) == 1
    assert league_count(login, start) == 1


def test_presses_in_one_batch_count_once(app, window):
    """The writer stores what queued up together in one batch: a repeat within the
    batch is misuse too (the earliest tap counts), checked with one query."""
    pair_device("A01")
    device_id = db.session.scalar(sa.text("SELECT id FROM device"))
    start = open_moment(app)
    batch = [NewRating(uuid.uuid4().hex, window.id, 4, "kiosk", "", None, None, None,
                       start + timedelta(seconds=s), start, device_id=device_id)
             for s in (3, 0, 6)]
    batch.append(NewRating(uuid.uuid4().hex, window.id, 4, "qr", "", None, None, None,
                           start, start, rater="a" * 32))
    conn = db.engine.raw_connection()
    try:
        cur = CountingCursor(conn.cursor())
        out = integrity.Screen(app)(cur, DriverSQL(db.engine.dialect.name), batch)
        conn.rollback()
    finally:
        conn.close()
    assert [MISUSE in r.flags for r in out] == [True, False, True, False]
    assert [r.counted for r in out] == [False, True, False, True]
    assert len(cur.statements) == 1  # misuse only: no top rating, so no burst query


class CountingCursor:
    """A DB-API cursor that keeps the statements it ran."""

    def __init__(self, cur) -> None:
        self.cur, self.statements = cur, []

    def execute(self, sql, params=()):
        self.statements.append(sql)
        return self.cur.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self.cur, name)


# -- suspect: bursts -----------------------------------------------------------------

def test_a_burst_of_top_ratings_is_flagged_and_still_counted(app, client, window, login):
    start = open_moment(app)
    for i in range(5):  # five within ten minutes: not yet a burst (SUSPECT_BURST 6/10)
        post(client, start + timedelta(minutes=i), channel="qr")
    assert not any(SUSPECT in r.flag_codes for r in ratings())
    post(client, start + timedelta(minutes=9), channel="qr")
    stored = ratings()
    assert len(stored) == 6
    assert all(SUSPECT in r.flag_codes for r in stored)  # those stored before too
    assert all(r.counted for r in stored)  # until a supervisor decides
    assert league_count(login, start) == 6
    # A seventh joins the burst; a top rating an hour later does not.
    post(client, start + timedelta(minutes=10), channel="qr")
    post(client, start + timedelta(minutes=75), channel="qr")
    flagged = [SUSPECT in r.flag_codes for r in ratings()]
    assert flagged == [True] * 7 + [False]
    assert summary_is_true()


def test_spread_out_or_mixed_ratings_are_no_burst(app, client, window):
    start = open_moment(app)
    for i in range(8):  # one every 2½ minutes: at most five in any ten minutes
        post(client, start + timedelta(seconds=150 * i + 60), channel="qr")
    for i in range(6):  # good but not top
        post(client, start + timedelta(hours=1, seconds=i * 30), channel="qr", score=4)
    assert not any(SUSPECT in r.flag_codes for r in ratings())


def test_bursts_are_per_window(app, client, window):
    make_window("A02", staff_no="S002")
    start = open_moment(app)
    for i in range(6):
        post(client, start + timedelta(seconds=30 * i), channel="qr",
             window="A01" if i % 2 else "A02")
    assert not any(SUSPECT in r.flag_codes for r in ratings())


def test_burst_checks_off(app, client, window):
    rescreen(app, SUSPECT_BURST="")
    start = open_moment(app)
    for i in range(8):
        post(client, start + timedelta(seconds=30 * i), channel="qr")
    assert not any(SUSPECT in r.flag_codes for r in ratings())


def test_misuse_presses_make_no_burst(app, client, window):
    """A child pressing 非常满意 ten times is misuse, not 刷好评."""
    pair_device("A01", "kiosk", client)
    start = open_moment(app)
    for i in range(10):
        post(client, start + timedelta(seconds=2 * i))
    stored = ratings()
    assert sum(r.counted for r in stored) == 1
    assert not any(SUSPECT in r.flag_codes for r in stored)


# -- suspect: out of hours -----------------------------------------------------------

def test_on_site_ratings_out_of_hours_are_suspect(app, client, window, login):
    pair_device("A01", "kiosk", client)
    night = closed_moment(app)
    post(client, night)
    assert ratings()[0].flag_codes == [UNPROMPTED, SUSPECT]
    assert ratings()[0].counted
    assert league_count(login, night) == 1


def test_the_last_citizen_after_closing_is_not_suspect(app, client, window):
    pair_device("A01", "kiosk", client)
    day = open_moment(app, time(17, 0))  # closes 17:30; 30 minutes' grace
    post(client, day + timedelta(minutes=45))
    post(client, day + timedelta(minutes=75))
    assert [SUSPECT in r.flag_codes for r in ratings()] == [False, True]


def test_a_phone_out_of_hours_is_not_suspect(app, client, window):
    """A citizen may rate from home in the evening: only on-site channels are checked."""
    post(client, closed_moment(app), channel="qr")
    assert ratings()[0].flag_codes == []


# -- counts ----------------------------------------------------------------------------

@pytest.mark.parametrize("flags, require_prompt, expected", [
    ("", False, True),
    (MISUSE, False, False),
    (f"{MISUSE};{KEPT}", False, True),
    (SUSPECT, False, True),
    (f"{SUSPECT};{EXCLUDED}", False, False),
    (f"{SUSPECT};{KEPT}", False, True),
    (f"{UNPROMPTED};{MISUSE};{KEPT}", True, False),
    (f"{UNPROMPTED};{SUSPECT};{KEPT}", False, True),
    (f"{SUSPECT};{KEPT};appeal", False, False),
])
def test_counts_follows_the_flags(flags, require_prompt, expected):
    assert integrity.counts(flags, require_prompt) is expected


def test_burst_setting_is_checked():
    assert integrity.parse_burst("6/10") == (6, 10)
    assert integrity.parse_burst(" ") is None
    for bad in ("6", "1/10", "6/0", "a/b"):
        with pytest.raises(ValueError):
            integrity.parse_burst(bad)


def test_two_supervisors_deciding_at_once_apply_one_decision(app, client, window):
    """Each decision changes the flags only where they are still what it read: of two
    decisions on one burst at the same moment exactly one applies, whole."""
    import threading

    start = open_moment(app)
    for i in range(6):
        post(client, start + timedelta(minutes=i), channel="qr")
    ids = [r.id for r in ratings()]
    results: list[str] = []
    ready = threading.Barrier(2)

    def decide(decision: str) -> None:
        with app.app_context():
            ready.wait()
            try:
                integrity.decide(db.session, ids, decision, None, TZ, False)
                db.session.commit()
                results.append(decision)
            except integrity.DecisionConflict:
                db.session.rollback()
                results.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=decide, args=(d,)) for d in ("exclude", "keep")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) in (["conflict", "exclude"], ["conflict", "keep"])
    stored = ratings()
    marks = {EXCLUDED in r.flag_codes for r in stored}, {KEPT in r.flag_codes for r in stored}
    assert marks in (({True}, {False}), ({False}, {True}))  # all one way, none mixed
    assert all(r.counted == (results[0] == "keep" or results[1] == "keep") for r in stored)
    assert summary_is_true()


def test_ratings_bound_to_service_events_are_never_misuse(app, client, window, login):
    """Two citizens served 20 seconds apart, each invited by a service event (一次一评),
    both count; a press with no event right after them is misuse."""
    from kiosk.models import Evaluation

    pair_device("A01", "kiosk", client)
    start = open_moment(app)
    first = Evaluation(window_id=window.id, ticket="A001", opened_at=start,
                       expires_at=start + timedelta(minutes=10),
                       closed_at=start + timedelta(seconds=20))
    second = Evaluation(window_id=window.id, ticket="A002",
                        opened_at=start + timedelta(seconds=20),
                        expires_at=start + timedelta(minutes=10))
    db.session.add_all([first, second])
    db.session.commit()
    assert post(client, start + timedelta(seconds=5), evaluation=first.id).status_code == 201
    assert post(client, start + timedelta(seconds=25), evaluation=second.id).status_code == 201
    assert post(client, start + timedelta(seconds=28)).status_code == 201
    stored = ratings()
    assert [r.evaluation_id for r in stored] == [first.id, second.id, None]
    assert [r.counted for r in stored] == [True, True, False]
    assert MISUSE in stored[2].flag_codes
    assert league_count(login, start) == 2


def test_a_reversed_appeal_does_not_count_a_rating_a_supervisor_excluded(app, client,
                                                                         window, login):
    """A bad rating out of hours (suspect, with its case): the department's appeal is
    upheld, the supervisor also rules it out as suspect; reversing the appeal leaves
    it out of the tables, since the review decision still stands."""
    from kiosk import followups
    from kiosk.models import FollowupCase

    from .helpers import make_user

    night = closed_moment(app)
    post(client, night, channel="terminal", score=1)
    [rating] = ratings()
    assert SUSPECT in rating.flag_codes and rating.counted
    case = db.session.scalar(sa.select(FollowupCase))
    head = make_user("科长", "department", "政务服务中心")
    supervisor = make_user("督查", "supervisor")
    appeal = followups.file_appeal(case, head, "闭厅后有人误触")
    followups.rule_appeal(appeal, supervisor, True, "申诉成立")
    db.session.commit()
    integrity.decide(db.session, [rating.id], "exclude", supervisor, TZ, False)
    db.session.commit()
    followups.reverse_ruling(appeal, supervisor, "复核有误")
    db.session.commit()
    [rating] = ratings()
    assert not rating.counted and EXCLUDED in rating.flag_codes
    assert "appeal" not in rating.flag_codes
    assert league_count(login, night) == 0
    assert summary_is_true()
    # Undoing the review decision brings it back.
    integrity.decide(db.session, [rating.id], "undo", supervisor, TZ, False)
    db.session.commit()
    assert league_count(login, night) == 1
