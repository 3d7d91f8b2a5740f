"""Questionnaires (问卷调查): definitions, published versions, and citizens' answers.

A questionnaire is edited as a draft and published as a frozen ``SurveyVersion``:
editing after publishing makes a new version, and every response keeps the version
it answered, so results never mix two wordings of a question. Everything here is
plain functions over the session (they flush, never commit), called alike by the
public page's API, the back office (builder, phone surveys) and the CLI.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from . import audit, clock, fields
from .db import db
from .fields import InputError, TapBounds
from .models import Survey, SurveyResponse, SurveyVersion, Window
from .scale import CHANNELS, SCORES

TYPES = ("scale", "single", "multi", "text")
TYPE_NAMES = {"scale": "五级满意度", "single": "单选", "multi": "多选", "text": "文字"}
TEXT_MAX = 1000  # a free-text answer (CONTRACT.md)
LABEL_MAX = 500  # a question's or an option's wording
TITLE_MAX = 200  # SurveyVersion.title
INTRO_MAX = 2000
QUESTIONS_MAX = 100
OPTIONS_MAX = 50
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # part of a URL: /s/<slug>
ID = re.compile(r"[A-Za-z0-9_-]{1,32}")  # question and option ids (CSV column names)
LEVELS = tuple(sorted(SCORES))  # 1..5, the rating levels of DOMAIN.md
WHERE = ("qr", "kiosk")  # where a questionnaire may be offered besides its own page


class SurveyError(InputError):
    """A questionnaire or an answer that does not fit (Chinese ``message``);
    ``question`` names the question at fault, if one is."""

    def __init__(self, message: str, question: str | None = None, status: int = 400) -> None:
        super().__init__(message, status)
        self.question = question

    def as_json(self) -> dict:
        """The API's error body: ``{"error"}``, with ``"question"`` when one is at fault."""
        body: dict[str, Any] = {"error": self.message}
        if self.question is not None:
            body["question"] = self.question
        return body


class AlreadyAnswered(SurveyError):
    """This phone has answered this version already (one response per phone)."""

    def __init__(self) -> None:
        super().__init__("您已填写过本问卷，感谢参与 (this questionnaire has already been "
                         "answered on this phone)", status=409)


# --- the definition ----------------------------------------------------------------

def _bilingual(value: Any, what: str, max_len: int, question: str | None = None,
               required: bool = True) -> dict[str, str] | None:
    """A text given as a string or ``{"zh", "en"?}``, as ``{"zh", "en"?}``."""
    if value is None or value == "" or value == {}:
        if required:
            raise SurveyError(f"{what}不能为空", question)
        return None
    if isinstance(value, str):
        value = {"zh": value}
    if not isinstance(value, dict) or set(value) - {"zh", "en"}:
        raise SurveyError(f"{what}应为文字，或 {{\"zh\": …, \"en\": …}}", question)
    out: dict[str, str] = {}
    for lang in ("zh", "en"):
        text = value.get(lang)
        if text is None or (isinstance(text, str) and not text.strip()):
            continue
        if not isinstance(text, str):
            raise SurveyError(f"{what}应为文字", question)
        if "\x00" in text or len(text) > max_len:
            raise SurveyError(f"{what}超过 {max_len} 字或含有无效字符", question)
        out[lang] = text.strip()
    if "zh" not in out:
        if required or out:
            raise SurveyError(f"{what}缺少中文", question)
        return None
    return out


def _day(data: dict, key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise SurveyError(f"{key} 应为日期 YYYY-MM-DD：{value!r}") from None


def _options(raw: Any, qid: str) -> list[dict]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise SurveyError(f"问题 {qid}：选择题至少要有两个选项", qid)
    if len(raw) > OPTIONS_MAX:
        raise SurveyError(f"问题 {qid}：选项不能多于 {OPTIONS_MAX} 个", qid)
    out, seen = [], set()
    for n, option in enumerate(raw, 1):
        if not isinstance(option, dict):
            raise SurveyError(f"问题 {qid} 的第 {n} 个选项应为 {{\"id\", \"text\"}}", qid)
        oid = option.get("id")
        if not isinstance(oid, str) or not ID.fullmatch(oid):
            raise SurveyError(f"问题 {qid} 的第 {n} 个选项编号应为 1–32 个字母、数字、"
                              "_ 或 -", qid)
        if oid in seen:
            raise SurveyError(f"问题 {qid} 的选项编号 {oid} 重复", qid)
        seen.add(oid)
        out.append({"id": oid, "text": _bilingual(option.get("text"),
                                                  f"问题 {qid} 选项 {oid} 的文字",
                                                  LABEL_MAX, qid)})
    return out


def _question(raw: Any, n: int) -> dict:
    if not isinstance(raw, dict):
        raise SurveyError(f"第 {n} 题应为一个对象")
    qid = raw.get("id")
    if not isinstance(qid, str) or not ID.fullmatch(qid):
        raise SurveyError(f"第 {n} 题的编号 id 应为 1–32 个字母、数字、_ 或 -")
    kind = raw.get("type")
    if kind not in TYPES:
        raise SurveyError(f"问题 {qid} 的类型应为 scale、single、multi 或 text", qid)
    required = raw.get("required", False)
    if required is None:
        required = False
    if not isinstance(required, bool):
        raise SurveyError(f"问题 {qid} 的 required 应为 true 或 false", qid)
    question = {"id": qid, "type": kind,
                "text": _bilingual(raw.get("text"), f"问题 {qid} 的题目", LABEL_MAX, qid),
                "required": required}
    if kind in ("single", "multi"):
        question["options"] = _options(raw.get("options"), qid)
    elif raw.get("options"):
        raise SurveyError(f"问题 {qid}（{TYPE_NAMES[kind]}题）不能有选项", qid)
    return question


def parse_definition(data: dict) -> dict:
    """Check a questionnaire in CONTRACT.md's format and return it normalised: every
    text as ``{"zh", "en"?}``, ``required`` filled, questions and options in order,
    dates as ISO text. Raises :class:`SurveyError` (in Chinese) naming what is wrong.
    Normalised input comes back unchanged, so it is safe to parse twice."""
    if not isinstance(data, dict):
        raise SurveyError("问卷应为一个 JSON 对象")
    out: dict[str, Any] = {}
    if data.get("slug") not in (None, ""):
        slug = data["slug"]
        if not isinstance(slug, str) or not SLUG.fullmatch(slug):
            raise SurveyError("slug 应为 1–64 个小写字母、数字、_ 或 -（以字母或数字开头），"
                              "它是问卷网址 /s/<slug> 的一部分")
        out["slug"] = slug
    out["title"] = _bilingual(data.get("title"), "问卷标题", TITLE_MAX)
    out["intro"] = _bilingual(data.get("intro"), "问卷说明", INTRO_MAX, required=False)
    starts, ends = _day(data, "starts"), _day(data, "ends")
    if starts and ends and ends < starts:
        raise SurveyError(f"结束日期 {ends} 早于开始日期 {starts}")
    out["starts"], out["ends"] = starts, ends
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        raise SurveyError("问卷至少要有一道题 (questions)")
    if len(questions) > QUESTIONS_MAX:
        raise SurveyError(f"问卷不能多于 {QUESTIONS_MAX} 道题")
    out["questions"] = []
    for n, raw in enumerate(questions, 1):
        question = _question(raw, n)
        if any(q["id"] == question["id"] for q in out["questions"]):
            raise SurveyError(f"问题编号 {question['id']} 重复", question["id"])
        out["questions"].append(question)
    return out


def content(definition: dict) -> dict:
    """What a version freezes: the wording and the questions, not the slug or the
    period (those belong to the questionnaire and may change without a new version)."""
    return {"title": definition["title"], "intro": definition.get("intro"),
            "questions": definition["questions"]}


def minutes_to_answer(definition: dict) -> int:
    """About how long answering takes (what the page and the poster promise)."""
    return max(1, round(len(definition["questions"]) * 15 / 60))


def text_in(value: dict | str | None, lang: str) -> str:
    """A bilingual text in ``lang``, Chinese where no translation was given."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.get(lang) or value.get("zh") or ""


def question_text(q: dict, lang: str) -> str:
    return text_in(q.get("text"), lang)


def option_text(o: dict, lang: str) -> str:
    return text_in(o.get("text"), lang)


# --- publishing ----------------------------------------------------------------------

def publish(survey: Survey, definition: dict, actor=None) -> SurveyVersion:
    """Freeze ``definition`` as the questionnaire's next version (number = last + 1),
    make it current and clear the draft. A definition whose content equals the
    current version's makes no new version (the current one is returned). Flushes."""
    frozen = content(parse_definition(definition))
    last = latest(survey)
    survey.draft = None
    if last is not None and survey.current_version == last.number \
            and asks_the_same(definition, last.definition):
        return last
    version = SurveyVersion(survey=survey, number=(last.number + 1) if last else 1,
                            title=frozen["title"]["zh"][:TITLE_MAX], definition=frozen,
                            published_by_id=getattr(actor, "id", None))
    db.session.add(version)
    db.session.flush()
    survey.current_version = version.number
    audit.record(actor, "survey.publish", "survey", survey.id,
                 after={"slug": survey.slug, "version": version.number, "title": version.title})
    db.session.flush()
    return version


def create(slug: str, draft: dict | None, actor=None) -> Survey:
    """A new questionnaire (its slug checked by the caller), audited. Flushes."""
    survey = Survey(slug=slug, draft=draft)
    db.session.add(survey)
    db.session.flush()
    audit.record(actor, "survey.create", "survey", survey.id, after={"slug": slug})
    return survey


def set_settings(survey: Survey, starts: date | None, ends: date | None,
                 on_qr: bool, on_kiosk: bool, actor=None) -> None:
    """The period and where it is offered (not part of a version: they apply at once),
    audited when they change. Flushes."""
    def now_set() -> dict:
        return {"starts": survey.starts and survey.starts.isoformat(),
                "ends": survey.ends and survey.ends.isoformat(),
                "offer_on_qr": survey.offer_on_qr, "offer_on_kiosk": survey.offer_on_kiosk}
    before = now_set() if survey.id is not None else None
    survey.starts, survey.ends = starts, ends
    survey.offer_on_qr, survey.offer_on_kiosk = on_qr, on_kiosk
    db.session.flush()
    if before is not None:
        audit.record(actor, "survey.settings", "survey", survey.id, before, now_set())


def asks_the_same(definition: dict, published: dict) -> bool:
    """Whether ``definition`` (a draft, or a parsed file) asks just what a published
    version asks: publishing it would make no new version. An unfinished draft is an
    edit. Compared as JSON text: JSON columns hand back plain dicts and lists."""
    try:
        asked = content(parse_definition(definition))
    except SurveyError:
        return False
    return json.dumps(asked, sort_keys=True) == json.dumps(published, sort_keys=True)


def latest(survey: Survey) -> SurveyVersion | None:
    """The highest-numbered version, or None if never published."""
    return db.session.scalar(sa.select(SurveyVersion).where(
        SurveyVersion.survey_id == survey.id).order_by(SurveyVersion.number.desc()).limit(1)) \
        if survey.id is not None else None


def version_of(survey: Survey, number: int | None = None) -> SurveyVersion | None:
    """Version ``number`` of ``survey`` (the current one when None)."""
    number = survey.current_version if number is None else number
    if number is None or survey.id is None:
        return None
    return db.session.scalar(sa.select(SurveyVersion).where(
        SurveyVersion.survey_id == survey.id, SurveyVersion.number == number))


def by_slug(slug: str) -> Survey | None:
    return db.session.scalar(sa.select(Survey).where(Survey.slug == slug))


def import_survey(data: dict, actor=None) -> SurveyVersion:
    """A questionnaire file (CONTRACT.md): creates the questionnaire, or publishes a
    new version of the one with its slug; the period is set from the file (absent
    dates: open). An optional ``"offered": ["qr", "kiosk"]`` says where it is offered
    besides its own page. Flushes, never commits."""
    definition = parse_definition(data)
    if "slug" not in definition:
        raise SurveyError("问卷文件缺少 slug（问卷网址 /s/<slug> 的名字）")
    offered = data.get("offered")
    if offered is not None and (not isinstance(offered, list)
                                or any(w not in WHERE for w in offered)):
        raise SurveyError("offered 应为列表，取值 \"qr\"（扫码评价后的邀请）或 \"kiosk\""
                          "（评价器首页的按钮）")
    survey = by_slug(definition["slug"]) or create(definition["slug"], None, actor)
    qr_on, kiosk_on = ((survey.offer_on_qr is not False, bool(survey.offer_on_kiosk))
                       if offered is None else ("qr" in offered, "kiosk" in offered))
    set_settings(survey, _as_date(definition["starts"]), _as_date(definition["ends"]),
                 qr_on, kiosk_on, actor)
    return publish(survey, definition, actor)


def read_file(path: str) -> dict:
    """A questionnaire file's JSON (UTF-8, a BOM tolerated); SurveyError if unreadable."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return json.load(fh)
    except OSError as exc:
        raise SurveyError(f"无法读取 {path}：{exc.strerror}") from None
    except UnicodeDecodeError:
        raise SurveyError(f"{path} 不是 UTF-8 编码的文件") from None
    except ValueError as exc:
        raise SurveyError(f"{path} 不是有效的 JSON：{exc}") from None


def _as_date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# --- who may answer -------------------------------------------------------------------

def is_active(survey: Survey, today: date) -> bool:
    """Published, and ``today`` (a hall-time date) within its period."""
    return (survey.current_version is not None
            and (survey.starts is None or survey.starts <= today)
            and (survey.ends is None or today <= survey.ends))


def open_between(survey: Survey, first: date, last: date) -> bool:
    """Published, and its period meets the hall-time days ``first``..``last``."""
    return (survey.current_version is not None
            and (survey.starts is None or survey.starts <= last)
            and (survey.ends is None or first <= survey.ends))


def current(slug: str, today: date) -> SurveyVersion | None:
    """The version new answers get; None for an unknown or inactive questionnaire."""
    survey = by_slug(slug)
    if survey is None or not is_active(survey, today):
        return None
    return version_of(survey)


def offered(today: date, where: str) -> list[Survey]:
    """Active questionnaires offered at ``where``: ``"qr"`` (the QR page's thank-you
    screen) or ``"kiosk"`` (a button on the kiosk's start screen), oldest first."""
    if where not in WHERE:
        raise ValueError(f"where must be one of {WHERE}")
    flag = Survey.offer_on_qr if where == "qr" else Survey.offer_on_kiosk
    found = db.session.scalars(sa.select(Survey).where(
        flag.is_(True), Survey.current_version.is_not(None)).order_by(Survey.id))
    return [s for s in found if is_active(s, today)]


# --- answers --------------------------------------------------------------------------

def _absent(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def validate_answers(definition: dict, answers: dict) -> dict:
    """Check ``answers`` (question id -> answer) against the questions; return them
    cleaned (unanswered questions left out, several choices in the options' order).
    Raises :class:`SurveyError` naming the question: a level outside 1–5, an unknown
    option, a list for a single choice or one value for a multiple choice, a missing
    required answer (an empty list too), an unknown question, text over 1,000 chars."""
    if not isinstance(answers, dict):
        raise SurveyError("answers 应为一个对象：问题编号 → 答案")
    questions = {q["id"]: q for q in definition["questions"]}
    for qid in answers:
        if qid not in questions:
            raise SurveyError(f"没有编号为 {qid} 的问题", str(qid))
    clean: dict[str, Any] = {}
    for qid, q in questions.items():
        value = answers.get(qid)
        if _absent(value):
            if q.get("required"):
                raise SurveyError(f"问题 {qid} 必须回答", qid)
            continue
        clean[qid] = _answer(q, value)
    return clean


def _answer(q: dict, value: Any) -> Any:
    qid, kind = q["id"], q["type"]
    if kind == "scale":
        if isinstance(value, bool) or not isinstance(value, int) or value not in LEVELS:
            raise SurveyError(f"问题 {qid} 的答案应为 1–5 的整数", qid)
        return value
    if kind == "text":
        if not isinstance(value, str):
            raise SurveyError(f"问题 {qid} 的答案应为文字", qid)
        if len(value) > TEXT_MAX:
            raise SurveyError(f"问题 {qid} 的答案超过 {TEXT_MAX} 字", qid)
        try:
            fields.storable(value, qid)
        except InputError:
            raise SurveyError(f"问题 {qid} 的答案含有无效字符", qid) from None
        return value
    ids = [o["id"] for o in q["options"]]
    if kind == "single":
        if isinstance(value, list):
            raise SurveyError(f"问题 {qid} 是单选题，只能选一项", qid)
        if value not in ids:
            raise SurveyError(f"问题 {qid} 没有选项 {value!r}", qid)
        return value
    if not isinstance(value, list):
        raise SurveyError(f"问题 {qid} 是多选题，答案应为选项列表", qid)
    for choice in value:
        if not isinstance(choice, str) or choice not in ids:
            raise SurveyError(f"问题 {qid} 没有选项 {choice!r}", qid)
    return [i for i in ids if i in value]


def respondent_key(version: SurveyVersion, cookie: str) -> str:
    """What is stored for a phone: a hash of its first-party cookie, salted with the
    version, so a response can be matched to nothing else (not its ratings, not its
    answers to another questionnaire)."""
    return hashlib.sha256(f"survey:{version.id}:{cookie}".encode()).hexdigest()[:32]


def submit(slug: str, body: dict, *, respondent: str | None, now: datetime, today: date,
           user=None, case=None, bounds: TapBounds | None = None
           ) -> tuple[SurveyResponse, bool]:
    """Store one response (CONTRACT.md's body); returns it and whether it is new.

    ``respondent`` is the phone's first-party cookie (None: a shared kiosk tablet, or a
    caller's phone survey): one response per respondent per version, a second answers
    409 (:class:`AlreadyAnswered`). A ``client_id`` stored before returns the stored
    response. A phone survey passes the caller as ``user`` and the follow-up ``case``.
    Everything is checked before anything is written; flushes, never commits (after
    a race lost to another server the session is rolled back)."""
    from flask import current_app  # only for the tap bounds' default

    bounds = bounds or TapBounds.from_config(current_app.config)
    if not isinstance(body, dict):
        raise SurveyError("请求应为一个 JSON 对象")
    try:
        cid = fields.client_id(body, required=True)
    except InputError as exc:
        raise SurveyError(exc.message) from None
    old = _by_client_id(cid)
    if old is not None:
        return old, False
    survey = by_slug(slug)
    if survey is None:
        raise SurveyError("没有这份问卷", status=404)
    channel = body.get("channel")
    if channel not in CHANNELS:
        raise SurveyError("channel 应为 " + "、".join(CHANNELS) + " 之一")
    if channel == "phone" and user is None:
        raise SurveyError("电话问卷只能由回访员在后台填写")
    try:
        created_at = fields.tap_time(body, now, bounds)
    except InputError as exc:
        raise SurveyError(exc.message) from None
    # Answered while it was open (queued offline the evening it closed) still counts.
    tapped = clock.to_local(created_at, bounds.tz).date()
    if not (is_active(survey, today) or is_active(survey, tapped)):
        raise SurveyError("本问卷不在填写期内", status=404)
    version = _version_for(survey, body.get("version"))
    answers = validate_answers(version.definition, body.get("answers"))
    if not answers:
        raise SurveyError("请至少回答一道题")
    window_id = _window_id(body.get("window"))
    key = respondent_key(version, respondent) if respondent else None
    if key is not None and _answered(version, key):
        raise AlreadyAnswered()
    response = SurveyResponse(
        client_id=cid, version_id=version.id, channel=channel, window_id=window_id,
        case_id=getattr(case, "id", None), respondent=key, answers=answers,
        created_at=created_at, received_at=now, taken_by_id=getattr(user, "id", None))
    db.session.add(response)
    try:
        db.session.flush()
    except IntegrityError:
        # Another server stored this client_id (or this phone's answer) a moment ago.
        db.session.rollback()
        old = _by_client_id(cid)
        if old is not None:
            return old, False
        if key is not None and _answered(version, key):
            raise AlreadyAnswered() from None
        raise
    return response, True


def _by_client_id(cid: str) -> SurveyResponse | None:
    return db.session.scalar(sa.select(SurveyResponse).where(SurveyResponse.client_id == cid))


def _answered(version: SurveyVersion, key: str) -> bool:
    return db.session.scalar(sa.select(SurveyResponse.id).where(
        SurveyResponse.version_id == version.id, SurveyResponse.respondent == key)) is not None


def answered_by(version: SurveyVersion, cookie: str) -> bool:
    """Whether the phone with this first-party cookie has answered ``version``."""
    return _answered(version, respondent_key(version, cookie))


def _version_for(survey: Survey, number: Any) -> SurveyVersion:
    """The version the page showed when it exists (answers keep their wording), else
    the current one."""
    if isinstance(number, int) and not isinstance(number, bool):
        shown = version_of(survey, number)
        if shown is not None:
            return shown
    version = version_of(survey)
    if version is None:
        raise SurveyError("本问卷尚未发布", status=404)
    return version


def _window_id(code: Any) -> int | None:
    if code in (None, ""):
        return None
    if not isinstance(code, str):
        raise SurveyError("window 应为窗口编号（文字）")
    found = db.session.scalar(sa.select(Window.id).where(Window.code == code))
    if found is None:
        raise SurveyError(f"没有编号为 {code} 的窗口", status=404)
    return found


def responses_count(version: SurveyVersion) -> int:
    """How many responses ``version`` has (the builder says so before a new version)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse).where(
        SurveyResponse.version_id == version.id)) or 0


# --- the poster -------------------------------------------------------------------------

POSTER_ZH = "请用手机扫描二维码，参与问卷调查"
POSTER_EN = "Scan the QR code with your phone to answer the questionnaire."


def poster_pdf(version: SurveyVersion, url: str, draft: bool = False) -> bytes:
    """An A4 poster of a questionnaire: its title, its QR code (``url``) and what to
    do, in Chinese as real text (the window posters' look and font, kiosk/qr.py).
    ``draft`` marks one made without ``PUBLIC_BASE_URL``."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from . import fonts, qr

    definition = version.definition
    fig = Figure(figsize=qr.A4_INCHES)
    font = fonts.font_properties
    fig.add_artist(Rectangle((0, 0.895), 1, 0.105, transform=fig.transFigure,
                             color=qr.POSTER_INK, zorder=0))
    fig.text(0.5, 0.958, "问卷调查", ha="center", va="center", color="white",
             fontproperties=font(24))
    fig.text(0.5, 0.918, "政务服务“好差评” · 倾听群众声音", ha="center", va="center",
             color="white", fontproperties=font(13))
    title, size = qr._fit(definition["title"]["zh"], 30, lines=2)
    fig.text(0.5, 0.835, title, ha="center", va="center", ma="center",
             color=qr.POSTER_INK, linespacing=1.25, fontproperties=font(min(size, 26)))
    count = f"共 {len(definition['questions'])} 题 · 匿名填写 · 约 " \
        f"{minutes_to_answer(definition)} 分钟"
    fig.text(0.5, 0.768, count, ha="center", va="center", color="#333333",
             fontproperties=font(15))
    qr.place_code(fig, url, font(9))
    fig.text(0.5, 0.240, POSTER_ZH, ha="center", va="center", color="black",
             fontproperties=font(21))
    fig.text(0.5, 0.190, POSTER_EN, ha="center", va="center", color="#444444",
             fontproperties=font(12))
    fig.text(0.5, 0.060, "您的每一条意见都会送达服务监督部门，感谢您的参与！",
             ha="center", va="center", color="#666666", fontproperties=font(11))
    if draft:
        qr.mark_draft(fig, url, font(10))
    out = io.BytesIO()
    with fonts.pdf_with_real_text(), PdfPages(out, metadata={
            "Title": f"问卷调查 {definition['title']['zh']}", "Creator": "kiosk"}) as pdf:
        pdf.savefig(fig)
    return out.getvalue()
