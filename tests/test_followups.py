"""Follow-up cases (kiosk/followups.py): who may do what, every step and its history,
stale forms, working markers, and the overdue rule."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from kiosk import followups
from kiosk.db import db, utcnow
from kiosk.followups import CaseConflict, CaseError
from kiosk.models import Appeal, CaseEvent, Department, FollowupCase, Rating, User

from .helpers import make_user, make_window

DEPT = "政务服务中心"
OTHER = "不动产登记中心"


@pytest.fixture
def hall(app):
    make_window("A01", dept=DEPT)
    make_window("D01", dept=OTHER, staff_no="S002", staff_name="黄磊")
    return {role: make_user(role, role, DEPT if role == "department" else None)
            for role in ("admin", "supervisor", "caller", "department")}


def new_case(kind: str = "callback", score: int | None = None, window: str = "A01",
             days_ago: int = 0, **fields) -> FollowupCase:
    """A stored rating and its case (as the writer opens it: open, version 1)."""
    score = score if score is not None else (5 if kind == "sample" else 1)
    window_id = db.session.scalar(sa.text("SELECT id FROM service_window WHERE code = :c"),
                                  {"c": window})
    rated = utcnow() - timedelta(days=days_ago)
    rating = Rating(client_id=uuid.uuid4().hex, window_id=window_id, score=score,
                    channel="kiosk", reasons="", created_at=rated, received_at=rated,
                    phone=None if kind == "verify" else "sealed:x")
    db.session.add(rating)
    db.session.flush()
    today = rated.date()
    case = FollowupCase(rating_id=rating.id, window_id=window_id, rated_at=rated, kind=kind,
                        status="open", contact_due=today + timedelta(days=1),
                        resolve_due=today + timedelta(days=21), opened_at=rated, version=1)
    for name, value in fields.items():
        setattr(case, name, value)
    db.session.add(case)
    db.session.commit()
    return case


def events(case: FollowupCase) -> list[tuple]:
    return [(e.action, e.username, e.result, e.status_before, e.status_after)
            for e in followups.history(case)]


# --- a case's life ------------------------------------------------------------------

def test_a_callback_case_from_first_call_to_closing(hall):
    caller, head = hall["caller"], hall["department"]
    case = new_case("callback")
    followups.record_attempt(case, caller, "no_answer", "响铃无人接", seen_version=1)
    assert (case.status, case.version, case.reached_at) == ("in_progress", 2, None)
    contacted = case.contacted_at
    assert contacted is not None
    followups.record_attempt(case, caller, "reached", None, seen_version=2)
    assert case.contacted_at == contacted and case.reached_at is not None
    followups.record_rectification(case, head, "调阅监控，态度确有生硬", "约谈并培训",
                                   seen_version=3)
    assert (case.verification, case.rectification) == ("调阅监控，态度确有生硬", "约谈并培训")
    followups.record_citizen_view(case, caller, "satisfied", "群众认可", seen_version=4)
    followups.close(case, caller, "resolved", "整改完成", seen_version=5)
    db.session.commit()
    db.session.expire_all()
    case = db.session.get(FollowupCase, case.id)
    assert (case.status, case.outcome, case.closed_by_id, case.version) == (
        "closed", "resolved", caller.id, 6)
    assert case.citizen_view == "satisfied" and case.closed_at is not None
    assert events(case) == [
        ("attempt", "caller", "no_answer", "open", "in_progress"),
        ("attempt", "caller", "reached", "in_progress", "in_progress"),
        ("rectify", "department", None, "in_progress", "in_progress"),
        ("citizen_view", "caller", "satisfied", "in_progress", "in_progress"),
        ("close", "caller", "resolved", "in_progress", "closed")]
    assert followups.describe(followups.history(case)[0]) == "电话回访（无人接听）"


def test_a_verify_case_is_contacted_by_the_departments_check_and_closed_by_it(hall):
    head = hall["department"]
    case = new_case("verify")
    with pytest.raises(CaseError, match="先登记部门核实情况"):
        followups.close(case, head, "no_fault")
    followups.record_rectification(case, head, "现场核实：群众误解材料要求", None)
    assert case.contacted_at == case.rectified_at is not None
    assert case.status == "in_progress"
    followups.close(case, head, "explained")
    assert (case.status, case.outcome) == ("closed", "explained")


def test_reopening_needs_a_reason_and_puts_the_case_back_in_progress(hall):
    case = new_case("callback")
    followups.record_attempt(case, hall["caller"], "reached")
    followups.close(case, hall["caller"], "explained")
    with pytest.raises(CaseError, match="原因"):
        followups.reopen(case, hall["supervisor"], " ")
    followups.reopen(case, hall["supervisor"], "群众再次来电反映")
    assert (case.status, case.outcome, case.closed_at) == ("in_progress", None, None)
    assert events(case)[-1] == ("reopen", "supervisor", None, "closed", "in_progress")


def test_assigning_and_taking(hall):
    caller, other = hall["caller"], make_user("caller2", "caller")
    case = new_case("callback")
    followups.assign(case, hall["supervisor"], other)
    assert case.assigned_to_id == other.id and case.status == "open"
    with pytest.raises(CaseError, match="已指派给 caller2"):
        followups.take(case, caller)
    followups.assign(case, hall["supervisor"], None)
    followups.take(case, caller)
    assert case.assigned_to_id == caller.id
    with pytest.raises(CaseError, match="只能指派给回访员"):
        followups.assign(case, hall["supervisor"], hall["department"])
    assert [e[0] for e in events(case)] == ["assign", "assign", "take"]


# --- closing rules ----------------------------------------------------------------

def test_closing_needs_an_outcome_that_fits_the_kind(hall):
    caller = hall["caller"]
    case = new_case("callback")
    for outcome, message in (("", "须选择处理结果"), ("sample_confirmed", "只能是"),
                             ("appeal_upheld", "只能是"), ("bogus", "只能是")):
        with pytest.raises(CaseError, match=message) as caught:
            followups.close(case, caller, outcome)
        assert caught.value.status == 400
    sample = new_case("sample")
    with pytest.raises(CaseError, match="只能是"):
        followups.close(sample, caller, "resolved")
    followups.close(sample, caller, "sample_disputed")
    assert case.version == 1 and case.status == "open"  # refusals change nothing
    assert events(case) == []


def test_unreachable_needs_two_unanswered_calls_and_no_answered_one(hall):
    caller = hall["caller"]
    case = new_case("callback")
    followups.record_attempt(case, caller, "no_answer")
    with pytest.raises(CaseError, match="至少 2 次未接通"):
        followups.close(case, caller, "unreachable")
    followups.record_attempt(case, caller, "wrong_number")
    followups.close(case, caller, "unreachable", "空号")
    assert case.outcome == "unreachable"
    reached = new_case("callback")
    for result in ("no_answer", "no_answer", "reached"):
        followups.record_attempt(reached, caller, result)
    with pytest.raises(CaseError, match="已联系上群众"):
        followups.close(reached, caller, "unreachable")


def test_bad_input_is_refused_clearly(hall):
    caller = hall["caller"]
    case = new_case("callback")
    with pytest.raises(CaseError, match="请选择回访结果"):
        followups.record_attempt(case, caller, "maybe")
    with pytest.raises(CaseError, match="请选择群众评价"):
        followups.record_citizen_view(case, caller, "meh")
    with pytest.raises(CaseError, match="请填写核实情况"):
        followups.record_rectification(case, hall["department"], "  ", "x")
    with pytest.raises(CaseError, match="不能超过"):
        followups.record_attempt(case, caller, "reached", "长" * 1001)
    with pytest.raises(CaseError, match="版本号无效"):
        followups.record_attempt(case, caller, "reached", seen_version="abc")
    assert case.version == 1 and events(case) == []


# --- who may do what ------------------------------------------------------------

ALLOWED = {
    "admin": {"attempt", "assign", "take", "citizen_view", "close", "reopen", "rule",
              "reverse"},
    "supervisor": {"assign", "close", "reopen", "rule", "reverse"},
    "caller": {"attempt", "take", "citizen_view", "close"},
    "department": {"rectify", "appeal", "close"},
}


def prepared(action: str, hall: dict, window: str = "A01"):
    """A case (or an appeal) in the state ``action`` applies to."""
    if action == "close":  # a verify case, checked: every closing role may close it
        return new_case("verify", window=window, verification="已核实")
    if action == "reopen":
        return new_case("callback", window=window, status="closed", outcome="explained",
                        closed_at=utcnow())
    if action in ("rule", "reverse"):
        case = new_case("callback", window=window)
        appeal = followups.file_appeal(case, User(username="dept", role="department",
                                                  department_id=_dept_id(window)),
                                       "误评")
        if action == "reverse":
            followups.rule_appeal(appeal, hall["supervisor"], True, "属实")
        db.session.commit()
        return appeal
    return new_case("callback", window=window)


def _dept_id(window: str) -> int:
    name = DEPT if window == "A01" else OTHER
    return db.session.scalar(sa.select(Department.id).where(Department.name == name))


def perform(action: str, target, user: User, hall: dict):
    ops = {
        "attempt": lambda c: followups.record_attempt(c, user, "reached"),
        "assign": lambda c: followups.assign(c, user, hall["caller"]),
        "take": lambda c: followups.take(c, user),
        "rectify": lambda c: followups.record_rectification(c, user, "核实", "整改"),
        "citizen_view": lambda c: followups.record_citizen_view(c, user, "satisfied"),
        "close": lambda c: followups.close(c, user, "no_fault"),
        "reopen": lambda c: followups.reopen(c, user, "再查"),
        "appeal": lambda c: followups.file_appeal(c, user, "恶意差评"),
        "rule": lambda a: followups.rule_appeal(a, user, False, "不成立"),
        "reverse": lambda a: followups.reverse_ruling(a, user, "撤销"),
    }
    return ops[action](target)


@pytest.mark.parametrize("action", followups.ACTIONS)
def test_every_step_is_open_to_its_roles_only(hall, action):
    other_head = make_user("head-other", "department", OTHER)
    for role in ("admin", "supervisor", "caller", "department", "other-department"):
        user = other_head if role == "other-department" else hall[role]
        target = prepared(action, hall)
        case = target.case if isinstance(target, Appeal) else target
        version, count = case.version, len(events(case))
        allowed = action in ALLOWED.get(role, set())
        assert followups.may(user, action, case) is allowed, (role, action)
        if allowed:
            perform(action, target, user, hall)
            assert case.version == version + 1 and len(events(case)) == count + 1
        else:
            with pytest.raises(CaseError) as caught:
                perform(action, target, user, hall)
            assert caught.value.status == 403, (role, action, caught.value.message)
            assert case.version == version and len(events(case)) == count
        db.session.rollback()


def test_a_department_closes_only_verify_cases(hall):
    head = hall["department"]
    case = new_case("callback", verification="已核实")
    assert not followups.may(head, "close", case)
    with pytest.raises(CaseError, match="只能对现场核实件结案"):
        followups.close(case, head, "no_fault")


def test_steps_that_do_not_fit_the_case_are_refused(hall):
    caller, head = hall["caller"], hall["department"]
    verify, sample = new_case("verify"), new_case("sample")
    with pytest.raises(CaseError, match="无需电话回访"):
        followups.record_attempt(verify, caller, "reached")
    with pytest.raises(CaseError, match="无需整改"):
        followups.record_rectification(sample, head, "核实", None)
    with pytest.raises(CaseError, match="只能对差评提出申诉"):
        followups.file_appeal(new_case("callback", score=3), head, "理由")
    closed = new_case("callback", status="closed", outcome="explained")
    for action in ("attempt", "take", "citizen_view", "close", "assign"):
        user = hall["caller"] if action != "assign" else hall["supervisor"]
        assert not followups.may(user, action, closed)
    with pytest.raises(CaseError, match="已结案") as caught:
        followups.record_attempt(closed, caller, "reached")
    assert caught.value.status == 409
    with pytest.raises(CaseError, match="尚未结案"):
        followups.reopen(verify, hall["supervisor"], "再查")


def test_department_heads_see_their_own_departments_cases_only(hall):
    mine, theirs = new_case("callback"), new_case("verify", window="D01")
    seen = lambda user: set(db.session.scalars(followups.visible_cases(user)))  # noqa: E731
    assert seen(hall["department"]) == {mine}
    assert seen(hall["caller"]) == seen(hall["supervisor"]) == {mine, theirs}
    assert seen(make_user("nodept", "department")) == set()
    assert followups.can_see(hall["department"], mine)
    assert not followups.can_see(hall["department"], theirs)


# --- two people, one case ---------------------------------------------------------

def test_a_form_from_an_older_view_is_refused_naming_who_changed_what(hall):
    caller, other = hall["caller"], make_user("小王", "caller")
    case = new_case("callback")
    seen = case.version
    followups.record_attempt(case, other, "no_answer", seen_version=seen)
    db.session.commit()
    with pytest.raises(CaseConflict) as caught:
        followups.record_attempt(case, caller, "reached", "接通了", seen_version=seen)
    assert caught.value.status == 409
    assert "小王" in caught.value.message and "电话回访（无人接听）" in caught.value.message
    db.session.rollback()
    db.session.expire_all()
    case = db.session.get(FollowupCase, case.id)
    assert case.version == 2 and case.reached_at is None
    assert [e[1] for e in events(case)] == ["小王"]
    # The form re-rendered with the new version goes through.
    followups.record_attempt(case, caller, "reached", "接通了", seen_version=case.version)
    assert case.version == 3


def test_a_step_saved_meanwhile_by_another_server_is_not_overwritten(hall, app):
    """The version is taken with a guarded UPDATE: a step computed on a stale copy of
    the case (another transaction committed in between) fails instead of winning."""
    case = new_case("callback")
    other = make_user("小李", "caller")
    case_id = case.id
    assert case.version == 1  # loaded in this session
    with db.engine.begin() as conn:  # another server records an attempt meanwhile
        conn.execute(sa.text("UPDATE followup_case SET version = 2 WHERE id = :i"),
                     {"i": case_id})
        conn.execute(sa.insert(CaseEvent).values(
            case_id=case_id, at=utcnow(), user_id=other.id, username="小李",
            action="attempt", result="refused", status_before="open",
            status_after="in_progress"))
    with pytest.raises(CaseConflict, match="小李"):
        followups.record_attempt(case, hall["caller"], "reached")
    db.session.rollback()
    assert db.session.get(FollowupCase, case_id).reached_at is None


def test_two_callers_opening_one_case_see_each_other(hall):
    a, b = hall["caller"], make_user("小赵", "caller")
    case = new_case("callback")
    now = utcnow()
    assert followups.touch_working(case, a, now=now) is None
    assert followups.touch_working(case, b, now=now + timedelta(minutes=1)) == a
    assert followups.touch_working(case, a, now=now + timedelta(minutes=2)) == b
    assert followups.working_on(case, now=now + timedelta(minutes=3)) == a
    later = now + timedelta(minutes=followups.WORKING_MINUTES + 3)
    assert followups.working_on(case, now=later) is None
    assert followups.touch_working(case, b, now=later) is None  # a left long ago
    followups.release_working(case, a)  # not a's marker any more: stays b's
    assert case.working_by_id == b.id
    followups.release_working(case, b)
    assert case.working_by_id is None
    assert case.version == 1 and events(case) == []  # looking is not a step


# --- overdue ----------------------------------------------------------------------

def test_overdue_is_one_rule_in_python_and_in_sql(hall):
    today = date(2026, 11, 30)
    rows = {
        "fresh": dict(contact_due=today, resolve_due=today + timedelta(days=20)),
        "not_called": dict(contact_due=today - timedelta(days=1),
                           resolve_due=today + timedelta(days=20)),
        "called": dict(contact_due=today - timedelta(days=1),
                       resolve_due=today + timedelta(days=20), contacted_at=utcnow()),
        "late": dict(contact_due=today - timedelta(days=20), resolve_due=today - timedelta(days=1),
                     contacted_at=utcnow()),
        "due_today": dict(contact_due=today - timedelta(days=20), resolve_due=today,
                          contacted_at=utcnow()),
        "closed_late": dict(contact_due=today - timedelta(days=20),
                            resolve_due=today - timedelta(days=1), status="closed"),
    }
    cases = {name: new_case("callback", **fields) for name, fields in rows.items()}
    expected = {"not_called", "late"}
    assert {n for n, c in cases.items() if followups.is_overdue(c, today)} == expected
    found = set(db.session.scalars(sa.select(FollowupCase.id)
                                   .where(followups.overdue_clause(today))))
    assert found == {cases[n].id for n in expected}


# --- the demo hall ----------------------------------------------------------------

def test_the_demo_hall_has_cases_in_every_state(runner, app):
    from kiosk import clock, summary

    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    cases = db.session.scalars(sa.select(FollowupCase)).all()
    today = clock.to_local(utcnow(), clock.zone(app.config["TIMEZONE"])).date()
    assert {c.kind for c in cases} == {"callback", "verify", "sample"}
    assert {c.status for c in cases} == {"open", "in_progress", "closed"}
    assert {c.outcome for c in cases if c.outcome} >= {
        "resolved", "explained", "no_fault", "unreachable", "sample_confirmed",
        "appeal_upheld"}
    overdue = [c for c in cases if followups.is_overdue(c, today)]
    assert overdue and any(c.status == "open" and not followups.is_overdue(c, today)
                           for c in cases)
    assert set(db.session.scalars(sa.select(Appeal.status))) == {"pending", "upheld",
                                                                "reversed"}
    upheld = db.session.scalar(sa.select(Appeal).where(Appeal.status == "upheld"))
    # Not counted, for the appeal (a demo kiosk tap also carries its unprompted mark:
    # which case the demo appeals depends on the hour it runs).
    assert upheld.rating.counted is False
    assert set(upheld.rating.flag_codes) - {"unprompted"} == {"appeal"}
    assert summary.stored(db.session) == summary.scan(db.session, clock.zone(
        app.config["TIMEZONE"]))
    for case in cases:  # each step left its event, each event its version
        assert case.version == 1 + len(followups.history(case))
