"""The follow-up figures (kiosk/casestats.py) where management reads them: the league
and assessment (JSON, CSV, page) and the dashboard."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from kiosk import casestats, clock, league
from kiosk.db import db, utcnow

from ..helpers import make_window
from .test_followups import rate, today

TZ = clock.zone("Asia/Shanghai")
OWN, OTHER = "本股室", "他股室"


@pytest.fixture
def figures(app):
    """At A01: one case on time, one overdue, one contacted late, one still within
    its deadlines; at A02 one closed by an upheld appeal (not counted)."""
    make_window("A01", "综合受理窗口", OWN, "S001", "钱本人")
    make_window("A02", "企业开办窗口", OTHER, "S002", "孙其他")
    on_time, overdue, late = (rate(app, "A01", score, phone) for score, phone in
                              ((1, "13800138000"), (2, "13800138001"), (1, "13800138002")))
    pending = rate(app, "A01", 1)  # verify, not yet due
    upheld = rate(app, "A02", 1, "13800138003")
    now, day = utcnow(), today()
    on_time.contact_due, on_time.resolve_due = day, day + timedelta(days=10)
    on_time.contacted_at, on_time.status = now, "closed"
    on_time.closed_at, on_time.outcome = now, "resolved"
    overdue.contact_due, overdue.resolve_due = day - timedelta(days=1), day + timedelta(days=10)
    late.contact_due, late.resolve_due = day - timedelta(days=1), day + timedelta(days=10)
    late.contacted_at, late.status = now, "in_progress"
    pending.contact_due, pending.resolve_due = day + timedelta(days=1), day + timedelta(days=10)
    upheld.contact_due = upheld.resolve_due = day - timedelta(days=3)
    upheld.status, upheld.outcome, upheld.closed_at = "closed", "appeal_upheld", now
    db.session.commit()
    return {"overdue": overdue}


def week_label() -> str:
    return league.period_of("week", league.hall_today(TZ)).label


EXPECTED_A01 = {"callback_rate": 66.7, "on_time_rate": 33.3, "overdue": 1}


def test_the_report_counts_rates_per_window_department_and_overall(app, figures):
    start, end = league.period_of("week", today()).utc_range(TZ)
    report = casestats.report(db.session, start, end, today(), TZ)
    a01 = figures["overdue"].window_id
    stats = report.window(a01)
    assert (stats.cases, stats.callback_cases, stats.called_back) == (4, 3, 2)
    assert (stats.on_time, stats.late, stats.overdue) == (1, 2, 1)
    assert {k: stats.as_dict()[k] for k in EXPECTED_A01} == EXPECTED_A01
    assert report.overall.cases == 4  # the upheld appeal's case left the figures
    assert report.department(figures["overdue"].window.department_id).cases == 4
    staff_id = figures["overdue"].rating.staff_id
    assert report.staff(staff_id).overdue == 1


def test_nothing_to_divide_gives_no_rate():
    assert casestats.CaseStats().callback_rate is None
    assert casestats.CaseStats().on_time_rate is None


def test_the_league_json_and_csv_carry_the_rates(login, figures):
    client = login("supervisor")
    data = client.get(f"/admin/league.json?week={week_label()}").get_json()
    row = next(r for r in data["rows"] if r["window"] == "A01")
    assert {k: row[k] for k in EXPECTED_A01} == EXPECTED_A01
    other = next(r for r in data["rows"] if r["window"] == "A02")
    assert (other["callback_rate"], other["on_time_rate"], other["overdue"]) == (None, None, 0)
    assert data["followups"]["overdue"] == 1 and data["followups"]["cases"] == 4
    text = client.get(f"/admin/league.csv?week={week_label()}").data.decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    a01 = next(r for r in table if r["window"] == "A01")
    assert (a01["callback_rate"], a01["on_time_rate"], a01["overdue"]) == ("66.7", "33.3", "1")
    month = league.period_of("month", today()).label
    data = client.get(f"/admin/assessment.json?month={month}").get_json()
    row = next(r for r in data["rows"] if r["window"] == "A01")
    assert {k: row[k] for k in EXPECTED_A01} == EXPECTED_A01


def test_the_league_page_shows_the_rates_and_the_overdue_stands_out(login, figures):
    page = login("supervisor").get(f"/admin/league?week={week_label()}").get_data(as_text=True)
    assert "回访率" in page and "按时率" in page and "66.7%" in page and "33.3%" in page
    assert '<span class="badge overdue-count">1</span>' in page
    assert "逾期 1 件" in page


def test_a_department_head_sees_their_own_rates_only(login, figures):
    data = login("department", OTHER).get(
        f"/admin/league.json?week={week_label()}").get_json()
    assert [r["window"] for r in data["rows"]] == ["A02"]
    assert data["followups"]["cases"] == 0


def test_the_dashboard_shows_open_and_overdue_cases(login, figures):
    page = login("supervisor").get("/admin/").get_data(as_text=True)
    assert "回访整改" in page and "stat-overdue" in page
    assert "已逾期" in page and "66.7%" in page


def test_a_department_head_sees_their_own_open_cases_first(login, figures):
    page = login("department", OWN).get("/admin/").get_data(as_text=True)
    assert "本股室待办回访件" in page
    assert page.index("本股室待办回访件") < page.index("本周数字")
    assert page.count("/admin/followups/") >= 3  # the three open cases of A01
    other = login("department", OTHER).get("/admin/").get_data(as_text=True)
    assert "没有待办的回访件" in other



def test_the_dashboard_ranks_departments_by_overdue_cases(login, figures):
    page = login("supervisor").get("/admin/").get_data(as_text=True)
    table = page[page.index("followup-departments"):]
    table = table[:table.index("</table>")]
    # 本股室 has the overdue case (first, marked); 他股室's only case left on appeal.
    assert OWN in table and OTHER not in table
    assert "overdue-badge" in table and "66.7%" in table
    own = login("department", OWN).get("/admin/").get_data(as_text=True)
    assert "followup-departments" not in own
