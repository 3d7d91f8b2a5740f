"""Questionnaires in the back office (问卷调查): the builder with its draft, versions
and publishing, the JSON import, the results (page, chart, JSON, CSV), and the phone
survey a caller takes from a follow-up case.

kiosk/surveys.py owns what a questionnaire is (validating, publishing, storing an
answer); kiosk/survey_results.py counts the answers. This module turns the builder's
form into a draft and back, and keeps the views thin. Admins build; supervisors (who
read the league and the assessment) read results too; callers take phone surveys.
"""
from __future__ import annotations

import json
import uuid
from datetime import date

import sqlalchemy as sa
from flask import (Response, abort, flash, jsonify, redirect, render_template, request,
                   url_for)
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from kiosk import charts, clock, followups, league, survey_results, surveys
from kiosk.db import db, utcnow
from kiosk.excel import excel_csv
from kiosk.models import FollowupCase, Survey, SurveyResponse, SurveyVersion, User
from kiosk.scale import CHANNELS, SCORES

from . import bp, nav_item, roles
from .charts import png_response
from .scope import hall_tz

RESULT_ROLES = ("supervisor",)
PHONE_ROLES = ("caller",)
TYPE_LABELS = surveys.TYPE_NAMES
MAX_QUESTIONS = surveys.QUESTIONS_MAX
MAX_OPTIONS = surveys.OPTIONS_MAX
NEW_OPTION_ROWS = 2  # blank option rows a choice question shows for adding more
TEXT_MAX = surveys.LABEL_MAX  # a question's or an option's wording
INTRO_MAX = surveys.INTRO_MAX
IMPORT_MAX_BYTES = 256 * 1024
TEXTS_SHOWN = 50


def hall_day() -> date:
    return league.hall_today(hall_tz())


def survey_or_404(slug: str) -> Survey:
    survey = surveys.by_slug(slug)
    if survey is None:
        abort(404)
    return survey


def current_version(survey: Survey) -> SurveyVersion | None:
    return surveys.version_of(survey)


# -- the draft <-> the builder's form -------------------------------------------------

def _text(zh: str, en: str) -> dict:
    """A questionnaire text as CONTRACT.md's ``{"zh", "en"?}``."""
    return {"zh": zh, "en": en} if en else {"zh": zh}


def _next_id(taken: set[str], prefix: str, letters: bool = False) -> str:
    """A fresh question id (q1, q2 …) or option id (a … z, then o27 …)."""
    if letters:
        for c in "abcdefghijklmnopqrstuvwxyz":
            if c not in taken:
                return c
    n = len(taken) + 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def blank_definition(slug: str, title: str) -> dict:
    return {"slug": slug, "title": {"zh": title}, "questions": []}


def editable_definition(survey: Survey) -> dict:
    """What the builder edits: the draft, else a copy of the current version."""
    if survey.draft is not None:
        return json.loads(json.dumps(survey.draft))
    version = current_version(survey)
    if version is not None:
        return json.loads(json.dumps(version.definition))
    return blank_definition(survey.slug, survey.slug)


def definition_from_form(form: MultiDict, slug: str) -> dict:
    """The draft the builder's form describes. Lenient (a draft may be unfinished:
    publishing checks it with surveys.parse_definition); only lengths are cut."""
    def field(name: str, limit: int = TEXT_MAX) -> str:
        return form.get(name, "").strip()[:limit]

    title_max = surveys.TITLE_MAX
    definition: dict = {"slug": slug, "title": _text(field("title_zh", title_max),
                                                     field("title_en", title_max))}
    intro_zh, intro_en = field("intro_zh", INTRO_MAX), field("intro_en", INTRO_MAX)
    if intro_zh or intro_en:
        definition["intro"] = _text(intro_zh, intro_en)
    questions: list[dict] = []
    taken_q: set[str] = set()
    count = min(form.get("questions", 0, type=int) or 0, MAX_QUESTIONS)
    for i in range(count):
        p = f"q-{i}-"
        qtype = form.get(p + "type", "")
        if qtype not in surveys.TYPES:
            continue
        qid = form.get(p + "id", "").strip()
        if not qid or qid in taken_q:
            qid = _next_id(taken_q | {form.get(f"q-{j}-id", "") for j in range(count)}, "q")
        taken_q.add(qid)
        question = {"id": qid, "type": qtype, "text": _text(field(p + "zh"), field(p + "en")),
                    "required": form.get(p + "required") == "on"}
        if qtype in ("single", "multi"):
            question["options"] = _options_from_form(form, p)
        questions.append(question)
    definition["questions"] = questions
    return definition


def _options_from_form(form: MultiDict, p: str) -> list[dict]:
    rows = []
    n = min(form.get(p + "options", 0, type=int) or 0, MAX_OPTIONS + NEW_OPTION_ROWS)
    for j in range(n):
        zh = form.get(f"{p}o-{j}-zh", "").strip()[:TEXT_MAX]
        en = form.get(f"{p}o-{j}-en", "").strip()[:TEXT_MAX]
        if zh or en:  # an emptied row is a deleted option
            rows.append((form.get(f"{p}o-{j}-id", "").strip(), zh, en))
    taken = {oid for oid, _, _ in rows if oid}
    options, seen = [], set()
    for oid, zh, en in rows[:MAX_OPTIONS]:
        if not oid or oid in seen:
            oid = _next_id(taken | seen, "o", letters=True)
        seen.add(oid)
        options.append({"id": oid, "text": _text(zh, en)})
    return options


def apply_action(definition: dict, action: str) -> str | None:
    """Do the builder button ``action`` (``add:TYPE``, ``up:I``, ``down:I``,
    ``delete:I``, ``oup:I:J``) to the draft; a message when it cannot be done."""
    questions = definition["questions"]
    verb, _, arg = action.partition(":")
    if verb == "add":
        if arg not in TYPE_LABELS:
            return "未知的题型"
        if len(questions) >= MAX_QUESTIONS:
            return f"一份问卷最多 {MAX_QUESTIONS} 题"
        question = {"id": _next_id({q["id"] for q in questions}, "q"), "type": arg,
                    "text": {"zh": ""}, "required": arg != "text"}
        if arg in ("single", "multi"):
            question["options"] = []
        questions.append(question)
        return None
    if verb == "oup":
        i, _, j = arg.partition(":")
        if i.isdigit() and j.isdigit() and int(i) < len(questions):
            opts = questions[int(i)].get("options") or []
            k = int(j)
            if 0 < k < len(opts):
                opts[k - 1], opts[k] = opts[k], opts[k - 1]
        return None
    if not arg.isdigit() or int(arg) >= len(questions):
        return None
    i = int(arg)
    if verb == "up" and i > 0:
        questions[i - 1], questions[i] = questions[i], questions[i - 1]
    elif verb == "down" and i + 1 < len(questions):
        questions[i + 1], questions[i] = questions[i], questions[i + 1]
    elif verb == "delete":
        del questions[i]
    return None


def _builder(survey: Survey, definition: dict, *, error: str | None = None,
             error_question: str | None = None, status: int = 200):
    version = current_version(survey)
    counts = survey_results.response_counts([v.id for v in survey.versions])
    publishers = {u.id: u.username for u in db.session.scalars(
        sa.select(User).where(User.id.in_({v.published_by_id for v in survey.versions
                                           if v.published_by_id})))}
    unpublished = (survey.draft is not None and version is not None
                   and not surveys.asks_the_same(survey.draft, version.definition))
    return render_template(
        "admin/surveys_edit.html", survey=survey, d=definition, version=version,
        counts=counts, publishers=publishers, unpublished=unpublished,
        active=surveys.is_active(survey, hall_day()), types=TYPE_LABELS,
        new_rows=NEW_OPTION_ROWS, error=error, error_question=error_question,
        zh=survey_results.zh, en=lambda t: t.get("en", "") if isinstance(t, dict) else "",
        scores=SCORES), status


# -- the list, creating, importing ----------------------------------------------------

@bp.get("/surveys")
@roles(*RESULT_ROLES)
def surveys_list(error: str | None = None, status: int = 200):
    rows = list(db.session.scalars(sa.select(Survey).order_by(Survey.created_at.desc(),
                                                               Survey.id.desc())))
    counts = survey_results.response_counts(
        [v.id for s in rows for v in s.versions if v.number == s.current_version])
    today = hall_day()
    return render_template(
        "admin/surveys.html", rows=rows, counts=counts, current=current_version,
        active=lambda s: surveys.is_active(s, today), zh=survey_results.zh,
        error=error, form=request.form if error else {}), status


@bp.post("/surveys")
def survey_create():
    slug = request.form.get("slug", "").strip().lower()
    title = request.form.get("title", "").strip()
    if not surveys.SLUG.fullmatch(slug):
        return surveys_list("问卷代号只能由小写字母、数字、“-”和“_”组成（最长 64 位），"
                            "以字母或数字开头，例如 2026q4", 400)
    if not title:
        return surveys_list("请填写问卷标题", 400)
    if db.session.scalar(sa.select(Survey.id).where(Survey.slug == slug)) is not None:
        return surveys_list(f"问卷代号 {slug} 已被使用", 400)
    surveys.create(slug, blank_definition(slug, title[:200]), current_user)
    db.session.commit()
    flash("问卷已创建：请添加题目，然后发布")
    return redirect(url_for("admin.survey_edit", slug=slug))


@bp.post("/surveys/import")
def survey_import():
    """A questionnaire file as ``kiosk import-survey`` takes it: a new survey, or a
    new version of the one with its slug."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return surveys_list("请选择要导入的问卷文件（JSON）", 400)
    raw = upload.read(IMPORT_MAX_BYTES + 1)
    if len(raw) > IMPORT_MAX_BYTES:
        return surveys_list(f"文件超过 {IMPORT_MAX_BYTES // 1024} KiB，不像问卷文件", 400)
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return surveys_list(f"文件不是 UTF-8 编码的 JSON：{exc}", 400)
    if not isinstance(data, dict):
        return surveys_list("问卷文件应是一个 JSON 对象（见 README 的格式）", 400)
    try:
        version = surveys.import_survey(data, actor=current_user)
    except surveys.SurveyError as exc:
        db.session.rollback()
        return surveys_list(_survey_error(exc), 400)
    db.session.commit()
    flash(f"已导入问卷 {version.survey.slug}，当前为第 {version.number} 版")
    return redirect(url_for("admin.survey_edit", slug=version.survey.slug))


def _survey_error(exc: surveys.SurveyError) -> str:
    return exc.message  # it names the question already


# -- the builder ------------------------------------------------------------------------

@bp.get("/surveys/<slug>")
def survey_edit(slug: str):
    survey = survey_or_404(slug)
    return _builder(survey, editable_definition(survey))


@bp.post("/surveys/<slug>")
def survey_save(slug: str):
    """Every builder button saves the whole form into the draft first, then does its
    one thing (add, move, delete a question; publish; discard the draft)."""
    survey = survey_or_404(slug)
    action = request.form.get("action", "save")
    if action == "discard":
        survey.draft = None
        db.session.commit()
        flash("已放弃未发布的修改")
        return redirect(url_for("admin.survey_edit", slug=slug))
    if "questions" not in request.form:
        return _builder(survey, editable_definition(survey), status=400,
                        error="表单不完整，请重新打开本页再修改")
    definition = definition_from_form(request.form, survey.slug)
    problem = apply_action(definition, action) if action not in ("save", "publish") else None
    survey.draft = definition
    db.session.commit()
    if problem:
        return _builder(survey, definition, error=problem, status=400)
    if action != "publish":
        anchor = "q-end" if action.startswith("add:") else "questions"
        return redirect(url_for("admin.survey_edit", slug=slug) + "#" + anchor)
    return _publish(survey, definition)


def _publish(survey: Survey, definition: dict):
    before = survey.current_version
    try:
        version = surveys.publish(survey, surveys.parse_definition(definition),
                                  actor=current_user)
    except surveys.SurveyError as exc:
        db.session.rollback()
        return _builder(survey, definition, error=_survey_error(exc),
                        error_question=exc.question, status=400)
    db.session.commit()
    if version.number == before:
        flash(f"内容与第 {before} 版相同，未生成新版本")
    else:
        flash(f"已发布第 {version.number} 版：新的答卷都属于这一版，已收到的答卷仍属于原来的版本")
    return redirect(url_for("admin.survey_edit", slug=survey.slug))


@bp.post("/surveys/<slug>/settings")
def survey_settings(slug: str):
    """The period and where it is offered: not part of a version (changing them asks
    nothing new of anyone), so they apply at once."""
    survey = survey_or_404(slug)
    try:
        starts, ends = _date_field("starts"), _date_field("ends")
    except ValueError as exc:
        return _builder(survey, editable_definition(survey), error=str(exc), status=400)
    if starts and ends and starts > ends:
        return _builder(survey, editable_definition(survey), status=400,
                        error="开始日期晚于结束日期")
    surveys.set_settings(survey, starts, ends, request.form.get("offer_on_qr") == "on",
                         request.form.get("offer_on_kiosk") == "on", current_user)
    db.session.commit()
    flash("已保存有效期和投放位置")
    return redirect(url_for("admin.survey_edit", slug=slug))


def _date_field(name: str) -> date | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"日期“{raw}”格式不正确，应为 YYYY-MM-DD") from None


# -- results ----------------------------------------------------------------------------

def request_results(survey: Survey) -> tuple[SurveyVersion, survey_results.ResultFilter]:
    """The version and the filter this request's query string asks for (BadFilter
    otherwise: a JSON error from the results' JSON, CSV and chart, see below)."""
    return survey_results.parse_filter(survey, request.args, db.session)


@bp.errorhandler(survey_results.BadFilter)
def bad_filter(exc: survey_results.BadFilter):
    return jsonify(error=str(exc)), exc.status


def filter_args() -> dict[str, str]:
    """The query's filters, for links that keep them (the chart, CSV, JSON)."""
    return {k: v for k, v in request.args.items()
            if k in ("version", "channel", "window", "from", "to") and v.strip()}


def _results(version: SurveyVersion, flt: survey_results.ResultFilter) -> dict:
    return survey_results.results(version, channel=flt.channel, window_id=flt.window_id,
                                  first=flt.first, last=flt.last, tz=hall_tz())


@bp.get("/surveys/<slug>/results")
@roles(*RESULT_ROLES)
def survey_results_page(slug: str):
    survey = survey_or_404(slug)
    try:
        version, flt = request_results(survey)
    except survey_results.BadFilter as exc:
        return render_template("admin/surveys_results.html", survey=survey, error=str(exc),
                               doc=None), exc.status
    search = request.args.get("q", "").strip()[:100]
    doc = _results(version, flt)
    texts = {q["id"]: survey_results.text_answers(version, q["id"], flt, hall_tz(), search,
                                                  TEXTS_SHOWN)
             for q in doc["questions"] if q["type"] == "text"}
    return render_template(
        "admin/surveys_results.html", survey=survey, version=version, doc=doc, flt=flt,
        texts=texts, search=search, args=filter_args(), error=None,
        questions={q["id"]: q for q in survey_results.questions(version)},
        choice_labels=choice_labels, channels=CHANNELS, types=TYPE_LABELS,
        windows=league.window_choices(db.session), zh=survey_results.zh,
        window_code=request.args.get("window", "").strip())


def choice_labels(question: dict) -> list[tuple[str, str]]:
    """(key, label) of a question's counts in the order the page and chart show them:
    the levels 5 (非常满意) down to 1, or the options as the questionnaire lists them."""
    if question.get("type") == "scale":
        return [(str(level), f"{level} {SCORES[level].zh}") for level in sorted(SCORES,
                                                                               reverse=True)]
    return [(o["id"], survey_results.zh(o.get("text"))) for o in survey_results.options(question)]


@bp.get("/surveys/<slug>/results.json")
@roles(*RESULT_ROLES)
def survey_results_json(slug: str):
    survey = survey_or_404(slug)
    version, flt = request_results(survey)
    return jsonify(_results(version, flt))


@bp.get("/surveys/<slug>/results.csv")
@roles(*RESULT_ROLES)
def survey_results_csv(slug: str):
    survey = survey_or_404(slug)
    version, flt = request_results(survey)
    tz = hall_tz()
    body = excel_csv(survey_results.csv_header(version),
                     survey_results.csv_rows(version, flt, tz))
    name = f"survey-{survey.slug}-v{version.number}-{clock.format_local(utcnow(), tz, '%Y%m%d')}.csv"
    return Response(body, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/surveys/<slug>/charts/<question_id>.png")
@roles(*RESULT_ROLES)
def survey_chart(slug: str, question_id: str):
    """One choice or scale question's answers as bars: the chart beside its table."""
    survey = survey_or_404(slug)
    version, flt = request_results(survey)
    question = next((q for q in survey_results.questions(version)
                     if q["id"] == question_id and q.get("type") != "text"), None)
    if question is None:
        return jsonify(error=f"第 {version.number} 版没有可画图的题目 {question_id!r}"), 404
    tally = next(q for q in _results(version, flt)["questions"] if q["id"] == question_id)
    pairs = choice_labels(question)
    labels = [label for _, label in pairs]
    counts = [tally["counts"].get(key, 0) for key, _ in pairs]
    colours = ([charts.LEVEL_COLOURS[int(key)] for key, _ in pairs]
               if question["type"] == "scale" else None)
    png = charts.cached_png(("survey-answers", labels, counts, tally["answered"], colours),
                            lambda: charts.answers_png(labels, counts, tally["answered"],
                                                       colours))
    return png_response(png)


# -- the phone survey during a callback ---------------------------------------------------

def phone_case_or_404(case_id: int) -> FollowupCase:
    """The case a caller works on: 404 if unknown, 403 if the caller may not work it."""
    from kiosk import calllist

    case = calllist.get(current_user, case_id)
    if case is None:
        abort(404)
    if not followups.may(current_user, "attempt", case):
        abort(403)
    return case


def case_surveys(case: FollowupCase) -> dict:
    """For the case page: the questionnaires a caller may take now, and the phone
    surveys already taken for this case."""
    today = hall_day()
    offered = [s for s in db.session.scalars(
        sa.select(Survey).where(Survey.current_version.is_not(None)).order_by(Survey.slug))
        if surveys.is_active(s, today)]
    taken = list(db.session.scalars(
        sa.select(SurveyResponse).where(SurveyResponse.case_id == case.id)
        .order_by(SurveyResponse.created_at)))
    return {"offered": offered, "taken": taken, "current": current_version}


@bp.context_processor
def _case_surveys_helper() -> dict:
    # The follow-up case page asks for its 电话问卷 links through this.
    return {"case_surveys": case_surveys}


def _phone_page(case: FollowupCase, survey: Survey, version: SurveyVersion, *,
                client_id: str, answers: dict, error: str | None = None,
                error_question: str | None = None, status: int = 200):
    taken = db.session.scalars(
        sa.select(SurveyResponse).where(SurveyResponse.case_id == case.id,
                                        SurveyResponse.version_id == version.id)).all()
    return render_template(
        "admin/surveys_phone.html", case=case, survey=survey, version=version,
        d=version.definition, client_id=client_id, answers=answers, error=error,
        error_question=error_question, taken=taken, zh=survey_results.zh,
        scores=SCORES, types=TYPE_LABELS), status


def _active_version(survey: Survey) -> SurveyVersion | None:
    return surveys.current(survey.slug, hall_day())


@bp.get("/surveys/<slug>/phone/<int:followup_case_id>")
@roles(*PHONE_ROLES)
def phone_survey(followup_case_id: int, slug: str):
    survey = survey_or_404(slug)
    case = phone_case_or_404(followup_case_id)
    version = _active_version(survey)
    if version is None:
        flash("此问卷不在有效期内或尚未发布，不能进行电话问卷", "error")
        return redirect(url_for("admin.followup", followup_case_id=case.id))
    # The client_id is fixed when the form is shown: sending it twice stores one answer.
    return _phone_page(case, survey, version, client_id=uuid.uuid4().hex, answers={})


def answers_from_form(definition: dict, form: MultiDict) -> dict:
    """The phone form's answers as the API takes them (unanswered ones left out)."""
    answers: dict = {}
    for q in definition.get("questions") or []:
        name = f"a-{q['id']}"
        if q.get("type") == "multi":
            chosen = form.getlist(name)
            if chosen:
                answers[q["id"]] = chosen
            continue
        value = form.get(name, "").strip()
        if not value:
            continue
        if q.get("type") == "scale":
            answers[q["id"]] = int(value) if value.isdigit() else value
        else:
            answers[q["id"]] = value
    return answers


@bp.post("/surveys/<slug>/phone/<int:followup_case_id>")
@roles(*PHONE_ROLES)
def phone_survey_submit(followup_case_id: int, slug: str):
    """The citizen's answers as the caller heard them: stored by surveys.submit, the
    public API's own path, with channel ``phone``, the case and the caller."""
    survey = survey_or_404(slug)
    case = phone_case_or_404(followup_case_id)
    version = _active_version(survey)
    if version is None:
        flash("此问卷已不在有效期内，答卷未保存", "error")
        return redirect(url_for("admin.followup", followup_case_id=case.id))
    client_id = request.form.get("client_id", "").strip() or uuid.uuid4().hex
    answers = answers_from_form(version.definition, request.form)
    body = {"client_id": client_id, "answers": answers, "channel": "phone",
            "window": case.window.code, "version": version.number}
    try:
        _, created = surveys.submit(slug, body, respondent=None, now=utcnow(),
                                    today=hall_day(), user=current_user, case=case)
    except surveys.SurveyError as exc:
        db.session.rollback()
        return _phone_page(case, survey, version, client_id=client_id, answers=answers,
                           error=_survey_error(exc), status=400,
                           error_question=exc.question)
    db.session.commit()
    flash("电话问卷已保存" if created else "这份电话问卷此前已保存，未重复记录")
    return redirect(url_for("admin.followup", followup_case_id=case.id) + "#phone-survey")


nav_item("admin.surveys_list", "问卷调查", 40)
