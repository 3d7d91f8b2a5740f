"""The monthly bulletin (月度通报): one A4 PDF for the hall's monthly meeting.

Every figure is read through the functions the pages use, so the bulletin and the
pages never disagree: the window and staff tables are the monthly assessment
(kiosk/league.py, as /admin/assessment.json), the follow-up rates are
kiosk/casestats.py's (the assessment's ``followups``), the reasons and the heatmap
are the dashboard's (kiosk/glance.py, kiosk/charts.py), the suggestions are counted
with the inbox's filter (kiosk/inbox.py) and the questionnaires with
kiosk/survey_results.py. This module only gathers and lays them out.

The PDF is drawn with ReportLab: tables that wrap Chinese and run over pages with
their header repeated, and real text (the figures can be searched and copied). The
bundled CJK font has no Latin letters or digits, so text is written in runs: Latin
and digits in DejaVu Sans (shipped inside matplotlib), everything else in Droid Sans
Fallback, as the charts draw it.
"""
from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import casestats, charts, clock, fonts, glance
from . import league as leagues
from .db import utcnow
from .inbox import InboxFilter
from .models import Appeal, Hall, Rating, Suggestion, Survey
from .surveys import open_between, version_of

TREND_WEEKS = 12
TOP_REASONS = 8
SURVEY_TEXTS = 3  # free-text answers quoted per question
DASH = "—"
APPEAL_LABELS = {"upheld": "成立", "rejected": "驳回", "pending": "待复核",
                 "reversed": "撤销改判"}


# -- the figures -----------------------------------------------------------------------

@dataclass(frozen=True)
class AppealFigures:
    """Appeals (申诉复核) filed in the month, by their status now."""

    filed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SuggestionFigures:
    """Suggestions (意见建议) received in the month and how many are handled by now."""

    received: int = 0
    handled: int = 0

    @property
    def handled_rate(self) -> float | None:
        if not self.received:
            return None
        return leagues.half_up(Fraction(100 * self.handled, self.received), 1)


@dataclass(frozen=True)
class QuestionHighlight:
    text: str
    kind: str
    answered: int
    mean: float | None = None  # scale questions
    top: list[tuple[str, int, float | None]] = field(default_factory=list)  # label, n, %
    texts: list[str] = field(default_factory=list)  # free-text answers quoted


@dataclass(frozen=True)
class SurveyHighlight:
    title: str
    slug: str
    version: int
    responses: int
    questions: list[QuestionHighlight]


@dataclass
class Bulletin:
    """Everything the PDF shows about one month."""

    hall: str
    month: leagues.Period
    made_at: datetime  # hall time
    windows: leagues.League
    window_rows: list[dict]  # the assessment rows, as assessment.json answers them
    staff: leagues.League
    staff_rows: list[dict]
    this: glance.Totals
    before: glance.Totals
    followups: casestats.CaseStats
    followups_before: casestats.CaseStats
    trend: leagues.Trend
    heat: charts.Heatmap
    reasons: list[glance.ReasonCount]
    appeals: AppealFigures
    suggestions: SuggestionFigures
    surveys: list[SurveyHighlight] = field(default_factory=list)

    @property
    def top_window(self) -> dict | None:
        """The first ranked row of the window table."""
        return next((r for r in self.window_rows if r["rank"] is not None), None)

    def marked(self, mark: str) -> list[dict]:
        return [r for r in self.window_rows if r["mark"] == mark]


def table_totals(table: leagues.League) -> glance.Totals:
    """The counted ratings of a whole table, per level: its rows summed."""
    counts = dict.fromkeys(leagues.LEVELS, 0)
    for row in table.rows:
        for level, n in row.levels.items():
            counts[level] += n
    return glance.Totals({lv: n for lv, n in counts.items() if n})


def hall_name(session, hall_id: int | None) -> str:
    """The hall's name; with no hall chosen, the only hall's (the board's rule)."""
    if hall_id is not None:
        hall = session.get(Hall, hall_id)
        if hall is None:
            raise ValueError(f"没有编号为 {hall_id} 的大厅 (no hall {hall_id})")
        return hall.name
    names = list(session.scalars(sa.select(Hall.name).order_by(Hall.id)))
    return names[0] if len(names) == 1 else "政务服务大厅"


def appeal_figures(session, start: datetime, end: datetime,
                   scope: glance.Scope) -> AppealFigures:
    """Appeals filed in [start, end) (naive UTC) against the scope's windows."""
    rows = session.execute(
        sa.select(Appeal.status, sa.func.count())
        .join(Rating, Rating.id == Appeal.rating_id)
        .where(Appeal.filed_at >= start, Appeal.filed_at < end,
               *scope.where(Rating.window_id))
        .group_by(Appeal.status))
    by_status = {status: int(n) for status, n in rows}
    return AppealFigures(sum(by_status.values()), by_status)


def suggestion_figures(session, month: leagues.Period, tz: ZoneInfo,
                       scope: glance.Scope) -> SuggestionFigures:
    """Suggestions of the month (the inbox's date filter) and those handled by now.
    With a hall chosen, suggestions left at no window are the hall's only when there
    is a single hall."""
    def count(status: str) -> int:
        where = InboxFilter(status=status, first=month.first, last=month.last).conditions(tz)
        if scope.hall_id is not None and session.scalar(sa.select(sa.func.count(Hall.id))) > 1:
            where.append(Suggestion.window_id.in_(scope.window_ids()))
        return session.scalar(sa.select(sa.func.count(Suggestion.id)).where(*where)) or 0

    return SuggestionFigures(count("all"), count("handled"))


def survey_highlights(session, month: leagues.Period, tz: ZoneInfo) -> list[SurveyHighlight]:
    """Per questionnaire answered in the month: its current version's results over the
    month (kiosk/survey_results.py, the results page's numbers)."""
    from . import survey_results

    out = []
    surveys = session.scalars(sa.select(Survey).where(Survey.current_version.is_not(None))
                              .order_by(Survey.slug))
    for survey in surveys:
        if not open_between(survey, month.first, month.last):
            continue
        version = version_of(survey)
        if version is None:
            continue
        data = survey_results.results(version, first=month.first, last=month.last, tz=tz)
        if not data["responses"]:
            continue
        out.append(SurveyHighlight(version.title, survey.slug, version.number,
                                   data["responses"], _question_highlights(version, data)))
    return out


def _question_highlights(version, data: dict) -> list[QuestionHighlight]:
    from . import survey_results

    asked = {q["id"]: q for q in survey_results.questions(version)}
    out = []
    for result in data["questions"]:
        question = asked.get(result["id"], {})
        text = result["text"]
        kind = result["type"]
        percent = result.get("percent") or {}
        top: list[tuple[str, int, float | None]] = []
        if kind in ("single", "multi"):
            labels = {o["id"]: survey_results.zh(o["text"])
                      for o in survey_results.options(question)}
            counts = result.get("counts") or {}
            ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
            top = [(labels.get(key, key), n, percent.get(key)) for key, n in ranked if n]
        texts = (result.get("texts") or [])[:SURVEY_TEXTS]  # masked by results()
        out.append(QuestionHighlight(text, kind, result["answered"], result.get("mean"),
                                     top, texts))
    return out


def bulletin(session, month: leagues.Period, tz: ZoneInfo, *, hall_id: int | None = None,
             prior: float = 10, now: datetime | None = None,
             with_surveys: bool = True) -> Bulletin:
    """The bulletin of ``month`` for one hall (all halls without ``hall_id``)."""
    if month.kind != "month":
        raise ValueError("the bulletin covers a calendar month")
    now = now or utcnow()
    name = hall_name(session, hall_id)
    scope = glance.Scope(hall_id=hall_id)
    previous = month.previous()
    windows = leagues.league_table(session, month, tz, hall_id=hall_id, prior=prior)
    staff = leagues.league_table(session, month, tz, by="staff", hall_id=hall_id,
                                 prior=prior)
    before = leagues.league_table(session, previous, tz, hall_id=hall_id, prior=prior)
    figures = casestats.for_table(session, windows, tz, hall_id=hall_id)
    figures_before = casestats.for_table(session, before, tz, hall_id=hall_id)
    staff_figures = casestats.for_table(session, staff, tz, hall_id=hall_id)
    start, end = month.utc_range(tz)
    last_week = leagues.period_of("week", month.last)
    return Bulletin(
        hall=name, month=month, made_at=clock.to_local(now, tz),
        windows=windows, window_rows=casestats.league_rows(windows, figures),
        staff=staff, staff_rows=casestats.league_rows(staff, staff_figures),
        this=table_totals(windows), before=table_totals(before),
        followups=figures.overall, followups_before=figures_before.overall,
        trend=leagues.satisfaction_trend(session, last_week, TREND_WEEKS, hall_id=hall_id),
        heat=charts.heatmap_counts(start, end, tz, leagues.window_ids(session, hall_id)),
        reasons=glance.top_reasons(session, start, end, scope, limit=TOP_REASONS),
        appeals=appeal_figures(session, start, end, scope),
        suggestions=suggestion_figures(session, month, tz, scope),
        surveys=survey_highlights(session, month, tz) if with_surveys else [])


def make_report(session, month: leagues.Period, tz: ZoneInfo, **options) -> bytes:
    """The bulletin of ``month`` as PDF bytes (``options``: those of ``bulletin``)."""
    return render_pdf(bulletin(session, month, tz, **options))


# -- fonts and text runs -----------------------------------------------------------------

LATIN = "KioskLatin"
LATIN_BOLD = "KioskLatinBold"
CJK = "KioskCJK"
_font_lock = threading.Lock()


@lru_cache(maxsize=1)
def _latin_points() -> frozenset[int]:
    from reportlab.pdfbase import pdfmetrics

    return frozenset(pdfmetrics.getFont(LATIN).face.charToGlyph)


def register_fonts() -> None:
    """Register the two fonts with ReportLab once per process."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _font_lock:
        if CJK in pdfmetrics.getRegisteredFontNames():
            return
        latin = _latin_file()
        pdfmetrics.registerFont(TTFont(LATIN, str(latin)))
        pdfmetrics.registerFont(TTFont(LATIN_BOLD, str(latin.with_name("DejaVuSans-Bold.ttf"))))
        pdfmetrics.registerFont(TTFont(CJK, str(fonts.FONT_PATH)))


def _latin_file():
    from pathlib import Path

    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def runs(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_latin) runs by the font that can draw each char."""
    points = _latin_points()
    out: list[tuple[str, bool]] = []
    for char in text:
        latin = ord(char) in points
        if out and out[-1][1] == latin:
            out[-1] = (out[-1][0] + char, latin)
        else:
            out.append((char, latin))
    return out


def markup(text: str, bold: bool = False) -> str:
    """Paragraph markup drawing ``text`` in the right font run by run."""
    latin = LATIN_BOLD if bold else LATIN
    return "".join(f'<font name="{latin if is_latin else CJK}">{escape(piece)}</font>'
                   for piece, is_latin in runs(text))


def _draw(canvas, x: float, y: float, text: str, size: float, align: str = "left") -> None:
    """Draw one line of mixed text on the page canvas (headers and footers)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    pieces = [(piece, LATIN if is_latin else CJK) for piece, is_latin in runs(text)]
    width = sum(stringWidth(p, f, size) for p, f in pieces)
    if align == "right":
        x -= width
    elif align == "center":
        x -= width / 2
    for piece, font in pieces:
        canvas.setFont(font, size)
        canvas.drawString(x, y, piece)
        x += stringWidth(piece, font, size)


# -- formatting --------------------------------------------------------------------------

def num(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return DASH
    return f"{value:.{digits}f}" if digits else str(value)


def pct(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}%"


def change(now: float | int | None, before: float | int | None, digits: int = 1,
           unit: str = "") -> str:
    """``+1.3`` / ``-0.5`` / ``持平`` from the figures as shown (rounded) values."""
    if now is None or before is None:
        return DASH
    delta = Decimal(str(now)) - Decimal(str(before))
    if not delta:
        return "持平"
    text = f"{delta:+.{digits}f}" if digits else f"{int(delta):+d}"
    return text + unit


def rank_change(value: int | None) -> str:
    if value is None:
        return DASH
    if value > 0:
        return f"↑{value}"
    if value < 0:
        return f"↓{-value}"
    return "0"


# -- the PDF -----------------------------------------------------------------------------

_PAGE_MARGIN_MM = 16


def render_pdf(b: Bulletin) -> bytes:
    """The bulletin as an A4 PDF."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    register_fonts()
    out = io.BytesIO()
    margin = _PAGE_MARGIN_MM * mm
    title = f"{b.hall}“好差评”月度通报（{b.month.title}）"
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=margin, rightMargin=margin,
                            topMargin=margin + 4 * mm, bottomMargin=margin,
                            title=title, author=b.hall, subject="月度通报",
                            creator="kiosk report")

    def decorate(canvas, doc) -> None:
        width, height = A4
        canvas.saveState()
        canvas.setFillColorRGB(0.4, 0.4, 0.4)
        _draw(canvas, margin, height - margin + 1 * mm,
              f"{b.hall} · 月度通报 · {b.month.title}", 8)
        _draw(canvas, width - margin, margin - 8 * mm, f"第 {doc.page} 页", 8, "right")
        _draw(canvas, margin, margin - 8 * mm,
              f"生成于 {b.made_at:%Y-%m-%d %H:%M}", 8)
        canvas.restoreState()

    doc.build(_story(b, doc.width), onFirstPage=decorate, onLaterPages=decorate)
    return out.getvalue()


@lru_cache(maxsize=1)
def _styles() -> dict:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("body", fontName=CJK, fontSize=10, leading=15, wordWrap="CJK",
                          textColor=colors.HexColor("#222222"))
    return {
        "body": base,
        "title": ParagraphStyle("title", base, fontSize=18, leading=24, alignment=TA_CENTER,
                                textColor=colors.HexColor("#b0171f"), spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", base, fontSize=10.5, alignment=TA_CENTER,
                                   textColor=colors.HexColor("#555555"), spaceAfter=10),
        "h1": ParagraphStyle("h1", base, fontSize=13, leading=18, spaceBefore=12,
                             spaceAfter=6, textColor=colors.HexColor("#1d3f73")),
        "cell": ParagraphStyle("cell", base, fontSize=8, leading=10),
        "head": ParagraphStyle("head", base, fontSize=8, leading=10,
                               textColor=colors.white),
        "note": ParagraphStyle("note", base, fontSize=8.5, leading=12,
                               textColor=colors.HexColor("#555555")),
    }


def _p(text: str, style: str = "body", bold: bool = False):
    from reportlab.platypus import Paragraph

    return Paragraph(markup(text, bold), _styles()[style])


CELL_SIZE = 8
CELL_PADDING = 3  # points each side


def _cell(value, width: float) -> tuple[object, bool]:
    """A table cell and whether it is drawn in the CJK font. Text in one font is a
    plain string (broken into lines here for CJK), drawn by the table itself; only
    mixed text is a Paragraph, which costs ten times more to lay out (a year's staff
    table has thousands of cells)."""
    text = DASH if value is None else str(value)
    pieces = runs(text)
    if all(latin for _, latin in pieces):
        return text, False
    if len(pieces) == 1:
        return _wrap(text, CJK, CELL_SIZE, width - 2 * CELL_PADDING), True
    return _runs_cell()(pieces, CELL_SIZE), False


@lru_cache(maxsize=1)
def _runs_cell():
    """The class of a table cell of mixed text: its runs drawn straight on the canvas,
    wrapped between any two characters (what a Paragraph would do, far cheaper)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Flowable

    class RunsCell(Flowable):
        def __init__(self, pieces: list[tuple[str, bool]], size: float) -> None:
            super().__init__()
            self.size, self.leading = size, size * 1.2
            self.chars = [(char, LATIN if latin else CJK) for piece, latin in pieces
                          for char in piece]
            self.lines: list[list[tuple[str, str, float]]] = []

        def wrap(self, avail_width, avail_height):
            self.lines, line, used, widest = [], [], 0.0, 0.0
            for char, font in self.chars:
                w = stringWidth(char, font, self.size)
                if line and used + w > avail_width:
                    self.lines.append(line)
                    widest = max(widest, used)
                    line, used = [], 0.0
                line.append((char, font, w))
                used += w
            self.lines.append(line)
            self.width = max(widest, used)
            self.height = self.leading * len(self.lines)
            return self.width, self.height

        def draw(self):
            canvas = self.canv
            for i, line in enumerate(self.lines):
                x, y = 0.0, self.height - self.leading * i - self.size
                start = 0
                for end in range(1, len(line) + 1):  # one string per run of a font
                    if end < len(line) and line[end][1] == line[start][1]:
                        continue
                    canvas.setFont(line[start][1], self.size)
                    canvas.drawString(x, y, "".join(c for c, _, _ in line[start:end]))
                    x += sum(w for _, _, w in line[start:end])
                    start = end

    return RunsCell


def _wrap(text: str, font: str, size: float, width: float) -> str:
    """``text`` with a line break wherever the next character would pass ``width``
    (Chinese breaks between any two characters)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines, line = [], ""
    for char in text:
        if line and stringWidth(line + char, font, size) > width:
            lines.append(line)
            line = char
        else:
            line += char
    lines.append(line)
    return "\n".join(lines)


def _table(header: list[str], rows: list[list], widths: list[float], *,
           marks: list[str | None] | None = None, numeric_from: int = 0):
    """A table whose header repeats on every page; rows tinted by their mark."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    data: list[list] = [[_p(h, "head") for h in header]]
    cjk = []
    for r, row in enumerate(rows, 1):
        cells = []
        for c, value in enumerate(row):
            cell, in_cjk = _cell(value, widths[c])
            cells.append(cell)
            if in_cjk:
                cjk.append(("FONTNAME", (c, r), (c, r), CJK))
        data.append(cells)
    table = Table(data, colWidths=widths, repeatRows=1)
    style = [
        ("FONTNAME", (0, 1), (-1, -1), LATIN),
        ("FONTSIZE", (0, 1), (-1, -1), CELL_SIZE),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1d3f73")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#c8ced8")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f4f6f9")]),
        *cjk,
    ]
    if numeric_from:
        style.append(("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"))
    tints = {"red_flag": colors.HexColor("#fde2e2"), "laggard": colors.HexColor("#e8e8e8")}
    for i, mark in enumerate(marks or (), 1):
        if mark in tints:
            style.append(("BACKGROUND", (0, i), (-1, i), tints[mark]))
    table.setStyle(TableStyle(style))
    return table


def _story(b: Bulletin, width: float) -> list:
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    story = [_p(f"{b.hall}政务服务“好差评”月度通报", "title"),
             _p(f"{b.month.title}（{b.month.first:%Y-%m-%d} 至 {b.month.last:%Y-%m-%d}）",
                "subtitle")]
    story += _overview(b, width)
    story += _window_league(b, width)
    story += _staff_table(b, width)
    story += _charts(b, width)
    story += _reasons(b, width)
    story += _followups(b, width)
    story += _appeals_and_suggestions(b)
    story += _surveys(b)
    story.append(Spacer(1, 6 * mm))
    story.append(_p("说明：统计口径与后台“月考核”页面一致，只计有效评价（不含判定为误操作、"
                    "申诉成立的评价）。满意度 = 各评价（分值−1）×25 的平均值；综合得分按"
                    f"贝叶斯平均（先验权重 {b.windows.prior:g}）计算。", "note"))
    return story


def _overview(b: Bulletin, width: float) -> list:
    this, before = b.this.as_json(), b.before.as_json()
    top = b.top_window
    month, previous = b.month.title, b.month.previous().title
    lines = [f"本月（{month}）共收到有效评价 {this['ratings']} 条，"
             f"满意度 {num(this['satisfaction'])}，好评率 {pct(this['good_rate'])}，"
             f"差评 {this['bad']} 条。"]
    if before["ratings"]:
        lines.append(f"上月（{previous}）有效评价 {before['ratings']} 条，"
                     f"满意度 {num(before['satisfaction'])}。")
    if top is not None:
        lines.append(f"本月排名第一的窗口：{top['window']} {top['name']}"
                     f"（{top['department']}，满意度 {num(top['satisfaction'])}，"
                     f"综合得分 {num(top['score'], 2)}）。")
    f_now, f_before = b.followups.as_dict(), b.followups_before.as_dict()
    rows = [
        ["有效评价（条）", this["ratings"], before["ratings"],
         change(this["ratings"], before["ratings"], 0)],
        ["差评（条）", this["bad"], before["bad"], change(this["bad"], before["bad"], 0)],
        ["满意度", num(this["satisfaction"]), num(before["satisfaction"]),
         change(this["satisfaction"], before["satisfaction"])],
        ["好评率", pct(this["good_rate"]), pct(before["good_rate"]),
         change(this["good_rate"], before["good_rate"], unit="%")],
        ["差评回访率", pct(f_now["callback_rate"]), pct(f_before["callback_rate"]),
         change(f_now["callback_rate"], f_before["callback_rate"], unit="%")],
        ["按时办结率", pct(f_now["on_time_rate"]), pct(f_before["on_time_rate"]),
         change(f_now["on_time_rate"], f_before["on_time_rate"], unit="%")],
    ]
    w = width / 4
    return [_p("一、本月概况", "h1"), *(_p(line) for line in lines),
            _spacer(),
            _table(["指标", f"本月（{month}）", f"上月（{previous}）", "变化"], rows,
                   [w] * 4, numeric_from=1)]


def _spacer(height_mm: float = 3):
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    return Spacer(1, height_mm * mm)


def _names(rows: list[dict]) -> str:
    return "、".join(f"{r['window']} {r['name']}" for r in rows) or "无"


def _window_league(b: Bulletin, width: float) -> list:
    labels = leagues.MARK_LABELS["window"]
    ranked = sum(1 for r in b.window_rows if r["rank"] is not None)
    intro = [_p(f"参与排名窗口 {ranked} 个。{labels['red_flag']}：{_names(b.marked('red_flag'))}；"
                f"{labels['laggard']}：{_names(b.marked('laggard'))}。")]
    header = ["排名", "升降", "窗口", "名称", "部门", "评价", "差评", "满意度", "好评率",
              "得分", "回访率", "按时率", "标记"]
    rows = [[r["rank"] or DASH, rank_change(r["rank_change"]), r["window"], r["name"],
             r["department"], r["ratings"], r["bad"], num(r["satisfaction"]),
             pct(r["good_rate"]), num(r["score"], 2), pct(r["callback_rate"]),
             pct(r["on_time_rate"]), labels.get(r["mark"] or "", "")]
            for r in b.window_rows]
    fractions = [0.045, 0.045, 0.06, 0.15, 0.11, 0.055, 0.05, 0.065, 0.075, 0.06, 0.075,
                 0.075, 0.08]
    widths = [width * f / sum(fractions) for f in fractions]
    return [_p("二、窗口月考核排名", "h1"), *intro, _spacer(),
            _table(header, rows, widths, marks=[r["mark"] for r in b.window_rows],
                   numeric_from=5)]


def _clerks(rows: list[dict]) -> str:
    return "、".join(f"{r['staff']}（{r['staff_no']}）" for r in rows) or "无"


def _staff_table(b: Bulletin, width: float) -> list:
    labels = leagues.MARK_LABELS["staff"]
    header = ["排名", "升降", "工号", "姓名", "部门", "窗口", "评价", "差评", "满意度",
              "好评率", "得分", "回访率", "标记"]
    rows = [[r["rank"] or DASH, rank_change(r["rank_change"]), r["staff_no"], r["staff"],
             r["department"], r["windows"], r["ratings"], r["bad"], num(r["satisfaction"]),
             pct(r["good_rate"]), num(r["score"], 2), pct(r["callback_rate"]),
             labels.get(r["mark"] or "", "")]
            for r in b.staff_rows]
    fractions = [0.045, 0.045, 0.07, 0.075, 0.11, 0.1, 0.055, 0.05, 0.065, 0.075, 0.06,
                 0.075, 0.07]
    widths = [width * f / sum(fractions) for f in fractions]
    best = [r for r in b.staff_rows if r["mark"] == "red_flag"]
    worst = [r for r in b.staff_rows if r["mark"] == "laggard"]
    return [_p("三、窗口工作人员考核", "h1"),
            _p(f"{labels['red_flag']}：{_clerks(best)}；{labels['laggard']}：{_clerks(worst)}。"),
            _spacer(),
            _table(header, rows, widths, marks=[r["mark"] for r in b.staff_rows],
                   numeric_from=6)]


def _charts(b: Bulletin, width: float) -> list:
    from reportlab.platypus import Image, KeepTogether

    trend = charts.cached_png(
        ("trend", b.trend.weeks, b.trend.hall, None, None),
        lambda: charts.satisfaction_trend_png(b.trend.weeks, b.trend.hall))
    heat = charts.cached_png(
        ("heatmap", b.heat.hours, b.heat.ratings, b.heat.bad),
        lambda: charts.heatmap_png(b.heat.ratings, b.heat.bad, b.heat.hours))
    tw, th = charts.TREND_SIZE
    hw, hh = charts.HEATMAP_SIZE
    return [KeepTogether([
        _p("四、满意度趋势与评价时段分布", "h1"),
        _p(f"近 {len(b.trend.weeks)} 周全厅满意度（按周）：", "note"),
        Image(io.BytesIO(trend), width=width, height=width * th / tw),
        _p("本月评价按星期、时段分布（左：全部评价；右：差评）：", "note"),
        Image(io.BytesIO(heat), width=width, height=width * hh / hw)])]


def _reasons(b: Bulletin, width: float) -> list:
    bad = b.this.bad
    out = [_p("五、差评原因", "h1")]
    if not b.reasons:
        return out + [_p("本月差评未选择原因。" if bad else "本月无差评。")]
    rows = [[i, r.label, r.n, pct(leagues.half_up(Fraction(100 * r.n, bad), 1))
             if bad else DASH] for i, r in enumerate(b.reasons, 1)]
    first = b.reasons[0]
    out.append(_p(f"群众反映最多的是“{first.label}”（{first.n} 次）。"
                  "一条差评可选多个原因，占比按本月差评条数计。"))
    out.append(_spacer())
    w = width / 10
    out.append(_table(["序号", "原因", "次数", "占差评"], rows, [w, 5 * w, 2 * w, 2 * w],
                      numeric_from=2))
    return out


def _followups(b: Bulletin, width: float) -> list:
    now, before = b.followups.as_dict(), b.followups_before.as_dict()
    rows = [["回访整改件数", now["cases"], before["cases"]],
            ["应回访（留有电话的差评）", now["callback_cases"], before["callback_cases"]],
            ["已回访", now["called_back"], before["called_back"]],
            ["差评回访率", pct(now["callback_rate"]), pct(before["callback_rate"])],
            ["按时办结率", pct(now["on_time_rate"]), pct(before["on_time_rate"])],
            ["目前逾期", now["overdue"], before["overdue"]]]
    w = width / 4
    return [_p("六、差评回访与整改", "h1"),
            _p(f"本月差评回访率 {pct(now['callback_rate'])}（目标 100%），"
               f"按时办结率 {pct(now['on_time_rate'])}，目前逾期 {now['overdue']} 件。"),
            _spacer(),
            _table(["项目", "本月", "上月"], rows, [2 * w, w, w], numeric_from=1)]


def _appeals_and_suggestions(b: Bulletin) -> list:
    a = b.appeals
    parts = "，".join(f"{label} {a.by_status.get(status, 0)} 件"
                     for status, label in APPEAL_LABELS.items())
    appeals = (f"本月提出申诉复核 {a.filed} 件：{parts}。申诉成立的差评不计入排名，但保留记录。"
               if a.filed else "本月无申诉复核。")
    s = b.suggestions
    suggestions = (f"本月收到意见建议 {s.received} 条，已处理 {s.handled} 条"
                   f"（处理率 {pct(s.handled_rate)}），未处理 {s.received - s.handled} 条。"
                   if s.received else "本月未收到意见建议。")
    return [_p("七、申诉复核", "h1"), _p(appeals), _p("八、意见建议", "h1"), _p(suggestions)]


def _surveys(b: Bulletin) -> list:
    out = [_p("九、问卷调查", "h1")]
    if not b.surveys:
        return out + [_p("本月无问卷答卷。")]
    for survey in b.surveys:
        out.append(_p(f"《{survey.title}》（第 {survey.version} 版）：本月答卷 "
                      f"{survey.responses} 份。", bold=False))
        for i, q in enumerate(survey.questions, 1):
            if q.kind == "scale":
                line = (f"{i}. {q.text}：{q.answered} 人作答，平均 {num(q.mean, 2)} 分"
                        "（满分 5 分）。")
            elif q.kind in ("single", "multi"):
                tops = "；".join(f"{label} {n} 人（{pct(p)}）" for label, n, p in q.top) or "无"
                line = f"{i}. {q.text}：{q.answered} 人作答，选择最多：{tops}。"
            else:
                quoted = "；".join(f"“{t}”" for t in q.texts)
                line = f"{i}. {q.text}：{q.answered} 人填写" + (f"，例如：{quoted}。"
                                                                if quoted else "。")
            out.append(_p(line, "note"))
    return out


def month_of(text: str) -> leagues.Period:
    """``YYYY-MM`` as a month; ValueError with a message a person can act on."""
    return leagues.parse_month(text)


def default_month(tz: ZoneInfo, now: datetime | None = None) -> leagues.Period:
    """The last complete month: what the monthly meeting reviews."""
    return leagues.last_complete_month(tz, now)


def file_name(month: leagues.Period) -> str:
    return f"bulletin-{month.label}.pdf"

