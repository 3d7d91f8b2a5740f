"""Questionnaires in the back office (admin/surveys.py): the builder's drafts, versions
and publishing, the JSON import, who may open what, results.json and results.csv over
HTTP, and the phone survey a caller takes from a follow-up case."""
from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk import clock, surveys
from kiosk.db import db, utcnow
from kiosk.models import AuditEntry, FollowupCase, Survey, SurveyResponse, SurveyVersion

from ..helpers import PASSWORD, csrf_token, make_user, make_window, wait_js
from ..liveserver import LiveServer

TZ = clock.zone("Asia/Shanghai")
FILE = {
    "slug": "q4", "title": "2026年第四季度办事群众满意度问卷", "intro": "占用您一分钟",
    "questions": [
        {"id": "q1", "type": "scale", "text": "您对大厅整体服务是否满意？", "required": True},
        {"id": "q2", "type": "single", "text": "您本次办事跑了几次？",
         "options": [{"id": "a", "text": "一次"}, {"id": "b", "text": "两次"}]},
        {"id": "q3", "type": "multi", "text": {"zh": "您希望改进哪些方面？", "en": "What to improve?"},
         "options": [{"id": "x", "text": "等候时间"}, {"id": "y", "text": "指引标识"}]},
        {"id": "q4", "type": "text", "text": "其他意见和建议"}]}


class FormFields(HTMLParser):
    """What a browser would post from the form with ``form_id`` (submit buttons aside)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, []
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and a.get("type") in ("text", "hidden", "date", "search", None):
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "input" and a.get("type") in ("checkbox", "radio") and "checked" in a:
            self.fields.append((a["name"], a.get("value") or "on"))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a["value"]))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))

    def handle_data(self, data):
        if self._textarea:
            name, _ = self.fields.pop()
            self.fields.append((name, data))

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def builder_form(client, slug: str) -> dict:
    html = client.get(f"/admin/surveys/{slug}").get_data(as_text=True)
    parser = FormFields("builder")
    parser.feed(html)
    return dict(parser.fields)


def press(client, slug: str, action: str, **changes):
    """Press a builder button with the form as the page shows it, ``changes`` typed in."""
    form = builder_form(client, slug)
    form.update(changes)
    form["action"] = action
    return client.post(f"/admin/surveys/{slug}", data=form)


def survey(slug: str = "q4") -> Survey:
    db.session.expire_all()
    return db.session.scalar(sa.select(Survey).where(Survey.slug == slug))


def create(client, slug: str = "hall", title: str = "大厅服务问卷"):
    page = client.get("/admin/surveys").get_data(as_text=True)
    return client.post("/admin/surveys", data={"slug": slug, "title": title,
                                                "csrf_token": csrf_token(page)})


def answer(version: SurveyVersion, answers: dict, channel: str = "qr", **more):
    at = utcnow() - timedelta(minutes=5)
    db.session.add(SurveyResponse(client_id=uuid.uuid4().hex, version_id=version.id,
                                  channel=channel, answers=answers, created_at=at,
                                  received_at=at, **more))
    db.session.commit()


def audit_trail(target_type: str) -> list[tuple]:
    """(action, who, what it became) of the audit entries about ``target_type``."""
    rows = db.session.execute(sa.select(AuditEntry.action, AuditEntry.username,
                                        AuditEntry.after)
                              .where(AuditEntry.target_type == target_type)
                              .order_by(AuditEntry.id)).all()
    return [(action, who, json.loads(after) if isinstance(after, str) else after)
            for action, who, after in rows]


def test_an_admin_builds_and_publishes_a_questionnaire(login):
    client = login("admin")
    response = create(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/surveys/hall")
    assert press(client, "hall", "add:scale").status_code == 302
    assert press(client, "hall", "add:single", **{"q-0-zh": "您对大厅整体服务是否满意？"}).status_code == 302
    assert press(client, "hall", "add:text", **{
        "q-1-zh": "您本次办事跑了几次？", "q-1-en": "How many visits?",
        "q-1-o-0-zh": "一次", "q-1-o-0-en": "Once", "q-1-o-1-zh": "两次"}).status_code == 302
    draft = survey("hall").draft
    assert [(q["id"], q["type"]) for q in draft["questions"]] == \
        [("q1", "scale"), ("q2", "single"), ("q3", "text")]
    assert draft["questions"][1]["text"] == {"zh": "您本次办事跑了几次？", "en": "How many visits?"}
    assert draft["questions"][1]["options"] == [
        {"id": "a", "text": {"zh": "一次", "en": "Once"}}, {"id": "b", "text": {"zh": "两次"}}]
    # Reorder: the text question up above the single choice; then publish.
    press(client, "hall", "up:2", **{"q-2-zh": "其他意见和建议"})
    response = press(client, "hall", "publish")
    assert response.status_code == 302
    s = survey("hall")
    assert s.current_version == 1 and s.draft is None
    version = s.versions[0]
    assert [q["id"] for q in version.definition["questions"]] == ["q1", "q3", "q2"]
    assert version.title == "大厅服务问卷"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已发布第 1 版" in page
    # Who created and published it stays in the audit log.
    assert [(action, after) for action, _, after in audit_trail("survey")] == [
        ("survey.create", {"slug": "hall"}),
        ("survey.publish", {"slug": "hall", "version": 1, "title": "大厅服务问卷"})]
    assert {who for _, who, _ in audit_trail("survey")} == {client.user.username}


def test_editing_after_publishing_makes_a_new_version_and_answers_keep_theirs(app, login):
    client = login("admin")
    first = surveys.import_survey(FILE)
    db.session.commit()
    answer(first, {"q1": 5, "q2": "a"})
    # An edit is a draft: what citizens get is still version 1.
    press(client, "q4", "save", **{"q-1-o-1-zh": "两次及以上"})
    s = survey()
    assert s.current_version == 1 and s.draft is not None
    assert surveys.current("q4", clock.to_local(utcnow(), TZ).date()).number == 1
    page = client.get("/admin/surveys/q4").get_data(as_text=True)
    assert "有未发布的修改" in page and "/s/q4/poster.pdf" in page
    press(client, "q4", "publish")
    s = survey()
    assert s.current_version == 2 and [v.number for v in s.versions] == [1, 2]
    assert s.versions[1].definition["questions"][1]["options"][1]["text"] == {"zh": "两次及以上"}
    assert s.versions[0].definition["questions"][1]["options"][1]["text"] == {"zh": "两次"}
    old = db.session.scalar(sa.select(SurveyResponse))
    assert old.version.number == 1
    # Publishing again with nothing changed makes no version 3.
    response = press(client, "q4", "publish")
    assert survey().current_version == 2 and len(survey().versions) == 2
    assert "未生成新版本" in client.get(response.headers["Location"]).get_data(as_text=True)
    # Results of each version count only their own answers.
    assert client.get("/admin/surveys/q4/results.json").get_json()["responses"] == 0
    assert client.get("/admin/surveys/q4/results.json?version=1").get_json()["responses"] == 1


def test_publishing_an_unfinished_draft_says_which_question_and_keeps_the_edit(app, login):
    client = login("admin")
    create(client)
    press(client, "hall", "add:single")
    response = press(client, "hall", "publish", **{"q-0-zh": "您是从哪里知道本问卷的？",
                                                   "q-0-o-0-zh": "只有一个选项"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "问题 q1：选择题至少要有两个选项" in html
    assert 'class="card question has-error" id="q-0"' in html
    s = survey("hall")
    assert s.current_version is None and s.versions == []
    assert s.draft["questions"][0]["text"] == {"zh": "您是从哪里知道本问卷的？"}


def test_delete_a_question_and_discard_a_draft(app, login):
    client = login("admin")
    surveys.import_survey(FILE)
    db.session.commit()
    press(client, "q4", "delete:3")
    assert [q["id"] for q in survey().draft["questions"]] == ["q1", "q2", "q3"]
    press(client, "q4", "discard")
    assert survey().draft is None and survey().current_version == 1
    # An option emptied is an option removed; the builder shows the version again.
    press(client, "q4", "save", **{"q-2-o-1-zh": ""})
    assert [o["id"] for o in survey().draft["questions"][2]["options"]] == ["x"]


def test_period_and_where_offered_apply_without_a_new_version(app, login):
    client = login("admin")
    surveys.import_survey(FILE)
    db.session.commit()
    page = client.get("/admin/surveys/q4").get_data(as_text=True)
    response = client.post("/admin/surveys/q4/settings", data={
        "csrf_token": csrf_token(page), "starts": "2026-10-01", "ends": "2026-12-31",
        "offer_on_kiosk": "on"})
    assert response.status_code == 302
    s = survey()
    assert (s.starts.isoformat(), s.ends.isoformat()) == ("2026-10-01", "2026-12-31")
    assert (s.offer_on_qr, s.offer_on_kiosk) == (False, True)
    assert len(s.versions) == 1
    action, who, after = audit_trail("survey")[-1]
    assert (action, who) == ("survey.settings", client.user.username)
    assert after == {"starts": "2026-10-01", "ends": "2026-12-31", "offer_on_qr": False,
                     "offer_on_kiosk": True}
    bad = client.post("/admin/surveys/q4/settings", data={
        "csrf_token": csrf_token(page), "starts": "2026-12-31", "ends": "2026-10-01"})
    assert bad.status_code == 400 and "开始日期晚于结束日期" in bad.get_data(as_text=True)
    assert survey().starts.isoformat() == "2026-10-01"


def test_a_slug_must_be_new_and_url_safe(app, login):
    client = login("admin")
    assert create(client, "hall").status_code == 302
    taken = create(client, "hall")
    assert taken.status_code == 400 and "已被使用" in taken.get_data(as_text=True)
    bad = create(client, "大厅 问卷")
    assert bad.status_code == 400 and "问卷代号只能" in bad.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 1


def upload(client, content: bytes, name: str = "survey.json"):
    page = client.get("/admin/surveys").get_data(as_text=True)
    return client.post("/admin/surveys/import", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(page), "file": (io.BytesIO(content), name)})


def test_importing_a_file_from_the_admin_creates_then_versions(app, login):
    client = login("admin")
    body = json.dumps(FILE, ensure_ascii=False).encode("utf-8-sig")
    response = upload(client, body)
    assert response.status_code == 302
    assert "当前为第 1 版" in client.get(response.headers["Location"]).get_data(as_text=True)
    changed = dict(FILE, questions=FILE["questions"][:1], ends="2026-12-31")
    upload(client, json.dumps(changed).encode())
    s = survey()
    assert s.current_version == 2 and s.ends.isoformat() == "2026-12-31"
    assert s.versions[1].published_by_id == client.user.id


@pytest.mark.parametrize("content, message", [
    (b"{not json", "不是 UTF-8 编码的 JSON"),
    (b"[1, 2]", "应是一个 JSON 对象"),
    (json.dumps(dict(FILE, questions=[{"id": "q1", "type": "scale", "text": "x"},
                                      {"id": "q2", "type": "single", "text": "y",
                                       "options": [{"id": "a", "text": "一"}]}])).encode(),
     "问题 q2：选择题至少要有两个选项"),
])
def test_a_bad_file_is_refused_with_a_reason_and_nothing_stored(app, login, content, message):
    client = login("admin")
    response = upload(client, content)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Survey)) == 0


def test_who_may_open_what(app, login):
    make_window("A01")  # and its department, for the department head
    surveys.import_survey(FILE)
    db.session.commit()
    expect = {
        "admin": {"/admin/surveys": 200, "/admin/surveys/q4": 200,
                  "/admin/surveys/q4/results": 200, "/admin/surveys/q4/results.json": 200},
        "supervisor": {"/admin/surveys": 200, "/admin/surveys/q4": 403,
                       "/admin/surveys/q4/results": 200, "/admin/surveys/q4/results.csv": 200},
        "caller": {"/admin/surveys": 403, "/admin/surveys/q4/results": 403,
                   "/admin/surveys/q4/results.json": 403},
        "department": {"/admin/surveys": 403, "/admin/surveys/q4/results.csv": 403},
    }
    for role, paths in expect.items():
        client = login(role, "政务服务中心" if role == "department" else None)
        for path, status in paths.items():
            assert client.get(path).status_code == status, (role, path)
    supervisor = login("supervisor")
    listing = supervisor.get("/admin/surveys").get_data(as_text=True)
    assert "查看结果" in listing and "新建问卷" not in listing and "导入问卷文件" not in listing
    page = supervisor.get("/admin/surveys").get_data(as_text=True)
    assert supervisor.post("/admin/surveys", data={
        "csrf_token": csrf_token(page), "slug": "x1", "title": "t"}).status_code == 403


def test_results_json_and_csv_over_http(app, login):
    make_window("A01")
    version = surveys.import_survey(FILE)
    db.session.commit()
    answer(version, {"q1": 5, "q2": "a", "q3": ["x", "y"], "q4": "=1+1"})
    answer(version, {"q1": 3, "q3": ["y"]}, channel="kiosk")
    answer(version, {"q1": 4, "q2": "b"}, channel="kiosk")
    client = login("supervisor")
    doc = client.get("/admin/surveys/q4/results.json").get_json()
    assert doc["slug"] == "q4" and doc["version"] == 1 and doc["responses"] == 3
    q = {row["id"]: row for row in doc["questions"]}
    assert q["q1"] == {**q["q1"], "type": "scale", "answered": 3, "mean": 4.0,
                       "counts": {"1": 0, "2": 0, "3": 1, "4": 1, "5": 1}}
    assert q["q2"]["counts"] == {"a": 1, "b": 1} and q["q2"]["answered"] == 2
    assert q["q3"]["counts"] == {"x": 1, "y": 2} and q["q3"]["answered"] == 2
    assert q["q4"]["answered"] == 1 and "counts" not in q["q4"]
    kiosk = client.get("/admin/surveys/q4/results.json?channel=kiosk").get_json()
    assert kiosk["responses"] == 2
    response = client.get("/admin/surveys/q4/results.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["id", "client_id", "created_at", "channel", "window", "q1", "q2", "q3", "q4"]
    assert [r[3] for r in rows[1:]] == ["qr", "kiosk", "kiosk"]
    assert rows[1][5:] == ["5", "a", "x;y", "'=1+1"]
    assert rows[1][2].endswith("+08:00")


@pytest.mark.parametrize("query, status, message", [
    ("version=9", 404, "没有第 9 版"),
    ("version=x", 400, "version"),
    ("channel=fax", 400, "未知的渠道"),
    ("window=NOPE", 400, "没有窗口"),
    ("from=2026-13-01", 400, "日期"),
    ("from=2026-11-05&to=2026-11-01", 400, "开始日期晚于结束日期"),
])
def test_bad_result_filters_answer_a_clear_error(app, login, query, status, message):
    surveys.import_survey(FILE)
    db.session.commit()
    client = login("admin")
    response = client.get(f"/admin/surveys/q4/results.json?{query}")
    assert response.status_code == status and message in response.get_json()["error"]
    page = client.get(f"/admin/surveys/q4/results?{query}")
    assert page.status_code == status and message in page.get_data(as_text=True)
    assert client.get("/admin/surveys/nope/results.json").status_code == 404


def test_an_unpublished_questionnaire_has_no_results_yet(app, login):
    client = login("admin")
    create(client)
    response = client.get("/admin/surveys/hall/results.json")
    assert response.status_code == 404 and "尚未发布" in response.get_json()["error"]


def test_the_results_page_shows_counts_texts_search_and_charts(app, login):
    make_window("A01")
    version = surveys.import_survey(FILE)
    db.session.commit()
    answer(version, {"q1": 5, "q4": "停车位太少，请联系13812345678"})
    answer(version, {"q1": 2, "q4": "等候时间太长"})
    client = login("supervisor")
    html = client.get("/admin/surveys/q4/results").get_data(as_text=True)
    assert "共 2 条回答" in html and "138****5678" in html and "13812345678" not in html
    searched = client.get("/admin/surveys/q4/results?q=等候").get_data(as_text=True)
    assert "包含“等候”的回答 1 条" in searched and "停车位太少" not in searched
    chart = client.get("/admin/surveys/q4/charts/q1.png")
    assert chart.status_code == 200 and chart.data.startswith(b"\x89PNG")
    assert client.get("/admin/surveys/q4/charts/q4.png").status_code == 404  # a text question


# -- the phone survey -------------------------------------------------------------------

@pytest.fixture
def case(app):
    """A bad rating with a phone: a callback case at window A01."""
    make_window("A01")
    stored = app.extensions["kiosk.intake"].accept({
        "window": "A01", "score": 1, "channel": "qr", "client_id": uuid.uuid4().hex,
        "phone": "13812345678"})
    db.session.expire_all()
    found = db.session.scalar(sa.select(FollowupCase).where(FollowupCase.rating_id == stored.id))
    assert found is not None
    return found


def test_a_caller_takes_a_phone_survey_from_the_case_page(app, login, case):
    surveys.import_survey(FILE)
    db.session.commit()
    caller = login("caller")
    page = caller.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    assert "电话问卷" in page
    link = f"/admin/surveys/q4/phone/{case.id}"
    assert link in page
    form_page = caller.get(link).get_data(as_text=True)
    assert "您对大厅整体服务是否满意？" in form_page
    client_id = re.search(r'name="client_id" value="([^"]+)"', form_page).group(1)
    data = {"csrf_token": csrf_token(form_page), "client_id": client_id,
            "a-q1": "4", "a-q2": "b", "a-q4": "希望多开几个窗口"}
    response = caller.post(link, data={**data, "a-q3": ["x", "y"]})
    assert response.status_code == 302 and response.headers["Location"].endswith("#phone-survey")
    stored = db.session.scalar(sa.select(SurveyResponse))
    assert stored.channel == "phone" and stored.case_id == case.id
    assert stored.taken_by_id == caller.user.id and stored.respondent is None
    assert stored.window.code == "A01"
    assert stored.answers == {"q1": 4, "q2": "b", "q3": ["x", "y"], "q4": "希望多开几个窗口"}
    # Sent twice (a double click, a reload): stored once.
    again = caller.post(link, data={**data, "a-q3": ["x", "y"]})
    assert again.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 1
    assert "已填写" in caller.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    admin = login("admin")
    phone = admin.get("/admin/surveys/q4/results.json?channel=phone").get_json()
    assert phone["responses"] == 1


def test_a_phone_answer_that_does_not_fit_is_refused_and_kept_on_the_form(app, login, case):
    surveys.import_survey(FILE)
    db.session.commit()
    caller = login("caller")
    link = f"/admin/surveys/q4/phone/{case.id}"
    page = caller.get(link).get_data(as_text=True)
    response = caller.post(link, data={"csrf_token": csrf_token(page), "client_id": "c" * 20,
                                       "a-q2": "a", "a-q4": "记下的意见"})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "问题 q1 必须回答" in html and "记下的意见" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 0


def test_no_phone_survey_for_an_inactive_questionnaire_or_other_roles(app, login, case):
    surveys.import_survey(dict(FILE, ends="2020-01-31"))
    db.session.commit()
    caller = login("caller")
    page = caller.get(f"/admin/followups/{case.id}").get_data(as_text=True)
    assert f"/admin/surveys/q4/phone/{case.id}" not in page
    response = caller.get(f"/admin/surveys/q4/phone/{case.id}")
    assert response.status_code == 302
    assert "不在有效期内" in caller.get(response.headers["Location"]).get_data(as_text=True)
    for role in ("supervisor", "department"):
        other = login(role, "政务服务中心" if role == "department" else None)
        assert other.get(f"/admin/surveys/q4/phone/{case.id}").status_code == 403


# -- in real Chromium ---------------------------------------------------------------------

SHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "admin"
DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture
def server(app, database_uri, tmp_path):
    make_window("A01")
    make_user("guanli", "admin")
    srv = LiveServer(database_uri, tmp_path / "srv")
    yield srv
    srv.stop()


def test_an_admin_builds_publishes_and_reads_results_in_chromium(browser, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the publish / delete confirmations
    page.goto(server.url + "/admin/surveys")
    page.fill("input[name=username]", "guanli")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/surveys")
    page.fill("#title", "窗口服务回访问卷")
    page.fill("#slug", "visit")
    page.click("text=新建并编辑题目")
    page.wait_for_url("**/admin/surveys/visit")
    page.click("button[value='add:scale']")
    page.wait_for_selector("#q-0")
    # Enter in a question's text saves the draft; it never presses 上移 or 删除.
    page.fill("input[name='q-0-zh']", "您对本次服务是否满意？")
    page.press("input[name='q-0-zh']", "Enter")
    page.wait_for_load_state()
    assert page.input_value("input[name='q-0-zh']") == "您对本次服务是否满意？"
    page.click("button[value='add:scale']")
    page.wait_for_selector("#q-1")
    # Changing the type redraws the question at once: a choice question gets options.
    with page.expect_navigation():
        page.select_option("select[name='q-1-type']", "single")
    page.fill("input[name='q-1-zh']", "您是第几次来办这件事？")
    page.fill("input[name='q-1-o-0-zh']", "第一次")
    page.fill("input[name='q-1-o-1-zh']", "第二次及以上")
    page.click("button[value='up:1']")
    page.wait_for_load_state()
    assert page.input_value("input[name='q-0-zh']") == "您是第几次来办这件事？"
    page.screenshot(path=str(SHOTS / "surveys-builder.png"), full_page=True)
    page.click("button[value='publish']")
    page.wait_for_selector("text=已发布第 1 版")
    db.session.expire_all()
    version = survey("visit").versions[0]
    assert [(q["id"], q["type"]) for q in version.definition["questions"]] == \
        [("q2", "single"), ("q1", "scale")]
    answer(version, {"q1": 5, "q2": "a"})  # q2 is the choice question, now first
    answer(version, {"q1": 4, "q2": "a"}, channel="kiosk")
    page.click("text=查看结果")
    page.wait_for_url("**/admin/surveys/visit/results")
    assert page.locator(".stat .value").first.inner_text() == "2"
    for img in page.locator("img.chart").all():
        img.scroll_into_view_if_needed()
        wait_js(page, "[...document.images].every(i => i.complete)")
        assert img.evaluate("i => i.naturalWidth > 0"), img.get_attribute("src")
    page.select_option("select[name=channel]", "kiosk")
    page.click("text=筛选")
    page.wait_for_url("**channel=kiosk**")
    assert page.locator(".stat .value").first.inner_text() == "1"
    page.screenshot(path=str(SHOTS / "surveys-results.png"), full_page=True)
    context.close()
