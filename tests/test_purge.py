"""``kiosk purge-phones [--dry-run]``: numbers are erased PHONE_RETENTION_DAYS after their
case closes (kiosk/retention.py), and only then."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from kiosk import phonekeys
from kiosk.db import db, utcnow
from kiosk.models import FollowupCase, Rating, Suggestion
from kiosk.retention import purge_phones

from .helpers import make_window

DAY = timedelta(days=1)


@pytest.fixture
def hall(app):
    """Ratings and suggestions with numbers, each at a different point of its life;
    the names say which should lose their number after 180 days."""
    window = make_window("A01")
    now = utcnow()
    seal = phonekeys.keyring(app).seal

    def rating(name: str, age_days: int, case: str | None = None,
               closed_days: int | None = None) -> None:
        rated = now - age_days * DAY
        r = Rating(client_id=f"{name}-client", window_id=window.id, score=1 if case else 5,
                   channel="kiosk", phone=seal("+85291234567"), created_at=rated)
        db.session.add(r)
        db.session.flush()
        if case:
            db.session.add(FollowupCase(
                rating_id=r.id, window_id=window.id, rated_at=rated, kind="callback",
                status=case, contact_due=date(2026, 1, 2), resolve_due=date(2026, 1, 20),
                closed_at=None if closed_days is None else now - closed_days * DAY,
                outcome="resolved" if case == "closed" else None))

    rating("erase-closed-181", 400, "closed", 181)
    rating("keep-closed-179", 400, "closed", 179)
    rating("keep-open-400", 400, "in_progress")
    rating("erase-nocase-181", 181)
    rating("keep-nocase-10", 10)
    for name, age, handled in (("erase-handled-181", 400, 181), ("keep-open", 400, None),
                               ("keep-handled-10", 20, 10)):
        db.session.add(Suggestion(
            text=name, phone=seal("13800138000"), created_at=now - age * DAY,
            handled_at=None if handled is None else now - handled * DAY))
    db.session.commit()
    return now


def phones() -> dict[str, bool]:
    """Who still has a number."""
    db.session.expire_all()
    out = {cid.removesuffix("-client"): phone is not None
           for cid, phone in db.session.execute(sa.select(Rating.client_id, Rating.phone))}
    out.update({f"s:{text}": phone is not None
                for text, phone in db.session.execute(sa.select(Suggestion.text,
                                                                Suggestion.phone))})
    return out


def test_purge_after_retention_with_a_dry_run_first(hall, runner, app):
    assert app.config["PHONE_RETENTION_DAYS"] == 180
    before = phones()
    raw_before = list(db.session.scalars(sa.select(Rating.phone).order_by(Rating.id)))
    dry = runner.invoke(args=["purge-phones", "--dry-run"], catch_exceptions=False)
    assert dry.exit_code == 0
    assert "would erase 1 phone numbers of ratings whose case closed" in dry.output
    assert "would erase 1 phone numbers of ratings with no case" in dry.output
    assert "would erase 1 phone numbers of suggestions handled" in dry.output
    assert "dry run: nothing changed: 3 in all" in dry.output
    assert phones() == before and all(before.values())
    assert list(db.session.scalars(sa.select(Rating.phone).order_by(Rating.id))) == raw_before

    done = runner.invoke(args=["purge-phones"], catch_exceptions=False)
    assert done.exit_code == 0
    assert "erased 1 phone numbers of ratings whose case closed" in done.output
    assert "done: 3 in all" in done.output
    after = phones()
    assert {k for k, has in after.items() if not has} == {
        "erase-closed-181", "erase-nocase-181", "s:erase-handled-181"}
    assert all(has for k, has in after.items() if "keep" in k)
    # The ratings and cases themselves stay; only the numbers go.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowupCase)) == 3

    # Safe daily from cron: the next run finds nothing.
    again = runner.invoke(args=["purge-phones"], catch_exceptions=False)
    assert "done: 0 in all" in again.output and phones() == after


def test_the_retention_is_a_setting(hall, app):
    report = purge_phones(hall, 180, dry_run=True)
    assert (report.closed_cases, report.no_case, report.suggestions) == (1, 1, 1)
    report = purge_phones(hall + 2 * DAY, 180, dry_run=True)  # two days on
    assert (report.closed_cases, report.no_case, report.suggestions) == (2, 1, 1)
    later = purge_phones(hall, 178, dry_run=False)  # a shorter retention
    db.session.commit()
    assert (later.closed_cases, later.no_case, later.suggestions) == (2, 1, 1)
    assert not phones()["keep-closed-179"] and phones()["keep-open-400"]


def test_a_reopened_case_keeps_its_number(hall, app):
    case = db.session.scalar(sa.select(FollowupCase).where(FollowupCase.status == "closed",
                                                         FollowupCase.closed_at < hall - 180 * DAY))
    case.status = "in_progress"  # reopened after an appeal was reversed
    db.session.commit()
    report = purge_phones(hall, 180, dry_run=False)
    db.session.commit()
    assert report.closed_cases == 0 and phones()["erase-closed-181"]


def test_a_negative_retention_is_refused(app, runner):
    app.config["PHONE_RETENTION_DAYS"] = -1
    result = runner.invoke(args=["purge-phones"])
    assert result.exit_code != 0 and "must not be negative" in result.output
