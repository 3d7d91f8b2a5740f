"""Questionnaire results (kiosk/survey_results.py): counts, percentages and means
checked against answers counted by hand; filters; the CSV rows; numbers masked."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime

from kiosk import charts, clock, survey_results, surveys
from kiosk.db import db
from kiosk.excel import excel_csv
from kiosk.models import SurveyResponse, Window

from .helpers import make_window

TZ = clock.zone("Asia/Shanghai")

QUESTIONNAIRE = {
    "slug": "hall2026", "title": {"zh": "办事群众满意度问卷", "en": "Citizen survey"},
    "questions": [
        {"id": "q1", "type": "scale", "text": "您对大厅整体服务是否满意？", "required": True},
        {"id": "q2", "type": "single", "text": "您本次办事跑了几次？",
         "options": [{"id": "a", "text": "一次"}, {"id": "b", "text": "两次"},
                     {"id": "c", "text": "三次及以上"}]},
        {"id": "q3", "type": "multi", "text": "您希望改进哪些方面？",
         "options": [{"id": "x", "text": "等候时间"}, {"id": "y", "text": "指引标识"},
                     {"id": "z", "text": "停车"}]},
        {"id": "q4", "type": "text", "text": "其他意见和建议"}]}

# (hall-local tap time, channel, window code, answers): counted by hand below.
ANSWERS = [
    ("2026-11-02 09:00", "qr", "A01", {"q1": 5, "q2": "a", "q3": ["x", "y"], "q4": "很好，窗口热情"}),
    ("2026-11-02 23:59", "qr", "A01", {"q1": 4, "q2": "a", "q3": ["x"]}),
    ("2026-11-03 00:00", "kiosk", "B02", {"q1": 4, "q2": "b", "q4": "停车位太少，电话13812345678"}),
    ("2026-11-05 10:00", "phone", "B02", {"q1": 2, "q2": "c", "q3": ["z", "x"], "q4": "等了一小时"}),
    ("2026-11-06 15:30", "kiosk", None, {"q1": 5, "q3": ["y"]}),
]


def publish_and_answer(answers=ANSWERS):
    make_window("A01", staff_no="S001")
    make_window("B02", "不动产登记窗口", staff_no="S002")
    version = surveys.import_survey(QUESTIONNAIRE)
    codes = {w.code: w.id for w in db.session.query(Window)}
    for local, channel, code, given in answers:
        at = clock.to_utc(datetime.fromisoformat(local), TZ)
        db.session.add(SurveyResponse(
            client_id=uuid.uuid4().hex, version_id=version.id, channel=channel,
            window_id=codes.get(code), answers=given, created_at=at, received_at=at))
    db.session.commit()
    return version


def by_id(doc: dict) -> dict[str, dict]:
    return {q["id"]: q for q in doc["questions"]}


def test_counts_percentages_and_means_match_the_hand_count(app):
    version = publish_and_answer()
    doc = survey_results.results(version, tz=TZ)
    assert doc["slug"] == "hall2026" and doc["version"] == 1 and doc["responses"] == 5
    q = by_id(doc)
    # q1: levels 5, 4, 4, 2, 5 → mean 20 / 5 = 4.0
    assert q["q1"]["answered"] == 5
    assert q["q1"]["counts"] == {"1": 0, "2": 1, "3": 0, "4": 2, "5": 2}
    assert q["q1"]["percent"] == {"1": 0.0, "2": 20.0, "3": 0.0, "4": 40.0, "5": 40.0}
    assert q["q1"]["mean"] == 4.0
    # q2: a, a, b, c (the fifth left it out) → of 4 answered
    assert q["q2"]["answered"] == 4
    assert q["q2"]["counts"] == {"a": 2, "b": 1, "c": 1}
    assert q["q2"]["percent"] == {"a": 50.0, "b": 25.0, "c": 25.0}
    assert "mean" not in q["q2"]
    # q3: [x, y], [x], [z, x], [y] → 4 answered; x 3, y 2, z 1 (shares of respondents)
    assert q["q3"]["answered"] == 4
    assert q["q3"]["counts"] == {"x": 3, "y": 2, "z": 1}
    assert q["q3"]["percent"] == {"x": 75.0, "y": 50.0, "z": 25.0}
    # q4: three texts, newest first, no counts; the typed number masked
    assert q["q4"]["answered"] == 3
    assert "counts" not in q["q4"] and "mean" not in q["q4"]
    assert q["q4"]["texts"] == ["等了一小时", "停车位太少，电话138****5678", "很好，窗口热情"]


def test_a_mean_rounds_half_up_to_two_places(app):
    version = publish_and_answer([
        ("2026-11-02 09:00", "qr", None, {"q1": 5}),
        ("2026-11-02 09:01", "qr", None, {"q1": 4}),
        ("2026-11-02 09:02", "qr", None, {"q1": 4})])
    q1 = by_id(survey_results.results(version, tz=TZ))["q1"]
    assert q1["mean"] == 4.33  # 13 / 3
    assert q1["percent"]["4"] == 66.7 and q1["percent"]["5"] == 33.3


def test_filters_by_channel_window_and_hall_dates(app):
    version = publish_and_answer()
    b02 = db.session.query(Window).filter_by(code="B02").one()
    kiosk = survey_results.results(version, channel="kiosk", tz=TZ)
    assert kiosk["responses"] == 2
    assert by_id(kiosk)["q1"]["counts"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}
    at_b02 = survey_results.results(version, window_id=b02.id, tz=TZ)
    assert at_b02["responses"] == 2
    assert by_id(at_b02)["q2"]["counts"] == {"a": 0, "b": 1, "c": 1}
    # Dates are hall days, both inclusive: 23:59 on the 2nd is the 2nd, 00:00 the 3rd.
    second = survey_results.results(version, first=date(2026, 11, 2), last=date(2026, 11, 2),
                                    tz=TZ)
    assert second["responses"] == 2
    from_third = survey_results.results(version, first=date(2026, 11, 3), tz=TZ)
    assert from_third["responses"] == 3
    nothing = survey_results.results(version, channel="sms", tz=TZ)
    assert nothing["responses"] == 0
    assert by_id(nothing)["q1"]["mean"] is None
    assert by_id(nothing)["q1"]["percent"]["5"] is None


def test_answers_stay_with_their_version(app):
    version = publish_and_answer()
    changed = dict(QUESTIONNAIRE, questions=QUESTIONNAIRE["questions"][:2])
    second = surveys.import_survey(changed)
    db.session.commit()
    assert second.number == 2
    assert survey_results.results(second, tz=TZ)["responses"] == 0
    assert survey_results.results(version, tz=TZ)["responses"] == 5
    assert [q["id"] for q in survey_results.results(second, tz=TZ)["questions"]] == ["q1", "q2"]


def test_text_answers_are_searchable_and_carry_where_they_came_from(app):
    version = publish_and_answer()
    flt = survey_results.ResultFilter()
    total, found = survey_results.text_answers(version, "q4", flt, TZ, search="停车")
    assert total == 1
    assert found[0].text == "停车位太少，电话138****5678"
    assert found[0].channel == "kiosk" and found[0].window == "B02"
    total, found = survey_results.text_answers(version, "q4", flt, TZ)
    assert total == 3 and [a.text for a in found][0] == "等了一小时"
    total, found = survey_results.text_answers(version, "q4", flt, TZ, limit=1)
    assert total == 3 and len(found) == 1
    # The whole number is not searchable either: it never leaves unmasked.
    assert survey_results.text_answers(version, "q4", flt, TZ, search="12345678")[0] == 0


def test_csv_has_one_row_per_response_and_one_column_per_question(app):
    version = publish_and_answer()
    text = excel_csv(survey_results.csv_header(version),
                     survey_results.csv_rows(version, survey_results.ResultFilter(), TZ))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["id", "client_id", "created_at", "channel", "window",
                       "q1", "q2", "q3", "q4"]
    assert len(rows) == 6
    first, third, fifth = rows[1], rows[3], rows[5]
    assert first[2] == "2026-11-02T09:00:00+08:00"
    assert first[3:] == ["qr", "A01", "5", "a", "x;y", "很好，窗口热情"]
    assert third[3:] == ["kiosk", "B02", "4", "b", "", "停车位太少，电话138****5678"]
    assert fifth[3:] == ["kiosk", "", "5", "", "y", ""]
    phone_rows = list(survey_results.csv_rows(
        version, survey_results.ResultFilter(channel="phone"), TZ))
    assert [r[5:] for r in phone_rows] == [[2, "c", "z;x", "等了一小时"]]


def test_a_text_that_looks_like_a_formula_is_defused_in_the_csv(app):
    version = publish_and_answer([("2026-11-02 09:00", "qr", None,
                                   {"q1": 3, "q4": "=HYPERLINK(\"http://x\")"})])
    text = excel_csv(survey_results.csv_header(version),
                     survey_results.csv_rows(version, survey_results.ResultFilter(), TZ))
    row = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1]
    assert row[-1] == "'=HYPERLINK(\"http://x\")"


def test_numbers_typed_in_many_ways_are_masked():
    mask = survey_results.mask_numbers
    assert mask("请打 138 1234 5678 联系") == "请打 138****5678 联系"
    assert mask("座机010-87654321") == "座机010****4321"
    assert mask("+86 13912345678") == "139****5678"
    assert mask("订单号 2026110212345678901") == "订单号 2026110212345678901"
    assert mask("等了 45 分钟") == "等了 45 分钟"


def test_the_answers_chart_is_a_png_with_the_bundled_font(app):
    png = charts.answers_png(["5 非常满意", "4 满意", "3 基本满意", "2 不满意", "1 非常不满意"],
                             [2, 2, 0, 1, 0], 5, [charts.LEVEL_COLOURS[v] for v in (5, 4, 3, 2, 1)])
    assert png.startswith(b"\x89PNG")
    empty = charts.answers_png(["一次", "两次"], [0, 0], 0)
    assert empty.startswith(b"\x89PNG") and empty != png
