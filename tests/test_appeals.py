"""Appeals (申诉复核): an upheld appeal takes the bad rating out of every table and the
live summary (it stays on record, flagged, its case closed as appeal_upheld); the
ruling is audited and can be reversed, and the tables follow."""
from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from kiosk import clock, followups, summary
from kiosk.db import db
from kiosk.followups import CaseError
from kiosk.models import Appeal, AuditEntry, FollowupCase, Rating

from .helpers import make_user, make_window, rating_body


@pytest.fixture
def hall(app, client):
    make_window("A01", dept="税务")
    make_window("B01", name="企业开办窗口", dept="市场监管", staff_no="S002", staff_name="李娜")
    for window, score in (("A01", 5), ("A01", 4), ("B01", 5), ("B01", 2)):
        assert client.post("/api/ratings", json=rating_body(window=window, score=score)
                           ).status_code == 201
    bad = rating_body(window="A01", score=1, phone="13800138000", reasons=["attitude"],
                      comment="态度差")
    assert client.post("/api/ratings", json=bad).status_code == 201
    rating = db.session.scalar(sa.select(Rating).where(Rating.client_id == bad["client_id"]))
    case = db.session.scalar(sa.select(FollowupCase).where(FollowupCase.rating_id == rating.id))
    assert case.kind == "callback"
    tz = clock.zone(app.config["TIMEZONE"])
    year, week, _ = clock.to_local(rating.created_at, tz).date().isocalendar()
    month = clock.to_local(rating.created_at, tz).strftime("%Y-%m")
    return {"case": case, "rating": rating, "week": f"{year}-W{week:02d}", "month": month,
            "head": make_user("税务科长", "department", "税务"),
            "supervisor": make_user("督查员", "supervisor")}


def tables(login, hall) -> dict:
    """What management reads: the weekly league (per window and per clerk) and the
    month's assessment."""
    client = login("admin")
    week, month = hall["week"], hall["month"]
    return {
        "league": client.get(f"/admin/league.json?week={week}").get_json()["rows"],
        "staff": client.get(f"/admin/league.json?week={week}&by=staff").get_json()["rows"],
        "month": client.get(f"/admin/assessment.json?month={month}").get_json()["rows"],
    }


def row(rows: list[dict], window: str) -> dict:
    return next(r for r in rows if r.get("window") == window)


def rebuilt_matches(runner) -> bool:
    live = summary.stored(db.session)
    result = runner.invoke(args=["rebuild-summary"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return "already matched" in result.output and summary.stored(db.session) == live


def exported(runner, client_id: str) -> dict:
    result = runner.invoke(args=["export-ratings"])
    assert result.exit_code == 0, result.output
    rows = csv.DictReader(io.StringIO(result.output.lstrip("\ufeff")))
    return next(r for r in rows if r["client_id"] == client_id)


def test_upheld_appeal_leaves_the_tables_and_a_reversal_brings_it_back(hall, login, runner):
    case, rating, head, supervisor = (hall["case"], hall["rating"], hall["head"],
                                      hall["supervisor"])
    before = tables(login, hall)
    a01 = row(before["league"], "A01")
    assert (a01["ratings"], a01["bad"], a01["satisfaction"]) == (3, 1, 58.3)
    assert row(before["month"], "A01")["bad"] == 1

    appeal = followups.file_appeal(case, head, "监控显示该群众未办理业务，连续点击差评")
    db.session.commit()
    assert (appeal.status, appeal.rating_id, case.status) == ("pending", rating.id,
                                                              "in_progress")
    assert tables(login, hall) == before  # filing changes no table
    with pytest.raises(CaseError, match="已有待复核的申诉"):
        followups.file_appeal(case, head, "再次申诉")
    with pytest.raises(CaseError, match="待复核的申诉"):
        followups.close(case, make_user("回访员", "caller"), "explained")

    followups.rule_appeal(appeal, supervisor, True, "经调阅监控，申诉成立")
    db.session.commit()
    db.session.expire_all()
    upheld = tables(login, hall)
    a01 = row(upheld["league"], "A01")
    assert (a01["ratings"], a01["bad"], a01["satisfaction"]) == (2, 0, 87.5)
    assert row(upheld["month"], "A01")["ratings"] == 2
    assert row(upheld["month"], "A01")["bad"] == 0
    assert sum(r["ratings"] for r in upheld["staff"]) == sum(
        r["ratings"] for r in before["staff"]) - 1
    assert row(upheld["league"], "B01")["ratings"] == row(before["league"], "B01")["ratings"]
    # On record, marked; the case closed as appeal_upheld.
    rating = db.session.get(Rating, rating.id)
    assert (rating.counted, rating.flag_codes, rating.score) == (False, ["appeal"], 1)
    case = db.session.get(FollowupCase, case.id)
    assert (case.status, case.outcome, case.closed_by_id) == ("closed", "appeal_upheld",
                                                              supervisor.id)
    line = exported(runner, rating.client_id)
    assert (line["counted"], line["flags"], line["score"]) == ("false", "appeal", "1")
    assert rebuilt_matches(runner)
    with pytest.raises(CaseError, match="撤销复核结论"):
        followups.reopen(case, supervisor, "再看看")
    with pytest.raises(CaseError, match="已复核"):
        followups.rule_appeal(db.session.get(Appeal, appeal.id), supervisor, False, "改判")

    appeal = db.session.get(Appeal, appeal.id)
    followups.reverse_ruling(appeal, supervisor, "群众来电补充，确有不满")
    db.session.commit()
    db.session.expire_all()
    assert tables(login, hall) == before
    rating = db.session.get(Rating, rating.id)
    assert (rating.counted, rating.flag_codes) == (True, [])
    case = db.session.get(FollowupCase, case.id)
    assert (case.status, case.outcome, case.closed_at) == ("in_progress", None, None)
    assert exported(runner, rating.client_id)["counted"] == "true"
    assert rebuilt_matches(runner)
    assert [e.action for e in followups.history(case)] == ["appeal", "rule", "reverse"]
    audits = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action.startswith("appeal.")).order_by(AuditEntry.id)).all()
    assert [(a.action, a.username, a.target_id) for a in audits] == [
        ("appeal.file", "税务科长", str(appeal.id)), ("appeal.rule", "督查员", str(appeal.id)),
        ("appeal.reverse", "督查员", str(appeal.id))]
    assert '"counted": false' in audits[1].after and '"counted": true' in audits[2].after
    with pytest.raises(CaseError, match="只能撤销"):
        followups.reverse_ruling(appeal, supervisor, "再撤销")


def test_a_rejected_appeal_changes_no_table_and_the_department_may_appeal_again(
        hall, login, runner):
    case, head, supervisor = hall["case"], hall["head"], hall["supervisor"]
    before = tables(login, hall)
    appeal = followups.file_appeal(case, head, "群众误评")
    with pytest.raises(CaseError, match="复核意见"):
        followups.rule_appeal(appeal, supervisor, False, "")
    followups.rule_appeal(appeal, supervisor, False, "监控显示确有推诿，申诉不成立")
    db.session.commit()
    assert appeal.status == "rejected" and case.status == "in_progress"
    assert tables(login, hall) == before
    assert rebuilt_matches(runner)
    again = followups.file_appeal(case, head, "补充新证据")
    assert again.status == "pending" and len(followups.appeals(case)) == 2


def test_only_departments_appeal_and_only_supervisors_and_admins_rule(hall):
    case, head = hall["case"], hall["head"]
    caller = make_user("回访员", "caller")
    other_head = make_user("市场监管科长", "department", "市场监管")
    for user in (caller, hall["supervisor"], other_head):
        with pytest.raises(CaseError) as caught:
            followups.file_appeal(case, user, "理由")
        assert caught.value.status == 403
    with pytest.raises(CaseError, match="申诉理由"):
        followups.file_appeal(case, head, "  ")
    appeal = followups.file_appeal(case, head, "误评")
    for user in (caller, head):
        with pytest.raises(CaseError) as caught:
            followups.rule_appeal(appeal, user, True, "成立")
        assert caught.value.status == 403
    followups.rule_appeal(appeal, make_user("admin1", "admin"), True, "成立")
    for user in (caller, head):
        with pytest.raises(CaseError) as caught:
            followups.reverse_ruling(appeal, user, "撤销")
        assert caught.value.status == 403
    assert appeal.status == "upheld"
