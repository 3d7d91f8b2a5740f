"""Questionnaires (kiosk/surveys.py, kiosk/survey_views.py): definitions, versions,
the public page and POST /api/surveys/<slug>/responses, the QR poster, the
invitations on the rating pages, and ``kiosk import-survey``."""
from __future__ import annotations

import copy
import io
import json
import re
import shutil
import subprocess
import uuid
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from kiosk import clock, surveys
from kiosk.db import db, utcnow
from kiosk.models import FollowupCase, Rating, Survey, SurveyResponse, SurveyVersion
from kiosk.ratings import RATER_COOKIE

from .helpers import make_user, make_window, pair_device

SLUG = "2026q4"


def questionnaire(**changes) -> dict:
    """CONTRACT.md's example questionnaire, open all year round the test's today."""
    data = {
        "slug": SLUG, "title": {"zh": "2026年第四季度办事群众满意度问卷",
                                "en": "Citizen satisfaction, Q4 2026"},
        "intro": "问卷匿名填写，约一分钟。",
        "questions": [
            {"id": "q1", "type": "scale", "text": "您对大厅整体服务是否满意？", "required": True},
            {"id": "q2", "type": "single", "text": {"zh": "您本次办事跑了几次？",
                                                    "en": "How many trips?"},
             "options": [{"id": "a", "text": "一次"}, {"id": "b", "text": "两次"},
                         {"id": "c", "text": {"zh": "三次及以上", "en": "Three or more"}}]},
            {"id": "q3", "type": "multi", "text": "您希望改进哪些方面？", "required": True,
             "options": [{"id": "a", "text": "等候时间"}, {"id": "b", "text": "办事指引"},
                         {"id": "c", "text": "服务态度"}]},
            {"id": "q4", "type": "text", "text": "其他意见和建议"},
        ],
    }
    data.update(changes)
    return data


def publish_file(data: dict | None = None) -> SurveyVersion:
    version = surveys.import_survey(data or questionnaire())
    db.session.commit()
    return version


def body(**changes) -> dict:
    out = {"client_id": uuid.uuid4().hex, "channel": "qr",
           "answers": {"q1": 4, "q2": "a", "q3": ["a", "c"], "q4": "希望多设自助机"}}
    out.update(changes)
    return out


def post(client, payload, slug: str = SLUG):
    return client.post(f"/api/surveys/{slug}/responses", json=payload)


def phone(app):
    """A citizen's phone: a client that has opened the questionnaire page (and so
    carries its first-party cookie)."""
    client = app.test_client()
    assert client.get(f"/s/{SLUG}").status_code == 200
    assert client.get_cookie(RATER_COOKIE) is not None
    return client


def stored() -> list[SurveyResponse]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(SurveyResponse).order_by(SurveyResponse.id)))


def page_config(html: str) -> dict:
    match = re.search(r'<script id="config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no config block on the page"
    return json.loads(match.group(1))


def hall_today(app) -> date:
    return clock.to_local(utcnow(), clock.zone(app.config["TIMEZONE"])).date()


# --- the definition ---------------------------------------------------------------

def test_a_definition_is_normalised_and_parsing_it_again_changes_nothing():
    parsed = surveys.parse_definition(questionnaire(starts="2026-10-01", ends="2026-12-31"))
    assert parsed["title"] == {"zh": "2026年第四季度办事群众满意度问卷",
                               "en": "Citizen satisfaction, Q4 2026"}
    assert parsed["intro"] == {"zh": "问卷匿名填写，约一分钟。"}
    q1, q2, q3, q4 = parsed["questions"]
    assert (q1["required"], q2["required"], q3["required"], q4["required"]) == \
        (True, False, True, False)
    assert q1["text"] == {"zh": "您对大厅整体服务是否满意？"}
    assert [o["id"] for o in q2["options"]] == ["a", "b", "c"]  # kept in order
    assert q2["options"][2]["text"] == {"zh": "三次及以上", "en": "Three or more"}
    assert "options" not in q1 and "options" not in q4
    assert (parsed["starts"], parsed["ends"]) == ("2026-10-01", "2026-12-31")
    assert surveys.parse_definition(parsed) == parsed
    assert surveys.question_text(q2, "en") == "How many trips?"
    assert surveys.question_text(q1, "en") == "您对大厅整体服务是否满意？"  # no English: Chinese
    assert surveys.option_text(q2["options"][0], "zh") == "一次"


def _question(n: int, **changes) -> dict:
    data = questionnaire()
    data["questions"][n].update(changes)
    return data


@pytest.mark.parametrize("data, question, words", [
    (_question(0, type="ranking"), "q1", "类型"),
    (_question(1, options=[{"id": "a", "text": "一次"}]), "q2", "两个选项"),
    (_question(1, options=[{"id": "a", "text": "一次"}, {"id": "a", "text": "两次"}]), "q2",
     "重复"),
    (_question(1, options=[{"id": "a", "text": "一次"}, {"id": "b", "text": ""}]), "q2",
     "选项 b"),
    (_question(0, options=[{"id": "a", "text": "x"}, {"id": "b", "text": "y"}]), "q1",
     "不能有选项"),
    (_question(0, text={"en": "Satisfied?"}), "q1", "缺少中文"),
    (_question(0, required="yes"), "q1", "required"),
    (_question(3, id="q1"), "q1", "重复"),
    (_question(3, id="第四题"), None, "编号"),
    (questionnaire(slug="Q4 2026"), None, "slug"),
    (questionnaire(title=""), None, "标题"),
    (questionnaire(questions=[]), None, "至少"),
    (questionnaire(starts="2026-12-01", ends="2026-11-01"), None, "早于"),
    (questionnaire(starts="2026-13-01"), None, "日期"),
])
def test_a_bad_definition_is_refused_naming_what_is_wrong(data, question, words):
    with pytest.raises(surveys.SurveyError) as caught:
        surveys.parse_definition(data)
    assert caught.value.question == question
    assert words in caught.value.message


# --- versions ---------------------------------------------------------------------

def test_editing_after_publishing_makes_a_new_version_and_answers_keep_theirs(app, client):
    make_window("A01")
    first = publish_file()
    assert first.number == 1
    survey = db.session.scalar(sa.select(Survey).where(Survey.slug == SLUG))
    assert survey.current_version == 1 and survey.draft is None
    assert post(client, body(window="A01")).status_code == 201

    # The admin rewords q2 and adds an option: a new version; version 1 is untouched.
    edited = questionnaire()
    edited["questions"][1]["text"] = "您本次办事一共来了几次大厅？"
    edited["questions"][1]["options"].append({"id": "d", "text": "第一次来"})
    survey.draft = edited
    second = surveys.publish(survey, edited, actor=make_user("boss", "admin"))
    db.session.commit()
    assert second.number == 2 and survey.current_version == 2 and survey.draft is None
    assert second.published_by_id is not None
    db.session.refresh(first)
    assert first.definition["questions"][1]["text"] == {"zh": "您本次办事跑了几次？",
                                                       "en": "How many trips?"}
    assert len(first.definition["questions"][1]["options"]) == 3

    page = client.get(f"/s/{SLUG}").get_data(as_text=True)
    assert "您本次办事一共来了几次大厅？" in page and page_config(page)["version"] == 2
    assert post(client, body(answers={"q1": 5, "q2": "d", "q3": ["b"]})).status_code == 201
    # A page loaded before the edit still sends its answers to version 1: they keep it.
    late = post(client, body(version=1, answers={"q1": 3, "q3": ["a"]}))
    assert late.status_code == 201
    # ...and are checked against version 1's questions (it has no option d).
    refused = post(client, body(version=1, answers={"q1": 3, "q2": "d", "q3": ["a"]}))
    assert refused.status_code == 400 and refused.get_json()["question"] == "q2"

    rows = stored()
    assert [r.version.number for r in rows] == [1, 2, 1]
    assert rows[0].answers == {"q1": 4, "q2": "a", "q3": ["a", "c"], "q4": "希望多设自助机"}
    assert rows[0].window.code == "A01"
    assert rows[1].answers == {"q1": 5, "q2": "d", "q3": ["b"]}


def test_publishing_the_same_content_again_makes_no_new_version(app, runner, tmp_path):
    publish_file()
    survey = surveys.by_slug(SLUG)
    again = surveys.publish(survey, surveys.content(surveys.parse_definition(questionnaire())))
    assert again.number == 1
    # A new period alone is no new wording: the file re-imported keeps version 1.
    assert publish_file(questionnaire(ends="2099-12-31")).number == 1
    assert surveys.by_slug(SLUG).ends == date(2099, 12, 31)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyVersion)) == 1


# --- answers: every type validated ------------------------------------------------

@pytest.mark.parametrize("answers, question", [
    ({"q1": 0, "q3": ["a"]}, "q1"),
    ({"q1": 6, "q3": ["a"]}, "q1"),
    ({"q1": "4", "q3": ["a"]}, "q1"),
    ({"q1": 4.5, "q3": ["a"]}, "q1"),
    ({"q1": True, "q3": ["a"]}, "q1"),
    ({"q3": ["a"]}, "q1"),                         # a required answer missing
    ({"q1": 4, "q2": "z", "q3": ["a"]}, "q2"),     # an unknown option
    ({"q1": 4, "q2": ["a"], "q3": ["a"]}, "q2"),   # a list for a single choice
    ({"q1": 4, "q3": "a"}, "q3"),                  # one value for a multiple choice
    ({"q1": 4, "q3": ["a", "z"]}, "q3"),
    ({"q1": 4, "q3": []}, "q3"),                   # required: an empty list is no answer
    ({"q1": 4, "q3": ["a"], "q4": "字" * 1001}, "q4"),
    ({"q1": 4, "q3": ["a"], "q4": 12}, "q4"),
    ({"q1": 4, "q3": ["a"], "q9": "?"}, "q9"),     # no such question
])
def test_an_answer_that_does_not_fit_its_question_is_refused_naming_it(
        app, client, answers, question):
    publish_file()
    resp = post(client, body(answers=answers))
    assert resp.status_code == 400
    assert resp.get_json()["question"] == question
    assert resp.get_json()["error"]
    assert stored() == []  # nothing half-stored


def test_answers_are_stored_cleaned(app, client):
    publish_file()
    resp = post(client, body(answers={"q1": 1, "q2": None, "q3": ["c", "a", "c"],
                                      "q4": "  "}))
    assert resp.status_code == 201
    (row,) = stored()
    # Unanswered questions are left out; several choices in the options' order.
    assert row.answers == {"q1": 1, "q3": ["a", "c"]}
    assert resp.get_json() == {"id": row.id, "client_id": row.client_id}
    assert surveys.validate_answers(row.version.definition, {"q1": 5, "q3": ["b"],
                                                             "q4": "字" * 1000})["q4"] == "字" * 1000


@pytest.mark.parametrize("payload, status", [
    ({"channel": "qr", "answers": {"q1": 3, "q3": ["a"]}}, 400),                # no client_id
    ({"client_id": "short", "channel": "qr", "answers": {"q1": 3, "q3": ["a"]}}, 400),
    ({"client_id": "abcdefgh12", "answers": {"q1": 3, "q3": ["a"]}}, 400),      # no channel
    ({"client_id": "abcdefgh12", "channel": "fax", "answers": {"q1": 3, "q3": ["a"]}}, 400),
    ({"client_id": "abcdefgh12", "channel": "qr", "answers": [3]}, 400),
    ({"client_id": "abcdefgh12", "channel": "qr", "window": "Z99",
      "answers": {"q1": 3, "q3": ["a"]}}, 404),
    ({"client_id": "abcdefgh12", "channel": "qr", "created_at": "yesterday",
      "answers": {"q1": 3, "q3": ["a"]}}, 400),
    ({"client_id": "abcdefgh12", "channel": "qr", "answers": {"q1": 3, "q3": ["a"]},
      "created_at": (datetime.now().astimezone() + timedelta(hours=1)).isoformat()}, 400),
    ({"client_id": "abcdefgh12", "channel": "qr", "answers": {"q1": 3, "q3": ["a"]},
      "created_at": (datetime.now().astimezone() - timedelta(days=31)).isoformat()}, 400),
    # The caller's phone survey is taken in the back office, never posted here.
    ({"client_id": "abcdefgh12", "channel": "phone", "answers": {"q1": 3, "q3": ["a"]}}, 400),
])
def test_a_bad_body_gets_a_readable_error_and_stores_nothing(app, client, payload, status):
    publish_file()
    resp = post(client, payload)
    assert resp.status_code == status
    assert resp.get_json()["error"]
    assert stored() == []


def test_not_json_too_large_and_unknown_slug(app, client):
    publish_file()
    url = f"/api/surveys/{SLUG}/responses"
    resp = client.post(url, data="q1=4", content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 415 and resp.get_json()["error"]
    resp = client.post(url, data="{not json", content_type="application/json")
    assert resp.status_code == 400 and resp.get_json()["error"]
    resp = post(client, body(answers={"q1": 4, "q3": ["a"], "q4": "x" * 20000}))
    assert resp.status_code == 413 and resp.get_json()["error"]
    resp = post(client, body(), slug="nope")
    assert resp.status_code == 404 and resp.get_json()["error"]
    assert stored() == []


def test_the_tap_time_is_kept(app, client):
    publish_file()
    tapped = utcnow().replace(microsecond=0) - timedelta(hours=3)
    resp = post(client, body(created_at=tapped.isoformat() + "Z"))
    assert resp.status_code == 201
    (row,) = stored()
    assert row.created_at == tapped and row.received_at > tapped


# --- replays and one response per phone per version -------------------------------

def test_a_replayed_response_is_stored_once(app, client):
    publish_file()
    first = body()
    one = post(client, first)
    assert one.status_code == 201
    again = post(client, first)  # the queue sent it again (its answer was lost)
    assert again.status_code == 200 and again.get_json() == one.get_json()
    # Even a replay that no longer fits (the questionnaire changed since) is the same one.
    changed = dict(first, answers={"q1": 9})
    assert post(client, changed).get_json() == one.get_json()
    assert len(stored()) == 1


def test_one_response_per_phone_per_version(app):
    publish_file()
    mine, neighbour = phone(app), phone(app)  # one hall Wi-Fi: the same address
    assert post(mine, body()).status_code == 201
    second = post(mine, body(answers={"q1": 1, "q3": ["b"]}))
    assert second.status_code == 409 and second.get_json()["error"]
    assert post(neighbour, body()).status_code == 201  # never refused for its address
    assert len(stored()) == 2

    # The page tells a phone that has answered so.
    assert page_config(mine.get(f"/s/{SLUG}").get_data(as_text=True))["answered"] is True
    assert page_config(phone(app).get(f"/s/{SLUG}").get_data(as_text=True))["answered"] is False

    # A new version may be answered again by the same phone.
    publish_file(questionnaire(title="2026年第四季度问卷（修订）"))
    assert post(mine, body()).status_code == 201
    rows = stored()
    assert [r.version.number for r in rows] == [1, 1, 2]
    # What is kept is a hash, never the cookie itself, and not the same across versions.
    cookie = mine.get_cookie(RATER_COOKIE).value
    assert cookie not in {r.respondent for r in rows}
    assert rows[0].respondent != rows[2].respondent


def test_a_kiosk_tablet_takes_many_citizens_answers_but_only_when_paired(app, client):
    make_window("A01")
    publish_file()
    kiosk_body = body(channel="kiosk", window="A01")
    resp = post(client, kiosk_body)
    assert resp.status_code == 403 and resp.get_json()["error"]
    pair_device("A01", client=client)
    client.get(f"/s/{SLUG}")  # the tablet has a rater cookie too: it must not count
    assert post(client, kiosk_body).status_code == 201
    assert post(client, body(channel="kiosk", window="A01")).status_code == 201
    rows = stored()
    assert [(r.channel, r.respondent) for r in rows] == [("kiosk", None), ("kiosk", None)]


def test_a_phone_survey_carries_the_case_and_the_caller(app):
    make_window("A01")
    publish_file()
    caller = make_user("caller1", "caller")
    window_id = db.session.scalar(sa.text("SELECT id FROM service_window WHERE code='A01'"))
    now = utcnow()
    rating = Rating(client_id=uuid.uuid4().hex, window_id=window_id, score=1, channel="qr",
                    reasons="", created_at=now, received_at=now, phone="sealed:x")
    db.session.add(rating)
    db.session.flush()
    case = FollowupCase(rating_id=rating.id, window_id=window_id, rated_at=now,
                        kind="callback", status="open", contact_due=now.date(),
                        resolve_due=now.date() + timedelta(days=21), opened_at=now)
    db.session.add(case)
    db.session.commit()
    payload = body(channel="phone", window="A01")
    response, created = surveys.submit(SLUG, payload, respondent=None, now=utcnow(),
                                       today=hall_today(app), user=caller, case=case)
    db.session.commit()
    assert created
    assert (response.channel, response.case_id, response.taken_by_id, response.respondent) \
        == ("phone", case.id, caller.id, None)
    again, created = surveys.submit(SLUG, payload, respondent=None, now=utcnow(),
                                    today=hall_today(app), user=caller, case=case)
    assert not created and again.id == response.id


def test_a_race_lost_to_another_server_returns_the_stored_response(app, monkeypatch):
    publish_file()
    first = body()
    stored_first, _ = surveys.submit(SLUG, first, respondent=None, now=utcnow(),
                                     today=hall_today(app))
    db.session.commit()
    # The other server's insert lands between our look-up and our insert: the unique
    # constraint decides, and the answer is the stored response, not an error.
    real = surveys._by_client_id
    calls = iter([None])
    monkeypatch.setattr(surveys, "_by_client_id", lambda cid: next(calls, real(cid)))
    again, created = surveys.submit(SLUG, first, respondent=None, now=utcnow(),
                                    today=hall_today(app))
    assert not created and again.id == stored_first.id
    assert len(stored()) == 1


# --- the period ---------------------------------------------------------------------

def test_outside_its_period_a_questionnaire_is_not_found(app, client):
    today = hall_today(app)
    publish_file(questionnaire(starts=(today + timedelta(days=1)).isoformat()))
    page = client.get(f"/s/{SLUG}")
    assert page.status_code == 404 and "不在填写期内" in page.get_data(as_text=True)
    assert post(client, body()).status_code == 404
    assert surveys.current(SLUG, today) is None
    assert surveys.current(SLUG, today + timedelta(days=1)).number == 1
    assert client.get("/s/nope").status_code == 404
    assert stored() == []


def test_answers_given_on_its_last_day_still_count_when_they_arrive_later(app, client):
    today = hall_today(app)
    yesterday = today - timedelta(days=1)
    publish_file(questionnaire(ends=yesterday.isoformat()))
    assert client.get(f"/s/{SLUG}").status_code == 404
    assert post(client, body()).status_code == 404  # answered today: closed
    tapped = clock.to_utc(datetime.combine(yesterday, datetime.min.time())
                          + timedelta(hours=17), clock.zone(app.config["TIMEZONE"]))
    queued = body(created_at=tapped.isoformat() + "Z")  # queued offline at 17:00
    assert post(client, queued).status_code == 201


# --- where it is offered -----------------------------------------------------------

def test_invitations_on_the_qr_thank_you_screen_and_the_kiosk_button(app, client):
    make_window("A01")
    publish_file(questionnaire(offered=["qr"]))
    qr_page = client.get("/q/A01").get_data(as_text=True)
    assert 'class="survey-invite" href="/s/2026q4?window=A01"' in qr_page
    assert "2026年第四季度办事群众满意度问卷" in qr_page
    pair_device("A01", client=client)
    kiosk_page = client.get("/k/A01").get_data(as_text=True)
    assert "survey-link" not in kiosk_page  # not offered on the kiosk

    publish_file(questionnaire(offered=["kiosk"]))
    assert "survey-invite" not in client.get("/q/A01").get_data(as_text=True)
    kiosk_page = client.get("/k/A01").get_data(as_text=True)
    assert 'href="/s/2026q4?window=A01&amp;from=kiosk"' in kiosk_page
    assert [s.slug for s in surveys.offered(hall_today(app), "kiosk")] == [SLUG]
    assert surveys.offered(hall_today(app), "qr") == []

    # Opened from the paired tablet, the page answers as the kiosk and comes back.
    cfg = page_config(client.get("/s/2026q4?window=A01&from=kiosk").get_data(as_text=True))
    assert (cfg["channel"], cfg["window"], cfg["urls"]["back"]) == ("kiosk", "A01", "/k/A01")
    # Opened by a phone claiming to be the kiosk, it stays a phone's page.
    cfg = page_config(app.test_client().get("/s/2026q4?window=A01&from=kiosk")
                      .get_data(as_text=True))
    assert (cfg["channel"], cfg["urls"]["back"]) == ("qr", None)

    ended = questionnaire(offered=["kiosk", "qr"],
                          ends=(hall_today(app) - timedelta(days=1)).isoformat())
    publish_file(ended)
    assert "survey-link" not in client.get("/k/A01").get_data(as_text=True)
    assert surveys.offered(hall_today(app), "qr") == []


def test_the_page_is_chinese_first_with_english_and_obeys_the_csp(app, client):
    publish_file()
    resp = client.get(f"/s/{SLUG}?window=A01")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and '<html lang="zh-CN">' in html
    assert "开始答题" in html and "2026年第四季度办事群众满意度问卷" in html
    assert 'data-en="Citizen satisfaction, Q4 2026"' in html
    assert "style=" not in html  # the policy forbids inline style
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in s or 'type="application/json"' in s for s in scripts)
    cfg = page_config(html)
    assert cfg["strings"]["en"]["start"] == "Start" and cfg["window"] == "A01"
    assert cfg["channel"] == "qr" and cfg["urls"]["responses"] == f"/api/surveys/{SLUG}/responses"
    assert "Content-Security-Policy" in resp.headers


def test_the_page_can_open_in_english(app, client):
    publish_file()
    # (the first request of a test: the app context caches the locale it picks)
    assert page_config(client.get(f"/s/{SLUG}?lang=en").get_data(as_text=True))["lang"] == "en"


def test_the_service_worker_keeps_the_questionnaire_pages_for_offline(app, client):
    js = client.get("/sw.js").get_data(as_text=True)
    assert '"/s/"' in js
    assert "kiosk/survey.js" in js and "kiosk/survey.css" in js
    assert "kiosk/rate.js" in js  # the rating pages' assets still there


# --- the QR poster ------------------------------------------------------------------

def test_the_poster_carries_the_questionnaire_and_its_address(app, client, tmp_path):
    app.config["PUBLIC_BASE_URL"] = "https://pj.example.gov.cn"
    publish_file()
    png = client.get(f"/s/{SLUG}/poster.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    Image.open(io.BytesIO(png.data)).verify()
    pdf = client.get(f"/s/{SLUG}/poster.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get("/s/nope/poster.pdf").status_code == 404
    if shutil.which("pdftotext"):
        path = tmp_path / "poster.pdf"
        path.write_bytes(pdf.data)
        text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "2026年第四季度办事群众满意度问卷" in text
        assert "https://pj.example.gov.cn/s/2026q4" in text
        assert "样张" not in text
    if shutil.which("zbarimg"):
        path = tmp_path / "qr.png"
        path.write_bytes(png.data)
        out = subprocess.run(["zbarimg", "-q", "--raw", str(path)], capture_output=True,
                             text=True, check=True).stdout
        assert out.strip() == "https://pj.example.gov.cn/s/2026q4"


# --- kiosk import-survey -------------------------------------------------------------

def test_import_survey_from_the_command_line(app, runner, tmp_path):
    path = tmp_path / "q.json"
    data = questionnaire(starts="2026-10-01", ends="2026-12-31", offered=["qr", "kiosk"])
    path.write_text("\ufeff" + json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(args=["import-survey", str(path)])
    assert result.exit_code == 0, result.output
    assert "published as version 1" in result.output and "/s/2026q4" in result.output
    survey = surveys.by_slug(SLUG)
    assert (survey.starts, survey.ends) == (date(2026, 10, 1), date(2026, 12, 31))
    assert survey.offer_on_qr and survey.offer_on_kiosk

    result = runner.invoke(args=["import-survey", str(path)])
    assert "unchanged, still version 1" in result.output

    edited = copy.deepcopy(data)
    edited["questions"].append({"id": "q5", "type": "scale", "text": "您对等候时间是否满意？"})
    path.write_text(json.dumps(edited, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(args=["import-survey", str(path)])
    assert result.exit_code == 0 and "published as version 2" in result.output

    bad = copy.deepcopy(edited)
    bad["questions"][4]["type"] = "stars"
    path.write_text(json.dumps(bad), encoding="utf-8")
    result = runner.invoke(args=["import-survey", str(path)])
    assert result.exit_code == 1 and "q5" in result.output and "类型" in result.output
    path.write_text("{not json", encoding="utf-8")
    result = runner.invoke(args=["import-survey", str(path)])
    assert result.exit_code == 1 and "JSON" in result.output
    result = runner.invoke(args=["import-survey", str(tmp_path / "missing.json")])
    assert result.exit_code == 1
    db.session.expire_all()
    assert [v.number for v in surveys.by_slug(SLUG).versions] == [1, 2]
