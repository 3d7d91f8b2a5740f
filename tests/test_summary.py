"""The live summary: always equal to a scan of the ratings, whatever path wrote them."""
from __future__ import annotations

import io
import random
import uuid
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk import clock, summary
from kiosk.db import db, utcnow
from kiosk.imports import import_ratings
from kiosk.models import Duty, Rating, RatingSummary, Staff, SummaryState

from .helpers import make_window

TZ = clock.zone("Asia/Shanghai")


def intake(app):
    return app.extensions["kiosk.intake"]


def assert_summary_matches_scan():
    db.session.expire_all()
    assert summary.stored(db.session) == summary.scan(db.session, TZ)


def test_a_rating_is_counted_in_its_hall_day_week_month_and_year(app):
    window = make_window("A01")
    staff_id = db.session.scalar(sa.select(Staff.id))
    # 2026-11-29 23:30 in Shanghai is a Sunday: the week began on Monday 23 November.
    tapped = clock.to_utc(datetime(2026, 11, 29, 23, 30), TZ)
    intake(app).accept({"window": "A01", "score": 2, "channel": "qr",
                        "client_id": uuid.uuid4().hex,
                        "created_at": tapped.isoformat() + "Z"}, now=tapped + timedelta(minutes=1))
    rows = {(r.grain, r.period): (r.window_id, r.staff_id, r.score, r.n)
            for r in db.session.scalars(sa.select(RatingSummary))}
    assert rows == {
        ("d", date(2026, 11, 29)): (window.id, staff_id, 2, 1),
        ("w", date(2026, 11, 23)): (window.id, staff_id, 2, 1),
        ("m", date(2026, 11, 1)): (window.id, staff_id, 2, 1),
        ("y", date(2026, 1, 1)): (window.id, staff_id, 2, 1),
    }


def test_a_repeated_client_id_is_counted_once(app):
    make_window("A01")
    body = {"window": "A01", "score": 5, "channel": "qr", "client_id": "same-id-123"}
    intake(app).accept(body)
    intake(app).accept(body)
    assert sum(summary.stored(db.session).values()) == len(summary.GRAINS)
    assert_summary_matches_scan()


def test_the_summary_equals_a_scan_after_random_inserts_imports_and_exclusions(app):
    rng = random.Random(7)
    codes = ["A01", "A02", "B01"]
    now = utcnow()
    for i, code in enumerate(codes):
        make_window(code, staff_no=f"S{i}" if code != "B01" else None,
                    on_duty_since=now - timedelta(days=40))
    # A relief clerk at A02 for part of the period.
    a02 = db.session.scalar(sa.select(Duty).join(Staff).where(Staff.staff_no == "S1"))
    relief = Staff(staff_no="S9", name="胡晓燕")
    db.session.add(Duty(window_id=a02.window_id, staff=relief,
                        started_at=now - timedelta(days=10), ended_at=now - timedelta(days=5)))
    db.session.commit()

    def random_time() -> datetime:
        return now - timedelta(days=rng.uniform(0, 29), hours=rng.uniform(0, 24))

    for _ in range(120):
        intake(app).accept({
            "window": rng.choice(codes), "score": rng.randint(1, 5), "channel": "qr",
            "client_id": uuid.uuid4().hex,
            "created_at": random_time().isoformat() + "Z"}, now=now)
    assert_summary_matches_scan()

    # An import that adds new ratings and rewrites some stored ones (window, score,
    # time and counted all change).
    stored_ids = list(db.session.scalars(sa.select(Rating.client_id)))
    lines = ["client_id,window,score,created_at,counted"]
    for cid in rng.sample(stored_ids, 30) + [uuid.uuid4().hex for _ in range(50)]:
        when = clock.to_local(random_time(), TZ).isoformat()
        lines.append(f"{cid},{rng.choice(codes)},{rng.randint(1, 5)},{when},"
                     f"{rng.choice(['true', 'true', 'false'])}")
    import_ratings(io.StringIO("\n".join(lines) + "\n"), TZ)
    db.session.commit()
    assert_summary_matches_scan()

    # An import with only some columns leaves the others (and their counts) alone.
    lines = ["client_id,window,score,created_at"]
    for cid in rng.sample(stored_ids, 20):
        lines.append(f"{cid},{rng.choice(codes)},{rng.randint(1, 5)},"
                     f"{clock.to_local(random_time(), TZ).isoformat()}")
    import_ratings(io.StringIO("\n".join(lines) + "\n"), TZ)
    db.session.commit()
    assert_summary_matches_scan()

    # Exclusions and reinstatements, some of them repeated.
    ids = list(db.session.scalars(sa.select(Rating.id)))
    for _ in range(6):
        chosen = rng.sample(ids, 15)
        summary.set_counted(db.session, chosen, rng.random() < 0.4, TZ)
        db.session.commit()
        assert_summary_matches_scan()
    assert summary.rebuild(db.session, TZ) == 0


def test_excluding_twice_uncounts_once(app):
    make_window("A01")
    stored = intake(app).accept({"window": "A01", "score": 1, "channel": "qr",
                                 "client_id": uuid.uuid4().hex})
    assert summary.set_counted(db.session, [stored.id], False, TZ) == 1
    assert summary.set_counted(db.session, [stored.id], False, TZ) == 0
    db.session.commit()
    assert summary.stored(db.session) == {}
    assert summary.set_counted(db.session, [stored.id], True, TZ) == 1
    db.session.commit()
    assert_summary_matches_scan()
    assert sum(summary.stored(db.session).values()) == len(summary.GRAINS)


def test_rebuild_summary_repairs_a_damaged_summary(app, runner):
    make_window("A01")
    for score in (5, 4, 1):
        intake(app).accept({"window": "A01", "score": score, "channel": "qr",
                            "client_id": uuid.uuid4().hex})
    db.session.execute(sa.update(RatingSummary).where(RatingSummary.score == 5)
                       .values(n=RatingSummary.n + 3))
    db.session.commit()
    result = runner.invoke(args=["rebuild-summary"])
    assert result.exit_code == 0, result.output
    assert "4 entries were wrong" in result.output
    assert_summary_matches_scan()
    result = runner.invoke(args=["rebuild-summary"])
    assert "already matched" in result.output


def test_a_database_upgraded_to_the_summary_is_rebuilt_even_after_an_import(app, runner):
    # As the migration leaves an existing database: ratings, an empty summary, no
    # time zone recorded. An import before anyone rebuilds adds only its own rows.
    make_window("A01")
    for score in (5, 2):
        intake(app).accept({"window": "A01", "score": score, "channel": "qr",
                            "client_id": uuid.uuid4().hex})
    db.session.execute(sa.delete(RatingSummary))
    db.session.get(SummaryState, 1).timezone = None
    db.session.commit()
    import_ratings(io.StringIO("window,score,created_at\nA01,4,2026-11-02T10:00:00\n"), TZ)
    db.session.commit()
    assert not summary.is_current(db.session, TZ)
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert summary.is_current(db.session, TZ)
    assert_summary_matches_scan()
    assert sum(summary.stored(db.session).values()) == 3 * len(summary.GRAINS)


def test_a_new_timezone_makes_the_summary_stale_until_rebuilt(app, runner):
    make_window("A01")
    intake(app).accept({"window": "A01", "score": 5, "channel": "qr",
                        "client_id": uuid.uuid4().hex})
    london = clock.zone("Europe/London")
    assert summary.is_current(db.session, TZ)
    assert not summary.is_current(db.session, london)
    app.config["TIMEZONE"] = "Europe/London"
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert summary.is_current(db.session, london)
    assert summary.stored(db.session) == summary.scan(db.session, london)


def test_the_back_office_warns_while_the_summary_is_stale(app, login):
    client = login("supervisor")
    assert "kiosk rebuild-summary" not in client.get("/admin/").get_data(as_text=True)
    db.session.get(SummaryState, 1).timezone = None
    db.session.commit()
    assert "kiosk rebuild-summary" in client.get("/admin/").get_data(as_text=True)


def test_postgresql_vacuums_the_summary_after_a_fixed_number_of_dead_rows(app):
    """Each rating rewrites four summary rows: autovacuum must not wait for a fifth of
    years of summary to be dead (migration d7e4a0000004)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite rewrites rows in place: nothing to vacuum")
    options = set(db.session.scalar(sa.text(
        "SELECT reloptions FROM pg_class WHERE relname = 'rating_summary'")) or [])
    assert {"autovacuum_vacuum_scale_factor=0",
            "autovacuum_vacuum_threshold=10000"} <= options
