"""The call list (/admin/followups), its print sheet, JSON and CSV, and the case page
(admin/followups.py, kiosk/calllist.py): order, filters, phones per role, reveals in
the audit log, the forms of each step, two callers on one case."""
from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from kiosk import clock
from kiosk.db import db, utcnow
from kiosk.models import AuditEntry, CaseEvent, FollowupCase, Rating

from ..helpers import csrf_token, make_window

TZ = clock.zone("Asia/Shanghai")
OWN, OTHER = "本股室", "他股室"
PHONES = {"late": "13800138000", "soon": "13912345678", "later": "+85291234567",
          "other": "13700001111"}


def today() -> date:
    return clock.to_local(utcnow(), TZ).date()


def rate(app, window: str, score: int, phone: str | None = None, days_ago: int = 0,
         **fields) -> FollowupCase:
    """A rating through the write path, and the case it opened."""
    tapped = utcnow() - timedelta(days=days_ago, minutes=5)
    body = {"window": window, "score": score, "channel": "qr",
            "client_id": uuid.uuid4().hex, "created_at": tapped.isoformat() + "Z", **fields}
    if phone:
        body["phone"] = phone
    stored = app.extensions["kiosk.intake"].accept(body)
    db.session.expire_all()
    case = db.session.scalar(sa.select(FollowupCase).where(FollowupCase.rating_id == stored.id))
    assert case is not None, "a bad rating opens a case"
    return case


def set_due(case: FollowupCase, contact: int, resolve: int) -> FollowupCase:
    """Pin the deadlines ``contact`` / ``resolve`` days from today (the order the
    tests expect must not depend on this year's holidays)."""
    case.contact_due = today() + timedelta(days=contact)
    case.resolve_due = today() + timedelta(days=resolve)
    db.session.commit()
    return case


@pytest.fixture
def cases(app):
    """Four cases of 本股室 (one overdue, one verify) and one of 他股室."""
    make_window("A01", "本股室综合窗口", OWN, "S001", "钱本人")
    make_window("Z99", "他股室专用窗口", OTHER, "S999", "赵他人")
    found = {
        "soon": set_due(rate(app, "A01", 2, PHONES["soon"], reasons=["waiting"]), 1, 20),
        "late": set_due(rate(app, "A01", 1, PHONES["late"], days_ago=9,
                             comment="等了一个小时没人管", reasons=["attitude"]), -7, 10),
        "later": set_due(rate(app, "A01", 1, PHONES["later"]), 3, 20),
        "verify": set_due(rate(app, "A01", 1), 2, 20),
        "other": set_due(rate(app, "Z99", 1, PHONES["other"]), 1, 20),
    }
    return found


def reveals(user=None) -> list[str]:
    query = sa.select(AuditEntry.target_id).where(AuditEntry.action == "phone.reveal",
                                                  AuditEntry.target_type == "followup_case")
    if user is not None:
        query = query.where(AuditEntry.user_id == user.id)
    return sorted(db.session.scalars(query))


def ids(*cases) -> list[str]:
    return sorted(str(c.id) for c in cases)


def masked(phone: str) -> str:
    from kiosk.privacy import mask_phone
    return mask_phone(phone)


# -- order and filters ------------------------------------------------------------------

def test_the_list_puts_overdue_first_then_the_nearest_deadline(login, cases):
    client = login("caller")
    rows = client.get("/admin/followups.json").get_json()["rows"]
    assert [r["id"] for r in rows] == [cases[k].id for k in
                                       ("late", "soon", "other", "verify", "later")]
    assert [r["overdue"] for r in rows] == [True, False, False, False, False]
    page = client.get("/admin/followups").get_data(as_text=True)
    order = [int(m) for m in re.findall(r'/admin/followups/(\d+)"', page)]
    assert order[:5] == [r["id"] for r in rows]
    first_row = page.split("<tbody>")[1].split("</tr>")[0]
    assert 'class="overdue' in first_row and "已逾期" in first_row


def test_a_case_contacted_is_ordered_by_its_resolve_deadline(login, cases):
    client = login("caller")
    cases["soon"].contacted_at = utcnow()  # contacted: resolve due in 20 days now
    db.session.commit()
    rows = client.get("/admin/followups.json").get_json()["rows"]
    assert [r["id"] for r in rows][-1] == cases["soon"].id


def test_filters_status_kind_window_overdue_and_assigned(login, cases):
    client = login("caller")

    def listed(query: str) -> list[int]:
        return [r["id"] for r in client.get("/admin/followups.json" + query).get_json()["rows"]]

    assert listed("?overdue=1") == [cases["late"].id]
    assert listed("?kind=verify") == [cases["verify"].id]
    assert set(listed("?window=Z99")) == {cases["other"].id}
    assert listed("?status=closed") == []
    assert len(listed("?status=all")) == 5
    assert listed("?assigned=me") == []
    cases["later"].assigned_to_id = client.user.id
    db.session.commit()
    assert listed("?assigned=me") == [cases["later"].id]
    assert cases["later"].id not in listed("?assigned=none")
    bad = client.get("/admin/followups.json?status=finished")
    assert bad.status_code == 400 and "status" in bad.get_json()["error"]
    page = client.get("/admin/followups?kind=nonsense")
    assert page.status_code == 400 and "类型只能是" in page.get_data(as_text=True)


def test_the_calendar_warning_is_on_the_call_list(app, login, cases, monkeypatch):
    from kiosk import workdays
    monkeypatch.setattr(workdays, "calendar_warning", lambda d, t: "2099 年的节假日尚未录入")
    page = login("caller").get("/admin/followups").get_data(as_text=True)
    assert "2099 年的节假日尚未录入" in page


# -- phones per role ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ["caller", "admin"])
def test_callers_and_admins_get_whole_numbers_in_json_and_csv_each_logged(login, cases, role):
    client = login(role)
    rows = client.get("/admin/followups.json").get_json()["rows"]
    by_id = {r["id"]: r for r in rows}
    assert by_id[cases["late"].id]["phone"] == PHONES["late"]
    assert by_id[cases["later"].id]["phone"] == "+85291234567"
    assert by_id[cases["verify"].id]["phone"] is None
    with_phone = [cases[k] for k in ("late", "soon", "later", "other")]
    assert reveals(client.user) == ids(*with_phone)  # one entry per number shown

    response = client.get("/admin/followups.csv")
    assert response.status_code == 200 and response.data.startswith("\ufeff".encode())
    table = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    # excel_csv defuses a leading "+" (a formula to Excel) with "'", which Excel hides.
    assert {r["phone"].removeprefix("'") for r in table} == {*PHONES.values(), ""}
    assert len(reveals(client.user)) == 8  # the CSV logged its four as well


@pytest.mark.parametrize("role", ["supervisor", "department"])
def test_other_roles_get_masks_everywhere_and_nothing_is_logged(login, cases, role):
    client = login(role, OWN if role == "department" else None)
    rows = client.get("/admin/followups.json").get_json()["rows"]
    phones = {r["id"]: r["phone"] for r in rows}
    assert phones[cases["late"].id] == "138****8000"
    assert phones[cases["later"].id] == "+852****4567"
    text = client.get("/admin/followups.csv").data.decode("utf-8-sig")
    case_page = client.get(f"/admin/followups/{cases['late'].id}").get_data(as_text=True)
    sheet = client.get("/admin/followups/print").get_data(as_text=True)
    for shown in (text, case_page, sheet):
        assert "138****8000" in shown
        for phone in PHONES.values():
            assert phone not in shown
    assert reveals() == []


def test_the_list_page_masks_numbers_even_for_callers(login, cases):
    client = login("caller")
    page = client.get("/admin/followups").get_data(as_text=True)
    assert "138****8000" in page and PHONES["late"] not in page
    assert reveals() == []


def test_the_case_page_shows_a_caller_the_whole_number_and_logs_each_view(login, cases):
    client = login("caller")
    case = cases["late"]
    for n in (1, 2):
        page = client.get(f"/admin/followups/{case.id}").get_data(as_text=True)
        assert f'href="tel:{PHONES["late"]}"' in page
        assert "等了一个小时没人管" in page and "服务态度" in page
        assert reveals(client.user) == [str(case.id)] * n
    page = client.get(f"/admin/followups/{cases['verify'].id}").get_data(as_text=True)
    assert "未留电话" in page and reveals(client.user) == [str(case.id)] * 2


def test_the_print_sheet_shows_callers_whole_numbers_logged_per_case(login, cases):
    client = login("caller")
    sheet = client.get("/admin/followups/print?overdue=1")
    text = sheet.get_data(as_text=True)
    assert sheet.status_code == 200
    assert PHONES["late"] in text and PHONES["soon"] not in text  # only what it lists
    assert "已记入审计日志" in text and "差评回访登记表" in text
    assert reveals(client.user) == [str(cases["late"].id)]
    everything = client.get("/admin/followups/print").get_data(as_text=True)
    assert all(p in everything for p in PHONES.values())
    assert len(reveals(client.user)) == 1 + 4


def test_a_department_head_sees_only_their_departments_cases(login, cases):
    client = login("department", OWN)
    rows = client.get("/admin/followups.json").get_json()["rows"]
    assert {r["department"] for r in rows} == {OWN} and len(rows) == 4
    assert client.get(f"/admin/followups/{cases['other'].id}").status_code == 404
    assert "Z99" not in client.get("/admin/followups").get_data(as_text=True)
    assert "Z99" not in client.get("/admin/followups/print").get_data(as_text=True)


def test_without_a_session_data_is_401_and_pages_go_to_login(client, cases):
    for path in ("/admin/followups.json", "/admin/followups.csv"):
        response = client.get(path)
        assert response.status_code == 401 and "error" in response.get_json()
    for path in ("/admin/followups", "/admin/followups/print",
                 f"/admin/followups/{cases['late'].id}"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert reveals() == []


# -- the steps through the case page ------------------------------------------------------

def post(client, case, step: str, **data):
    page = client.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    data.setdefault("seen_version", re.search(r'name="seen_version" value="(\d+)"', page)[1])
    return client.post(f"/admin/followups/{case.id}/{step}",
                       data={"csrf_token": csrf_token(page), **data})


def test_a_caller_records_several_attempts_and_closes(login, cases):
    client = login("caller")
    case = cases["soon"]
    response = post(client, case, "attempt", result="no_answer", note="响铃无人接")
    assert response.status_code == 302
    post(client, case, "attempt", result="reached", note="群众说下午再办")
    db.session.expire_all()
    assert case.status == "in_progress" and case.contacted_at and case.reached_at
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已记录本次回访" in page
    assert page.count("电话回访") >= 2 and "无人接听" in page and "响铃无人接" in page
    response = post(client, case, "close", outcome="explained", note="已解释")
    assert response.status_code == 302
    db.session.expire_all()
    assert case.status == "closed" and case.outcome == "explained"
    actions = db.session.scalars(sa.select(CaseEvent.action).where(
        CaseEvent.case_id == case.id).order_by(CaseEvent.id)).all()
    assert actions == ["attempt", "attempt", "close"]


def test_a_refused_step_keeps_the_input_and_says_why(login, cases):
    client = login("caller")
    case = cases["soon"]
    response = post(client, case, "attempt", result="", note="这段说明要保留")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "请选择回访结果" in text and "这段说明要保留" in text
    response = post(client, case, "close", outcome="unreachable", note="打不通")
    assert response.status_code == 400 and "多次联系未果" in response.get_data(as_text=True)
    db.session.expire_all()
    assert case.status == "open" and case.version == 1


def test_a_form_from_an_older_view_is_not_applied_and_names_who_changed_it(login, cases):
    first, second = login("caller"), login("caller")
    case = cases["soon"]
    stale = first.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    assert post(second, case, "attempt", result="reached").status_code == 302
    response = first.post(f"/admin/followups/{case.id}/attempt", data={
        "csrf_token": csrf_token(stale), "result": "no_answer", "note": "我也打了",
        "seen_version": re.search(r'name="seen_version" value="(\d+)"', stale)[1]})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert second.user.username in text and "我也打了" in text
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent)
                             .where(CaseEvent.case_id == case.id)) == 1


def test_two_callers_on_one_case_see_each_other(login, cases):
    first, second = login("caller"), login("caller")
    case = cases["soon"]
    assert "正在处理" not in first.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    page = second.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    assert f"{first.user.username} 正在处理" in page
    listing = first.get("/admin/followups").get_data(as_text=True)
    assert f"{second.user.username} 正在处理" in listing
    second.get(f"/admin/followups/{cases['late'].id}")  # moves on to the next case
    listing = first.get("/admin/followups").get_data(as_text=True)
    assert listing.count('class="working"') == 1  # on one row only
    db.session.expire_all()
    assert cases["soon"].working_by_id is None
    assert cases["late"].working_by_id == second.user.id


def test_assign_and_take(login, cases):
    boss, caller = login("supervisor"), login("caller")
    case = cases["late"]
    assert post(caller, case, "take").status_code == 302
    db.session.expire_all()
    assert case.assigned_to_id == caller.user.id
    assert post(boss, case, "assign", assignee="").status_code == 302
    db.session.expire_all()
    assert case.assigned_to_id is None
    assert post(boss, case, "assign", assignee=str(caller.user.id)).status_code == 302
    db.session.expire_all()
    assert case.assigned_to_id == caller.user.id
    assert post(caller, case, "rectify", verification="x").status_code == 403


def test_the_department_rectifies_and_closes_a_verify_case_and_appeals(login, cases):
    head = login("department", OWN)
    case = cases["verify"]
    page = head.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    assert "记录回访" not in page and "保存核实整改情况" in page
    assert post(head, case, "close", outcome="resolved").status_code == 400  # not verified
    assert post(head, case, "rectify", verification="查看了监控，确有等候过久",
                rectification="高峰增开一个窗口").status_code == 302
    assert post(head, cases["late"], "appeal", reason="该群众未在本窗口办事").status_code == 302
    assert post(head, case, "close", outcome="resolved", note="已整改").status_code == 302
    db.session.expire_all()
    assert case.status == "closed" and case.contacted_at is not None
    page = head.get(f"/admin/followups/{cases['late'].id}").get_data(as_text=True)
    assert "该群众未在本窗口办事" in page and "待复核" in page


def test_a_supervisor_rules_on_an_appeal_and_reverses_it(app, login, cases):
    head, boss = login("department", OWN), login("supervisor")
    case = cases["late"]
    post(head, case, "appeal", reason="误评")
    appeal_id = db.session.scalar(sa.text("SELECT id FROM appeal"))
    page = boss.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    response = boss.post(f"/admin/followups/appeals/{appeal_id}/rule", data={
        "csrf_token": csrf_token(page), "verdict": "upheld", "note": "核实属实"})
    assert response.status_code == 302
    db.session.expire_all()
    assert case.status == "closed" and case.outcome == "appeal_upheld"
    assert db.session.get(Rating, case.rating_id).counted is False
    page = boss.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    assert "申诉成立" in page and "撤销裁定" in page
    response = boss.post(f"/admin/followups/appeals/{appeal_id}/reverse", data={
        "csrf_token": csrf_token(page), "note": "复查后撤销"})
    assert response.status_code == 302
    db.session.expire_all()
    assert case.status == "in_progress" and db.session.get(Rating, case.rating_id).counted
