"""The monthly bulletin (月度通报): the PDF's text holds the figures the pages show."""
from __future__ import annotations

import re
import subprocess
import uuid
from datetime import datetime, timedelta

import pytest

from kiosk import clock
from kiosk.db import db
from kiosk.models import Suggestion

from .helpers import make_window

TZ = clock.zone("Asia/Shanghai")
LONG_AGO = datetime(2025, 1, 1)


def rate(app, code: str, score: int, local: datetime, times: int = 1, **more) -> None:
    tapped = clock.to_utc(local, TZ)
    for _ in range(times):
        app.extensions["kiosk.intake"].accept(
            {"window": code, "score": score, "channel": "qr",
             "client_id": uuid.uuid4().hex, "created_at": tapped.isoformat() + "Z", **more},
            now=tapped + timedelta(minutes=1))


def pdf_text(pdf: bytes) -> str:
    """The PDF's text as poppler reads it (tests/run.sh installs poppler-utils)."""
    assert pdf.startswith(b"%PDF-")
    done = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True, timeout=60)
    return done.stdout.decode()


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    done = subprocess.run(["pdfinfo", "-f", "1", "-l", "99", "-"], input=pdf,
                          capture_output=True, check=True, timeout=60)
    return [(float(w), float(h)) for w, h in
            re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", done.stdout.decode())]


@pytest.fixture
def hall(app):
    """Five windows rated in October and November 2026; bad ratings with reasons and
    numbers (call backs), one of them called back."""
    for code, name, dept, staff_no, clerk in (
            ("A01", "综合受理窗口", "税务", "S001", "张丽"),
            ("A02", "发票窗口", "税务", "S002", "王强"),
            ("B01", "社保窗口", "社保", "S003", "李娜"),
            ("B02", "医保窗口", "社保", "S004", "赵敏"),
            ("C01", "不动产窗口", "不动产", "S005", "陈静")):
        make_window(code, name=name, dept=dept, staff_no=staff_no, staff_name=clerk,
                    on_duty_since=LONG_AGO)
    rate(app, "A01", 5, datetime(2026, 10, 14, 10, 0), times=3)  # October
    rate(app, "B01", 2, datetime(2026, 10, 15, 10, 0), reasons=["attitude"])
    rate(app, "A02", 5, datetime(2026, 11, 3, 9, 30), times=6)   # November
    rate(app, "A01", 4, datetime(2026, 11, 4, 10, 0), times=5)
    rate(app, "B01", 3, datetime(2026, 11, 5, 14, 0), times=2)
    rate(app, "B02", 5, datetime(2026, 11, 9, 11, 0), times=2)
    rate(app, "C01", 1, datetime(2026, 11, 10, 15, 0), times=2,
         reasons=["waiting", "efficiency"], phone="13800138000")
    rate(app, "C01", 2, datetime(2026, 11, 11, 15, 0), reasons=["waiting"])
    rate(app, "C01", 5, datetime(2026, 11, 12, 16, 0))
    db.session.add_all([
        Suggestion(text="希望增加停车位", created_at=clock.to_utc(datetime(2026, 11, 6, 9), TZ)),
        Suggestion(text="叫号屏字太小", created_at=clock.to_utc(datetime(2026, 11, 20, 9), TZ),
                   handled_at=clock.to_utc(datetime(2026, 11, 21, 9), TZ), reply="已调整"),
        Suggestion(text="十月的建议", created_at=clock.to_utc(datetime(2026, 10, 20, 9), TZ))])
    db.session.commit()
    return app


def test_the_pdf_holds_the_months_figures_as_the_json_endpoints_give_them(hall, login):
    client = login("supervisor")
    month = client.get("/admin/assessment.json?month=2026-11").get_json()
    before = client.get("/admin/assessment.json?month=2026-10").get_json()
    response = client.get("/admin/reports/bulletin.pdf?month=2026-11")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "bulletin-2026-11.pdf" in response.headers["Content-Disposition"]
    pdf = response.get_data()
    assert page_sizes(pdf) and all(round(w) == 595 and round(h) == 842
                                   for w, h in page_sizes(pdf))  # A4
    text = pdf_text(pdf)

    ratings = sum(row["ratings"] for row in month["rows"])
    top = month["rows"][0]
    assert ratings == 19 and top["rank"] == 1
    assert f"共收到有效评价 {ratings} 条" in text
    assert f"满意度 {month['mean_satisfaction']:.1f}" in text
    assert f"本月排名第一的窗口：{top['window']} {top['name']}" in text
    assert (f"上月（2026年10月）有效评价 {sum(r['ratings'] for r in before['rows'])} 条，"
            f"满意度 {before['mean_satisfaction']:.1f}") in text
    # the league's marks: one 红旗窗口 and one 后进窗口 of five ranked windows
    red = [r for r in month["rows"] if r["mark"] == "red_flag"]
    laggard = [r for r in month["rows"] if r["mark"] == "laggard"]
    assert len(red) == len(laggard) == 1
    assert f"红旗窗口：{red[0]['window']} {red[0]['name']}；" in text
    assert f"后进窗口：{laggard[0]['window']} {laggard[0]['name']}。" in text
    # the follow-up rates of the assessment
    rate_text = month["followups"]["callback_rate"]
    assert month["followups"]["callback_cases"] == 2
    assert f"本月差评回访率 {rate_text:.1f}%" in text
    # every window row and every clerk is in the tables
    for row in month["rows"]:
        assert row["name"] in text
    staff = client.get("/admin/assessment.json?month=2026-11&by=staff").get_json()
    for row in staff["rows"]:
        assert row["staff"] in text and row["staff_no"] in text


def test_the_pdf_has_reasons_suggestions_and_charts(hall, login):
    pdf = login("supervisor").get("/admin/reports/bulletin.pdf?month=2026-11").get_data()
    text = pdf_text(pdf)
    # waiting given twice by C01's 非常不满意 and once by its 不满意: 3 of 3 bad ratings
    assert "群众反映最多的是“等候时间长”（3 次）" in text
    assert "本月收到意见建议 2 条，已处理 1 条（处理率 50.0%），未处理 1 条" in text
    assert "本月无申诉复核" in text
    assert "四、满意度趋势与评价时段分布" in text
    images = subprocess.run(["pdfimages", "-list", "-"], input=pdf, capture_output=True,
                            check=True, timeout=60).stdout.decode().splitlines()[2:]
    pictures = sorted((int(cols[3]), int(cols[4])) for cols in map(str.split, images)
                      if cols[2] == "image")
    assert pictures == [(900, 360), (1200, 380)]  # the trend and the heatmap


def test_cli_writes_the_pdf(hall, runner, tmp_path):
    out = tmp_path / "bulletin.pdf"
    result = runner.invoke(args=["report", "--month", "2026-11", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = pdf_text(out.read_bytes())
    assert "2026年11月" in text and "共收到有效评价 19 条" in text


def test_cli_refuses_a_bad_month(hall, runner, tmp_path):
    out = tmp_path / "bulletin.pdf"
    result = runner.invoke(args=["report", "--month", "2026-13", "--out", str(out)])
    assert result.exit_code != 0
    assert "月份应为 01–12" in result.output
    assert not out.exists()


def test_a_month_without_ratings_still_makes_a_bulletin(hall, runner, tmp_path):
    out = tmp_path / "empty.pdf"
    result = runner.invoke(args=["report", "--month", "2025-02", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = pdf_text(out.read_bytes())
    assert "共收到有效评价 0 条" in text and "本月无差评" in text


def test_the_admin_page_and_who_may_download(hall, login):
    supervisor = login("supervisor")
    page = supervisor.get("/admin/reports?month=2026-11").get_data(as_text=True)
    assert 'value="2026-11"' in page and "/admin/reports/bulletin.pdf?month=2026-10" in page
    bad = supervisor.get("/admin/reports/bulletin.pdf?month=2026-13")
    assert bad.status_code == 400 and "月份" in bad.get_json()["error"]
    assert supervisor.get("/admin/reports?month=junk").status_code == 400
    head = login("department", department="税务")
    assert head.get("/admin/reports/bulletin.pdf?month=2026-11").status_code == 403
    assert login("caller").get("/admin/reports").status_code == 403


SURVEY = {"slug": "2026q4", "title": "2026年第四季度办事群众满意度问卷",
          "starts": "2026-10-01", "ends": "2026-12-31",
          "questions": [
              {"id": "q1", "type": "scale", "text": "您对大厅整体服务是否满意？", "required": True},
              {"id": "q2", "type": "single", "text": "您本次办事跑了几次？",
               "options": [{"id": "a", "text": "一次"}, {"id": "b", "text": "两次"},
                           {"id": "c", "text": "三次及以上"}]},
              {"id": "q4", "type": "text", "text": "其他意见和建议"}]}


def test_questionnaire_highlights_are_the_results_pages_numbers(hall, login):
    from datetime import date

    from kiosk import survey_results, surveys

    version = surveys.import_survey(SURVEY)
    db.session.commit()
    answers = [({"q1": 5, "q2": "a"}, datetime(2026, 11, 10, 10)),
               ({"q1": 4, "q2": "a", "q4": "大厅空调太冷，请联系 13812345678"},
                datetime(2026, 11, 12, 10)),
               ({"q1": 2, "q2": "c"}, datetime(2026, 11, 13, 10)),
               ({"q1": 1, "q2": "b"}, datetime(2026, 10, 13, 10))]  # October: not counted
    for given, local in answers:
        tapped = clock.to_utc(local, TZ)
        surveys.submit("2026q4", {"client_id": uuid.uuid4().hex, "answers": given,
                                  "channel": "kiosk", "created_at": tapped.isoformat() + "Z"},
                       respondent=None, now=tapped + timedelta(minutes=1),
                       today=local.date())
    db.session.commit()
    expected = survey_results.results(version, first=date(2026, 11, 1),
                                      last=date(2026, 11, 30), tz=TZ)
    q1, q2, _ = expected["questions"]
    assert expected["responses"] == 3 and q1["mean"] == 3.67
    text = pdf_text(login("supervisor").get("/admin/reports/bulletin.pdf?month=2026-11")
                    .get_data())
    assert "《2026年第四季度办事群众满意度问卷》（第 1 版）：本月答卷 3 份" in text
    assert f"您对大厅整体服务是否满意？：3 人作答，平均 {q1['mean']:.2f} 分" in text
    assert f"选择最多：一次 2 人（{q2['percent']['a']:.1f}%）" in text
    assert "大厅空调太冷" in text and "13812345678" not in text  # numbers masked
