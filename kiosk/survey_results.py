"""Questionnaire results (问卷结果): counts, percentages and means per question, the
free-text answers, and the CSV of one published version, all over one filter.

Answers belong to the version they answered (kiosk/surveys.py), so results are always
of one ``SurveyVersion``: option ids and question ids mean one thing within it. The
admin pages, ``results.json`` / ``results.csv`` and the monthly bulletin read the same
functions. Numbers typed into a free-text answer are masked wherever answers leave
this module (PIPL: only callers see a citizen's number, and not from here).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import clock
from .db import db
from .league import half_up
from .models import Survey, SurveyResponse, SurveyVersion, Window
from .privacy import mask_phone
from .scale import CHANNELS, SCORES

TYPES = ("scale", "single", "multi", "text")
LEVEL_KEYS = tuple(str(level) for level in sorted(SCORES))  # "1" … "5"
CSV_HEAD = ("id", "client_id", "created_at", "channel", "window")
MULTI_JOIN = ";"
# A number someone typed into a free-text answer: a mainland mobile or landline, with
# the separators people type, not inside a longer run of digits.
TYPED_NUMBER = re.compile(r"(?<![\d+])(?:\+?86[\s-]?)?(1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}|0\d{2,3}[\s-]?\d{7,8})(?!\d)")


@dataclass(frozen=True)
class ResultFilter:
    """Which responses: by channel, window and hall-time dates (both inclusive)."""

    channel: str | None = None
    window_id: int | None = None
    first: date | None = None
    last: date | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.channel, self.window_id, self.first,
                                           self.last))


class BadFilter(ValueError):
    """A results filter that names nothing (400), or a version that is not there (404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_filter(survey: Survey, args: Mapping[str, str], session: Session
                 ) -> tuple[SurveyVersion, ResultFilter]:
    """The version (``version=N``, else the current one) and the filter that query
    arguments ask for: ``channel``, ``window`` (code), ``from`` and ``to`` (hall-time
    dates); BadFilter if they name nothing."""
    raw = args.get("version", "").strip()
    if raw:
        if not raw.isdigit():
            raise BadFilter(f"version 应为版本号，收到 {raw!r}")
        wanted = int(raw)
    elif survey.current_version is None:
        raise BadFilter("此问卷尚未发布，还没有结果", 404)
    else:
        wanted = survey.current_version
    version = next((v for v in survey.versions if v.number == wanted), None)
    if version is None:
        raise BadFilter(f"此问卷没有第 {wanted} 版", 404)
    channel = args.get("channel", "").strip() or None
    if channel is not None and channel not in CHANNELS:
        raise BadFilter(f"未知的渠道 {channel!r}")
    window_id = None
    code = args.get("window", "").strip()
    if code:
        window_id = session.scalar(sa.select(Window.id).where(Window.code == code))
        if window_id is None:
            raise BadFilter(f"没有窗口 {code!r}")
    days = []
    for name in ("from", "to"):
        raw = args.get(name, "").strip()
        try:
            days.append(date.fromisoformat(raw) if raw else None)
        except ValueError:
            raise BadFilter(f"日期“{raw}”格式不正确，应为 YYYY-MM-DD") from None
    if days[0] and days[1] and days[0] > days[1]:
        raise BadFilter("开始日期晚于结束日期")
    return version, ResultFilter(channel, window_id, days[0], days[1])


@dataclass(frozen=True)
class TextAnswer:
    """One free-text answer as the results page lists it."""

    response_id: int
    created_at: datetime  # naive UTC
    channel: str
    window: str | None  # code
    text: str


def zh(text: object) -> str:
    """The Chinese of a questionnaire text (``{"zh", "en"?}`` or a plain string)."""
    if isinstance(text, dict):
        return str(text.get("zh") or text.get("en") or "")
    return "" if text is None else str(text)


def mask_numbers(text: str) -> str:
    """``text`` with every phone number in it masked as a page shows numbers."""
    return TYPED_NUMBER.sub(lambda m: mask_phone(re.sub(r"[\s-]", "", m.group(1))) or "",
                            text)


def questions(version: SurveyVersion) -> list[dict]:
    return list(version.definition.get("questions") or [])


def options(question: dict) -> list[dict]:
    return list(question.get("options") or [])


def is_answered(value: object) -> bool:
    return value is not None and value != "" and value != []


def _where(version: SurveyVersion, flt: ResultFilter, tz: ZoneInfo) -> list:
    where = [SurveyResponse.version_id == version.id]
    if flt.channel:
        where.append(SurveyResponse.channel == flt.channel)
    if flt.window_id is not None:
        where.append(SurveyResponse.window_id == flt.window_id)
    start, end = clock.day_range_utc(flt.first, flt.last, tz)
    if start is not None:
        where.append(SurveyResponse.created_at >= start)
    if end is not None:
        where.append(SurveyResponse.created_at < end)
    return where


def _rows(version: SurveyVersion, flt: ResultFilter, tz: ZoneInfo,
          newest_first: bool = False) -> Iterator[sa.Row]:
    """(id, client_id, created_at, channel, window code, answers) of the responses."""
    order = (SurveyResponse.created_at.desc(), SurveyResponse.id.desc()) if newest_first \
        else (SurveyResponse.created_at, SurveyResponse.id)
    stmt = (sa.select(SurveyResponse.id, SurveyResponse.client_id, SurveyResponse.created_at,
                      SurveyResponse.channel, Window.code, SurveyResponse.answers)
            .outerjoin(Window, SurveyResponse.window_id == Window.id)
            .where(*_where(version, flt, tz)).order_by(*order))
    return iter(db.session.execute(stmt))


def results(version: SurveyVersion, *, channel: str | None = None,
            window_id: int | None = None, first: date | None = None,
            last: date | None = None, tz: ZoneInfo) -> dict:
    """The ``results.json`` document of CONTRACT.md for ``version`` over the filter,
    plus ``title``, each question's Chinese ``text`` and ``percent`` (of the responses
    that answered it; a multiple choice's add up to more than 100) and, for a text
    question, its ``texts`` (newest first, numbers masked)."""
    flt = ResultFilter(channel, window_id, first, last)
    qs = questions(version)
    tallies = {q["id"]: _Tally(q) for q in qs}
    total = 0
    for row in _rows(version, flt, tz, newest_first=True):
        total += 1
        answers = row.answers or {}
        for qid, tally in tallies.items():
            tally.add(answers.get(qid))
    return {"slug": version.survey.slug, "version": version.number,
            "title": zh(version.definition.get("title")) or version.title,
            "responses": total,
            "questions": [tallies[q["id"]].as_dict() for q in qs]}


class _Tally:
    """One question's counts as responses are read."""

    def __init__(self, question: dict) -> None:
        self.question = question
        self.type = question.get("type")
        self.answered = 0
        keys = LEVEL_KEYS if self.type == "scale" else [o["id"] for o in options(question)]
        self.counts: dict[str, int] = {key: 0 for key in keys}
        self.level_sum = 0
        self.texts: list[str] = []

    def add(self, value: object) -> None:
        if not is_answered(value):
            return
        self.answered += 1
        if self.type == "text":
            self.texts.append(mask_numbers(str(value)))
            return
        chosen = value if isinstance(value, list) else [value]
        for choice in dict.fromkeys(str(c) for c in chosen):  # once each, in order
            # A key not in the version (never stored by surveys.submit) still shows.
            self.counts[choice] = self.counts.get(choice, 0) + 1
        if self.type == "scale" and isinstance(value, int):
            self.level_sum += value

    def as_dict(self) -> dict:
        doc: dict = {"id": self.question["id"], "type": self.type,
                     "text": zh(self.question.get("text")), "answered": self.answered}
        if self.type == "text":
            doc["texts"] = self.texts
            return doc
        doc["counts"] = dict(self.counts)
        doc["percent"] = {key: (half_up(Fraction(100 * n, self.answered), 1)
                                if self.answered else None)
                          for key, n in self.counts.items()}
        if self.type == "scale":
            doc["mean"] = (half_up(Fraction(self.level_sum, self.answered), 2)
                           if self.answered else None)
        return doc


def text_answers(version: SurveyVersion, question_id: str, flt: ResultFilter,
                 tz: ZoneInfo, search: str | None = None,
                 limit: int = 100) -> tuple[int, list[TextAnswer]]:
    """The free-text answers to ``question_id`` that contain ``search`` (any case),
    newest first: how many match, and the first ``limit`` of them."""
    needle = (search or "").strip().casefold()
    found: list[TextAnswer] = []
    matched = 0
    for row in _rows(version, flt, tz, newest_first=True):
        value = (row.answers or {}).get(question_id)
        if not is_answered(value):
            continue
        text = mask_numbers(str(value))
        if needle and needle not in text.casefold():
            continue
        matched += 1
        if len(found) < limit:
            found.append(TextAnswer(row.id, row.created_at, row.channel, row.code, text))
    return matched, found


def csv_header(version: SurveyVersion) -> list[str]:
    """``id, client_id, created_at, channel, window``, then one column per question."""
    return [*CSV_HEAD, *(q["id"] for q in questions(version))]


def csv_rows(version: SurveyVersion, flt: ResultFilter, tz: ZoneInfo) -> Iterator[list]:
    """One row per response, oldest first: a scale answer as its level, a choice as
    its option id, several choices joined by ``;``, a text as typed (numbers masked);
    ``created_at`` in ISO 8601 with the hall's offset, as the ratings export."""
    qids = [q["id"] for q in questions(version)]
    for row in _rows(version, flt, tz):
        answers = row.answers or {}
        cells: list = [row.id, row.client_id, clock.to_local(row.created_at, tz).isoformat(),
                       row.channel, row.code or ""]
        for qid in qids:
            value = answers.get(qid)
            if not is_answered(value):
                cells.append("")
            elif isinstance(value, list):
                cells.append(MULTI_JOIN.join(str(v) for v in value))
            elif isinstance(value, str):
                cells.append(mask_numbers(value))
            else:
                cells.append(value)
        yield cells


def response_counts(version_ids: list[int]) -> dict[int, int]:
    """How many responses each version has."""
    if not version_ids:
        return {}
    return dict(db.session.execute(
        sa.select(SurveyResponse.version_id, sa.func.count())
        .where(SurveyResponse.version_id.in_(version_ids))
        .group_by(SurveyResponse.version_id)).all())
