"""The public questionnaire pages (问卷调查): /s/<slug>, its QR poster, and the API
the page's offline queue posts answers to. Routes on the public blueprint."""
from __future__ import annotations

from datetime import date
from urllib.parse import quote

from flask import abort, current_app, jsonify, render_template, request, url_for
from flask_babel import force_locale, get_locale, lazy_gettext as _l

from . import clock, integrity, qr, surveys
from .db import db, utcnow
from .i18n import LANGUAGES
from .pages import asset_version
from .ratings import DEVICE_COOKIE, RATER_COOKIE
from .scale import SCORES
from .views import bp, json_body, kiosk_paired

# Assets the questionnaire page needs offline (the service worker precaches them).
SURVEY_ASSETS = ("kiosk/survey.css", "kiosk/survey.js")

# The page switches language in the browser (instantly, offline): both at once.
SURVEY_STRINGS = {
    "survey": _l("问卷调查"),
    "start": _l("开始答题"),
    "count": _l("共 {n} 题，约 {m} 分钟"),
    "progress": _l("第 {i} 题 / 共 {n} 题"),
    "required": _l("必答"),
    "optional": _l("选答"),
    "multi_hint": _l("可多选"),
    "next": _l("下一题"),
    "skip": _l("跳过"),
    "prev": _l("上一题"),
    "submit": _l("提交问卷"),
    "need_answer": _l("本题必须回答"),
    "chars_left": _l("还可输入 {n} 字"),
    "done": _l("感谢您参与问卷调查！"),
    "done_sub": _l("您的意见将帮助我们改进服务"),
    "done_queued": _l("网络恢复后将自动提交，请勿重复填写"),
    "already": _l("您已填写过本问卷，感谢参与"),
    "back_to_rating": _l("返回评价"),
    "queued": _l("待发送"),
    "offline": _l("离线"),
    "switch": _l("English"),
    "invite": _l("诚邀您参与问卷调查"),
    "invite_go": _l("参与问卷"),
    "kiosk_button": _l("问卷调查"),
}


def survey_strings() -> dict[str, dict[str, str]]:
    """Every string of the questionnaire page in every language."""
    out = {}
    for lang in LANGUAGES:
        with force_locale(lang):
            out[lang] = {key: str(text) for key, text in SURVEY_STRINGS.items()}
    return out


def hall_today() -> date:
    return clock.to_local(utcnow(), clock.zone(current_app.config["TIMEZONE"])).date()


def kiosk_window() -> str | None:
    """The window whose paired kiosk tablet this browser is (``?window=`` with
    ``from=kiosk``), else None: a tablet's answers are the hall's, not one phone's."""
    code = request.args.get("window")
    if request.args.get("from") != "kiosk" or not code:
        return None
    return code if kiosk_paired(code) else None


@bp.get("/s/<slug>")
def survey_page(slug: str):
    """The questionnaire page on a phone (its QR poster, or the rating page's
    invitation) or on a kiosk tablet (its start screen's button)."""
    version = surveys.current(slug, hall_today())
    if version is None:
        return not_open()
    cfg = page_config(version, kiosk_window(), request.cookies.get(RATER_COOKIE))
    resp = current_app.make_response(render_template(
        "kiosk/survey.html", definition=version.definition, config=cfg,
        strings=cfg["strings"]["zh"], minutes=surveys.minutes_to_answer(version.definition),
        text_in=surveys.text_in))
    resp.headers["Cache-Control"] = "no-cache"
    integrity.give_rater_cookie(request, resp)  # one response per phone per version
    return resp


def page_config(version, kiosk: str | None, rater: str | None) -> dict:
    """The JSON the page embeds: the questions, labels in both languages, timings and
    URLs. ``kiosk``: the window of the paired tablet showing it (None on a phone)."""
    slug = version.survey.slug
    return {
        "slug": slug, "version": version.number, "lang": str(get_locale()),
        "channel": "kiosk" if kiosk else "qr",
        "window": kiosk or request.args.get("window") or None,
        "questions": version.definition["questions"],
        "scores": [{"value": s.value, "zh": s.zh, "en": s.en} for s in SCORES.values()],
        "strings": survey_strings(), "text_max": surveys.TEXT_MAX,
        "answered": bool(not kiosk and rater and surveys.answered_by(version, rater)),
        "idle_seconds": current_app.config["KIOSK_IDLE_SECONDS"] * 3,
        "thanks_seconds": current_app.config["KIOSK_THANKS_SECONDS"],
        "server_now": utcnow().isoformat(timespec="milliseconds") + "Z",
        "urls": {"responses": url_for("kiosk.survey_responses", slug=slug),
                 "time": url_for("kiosk.server_time"), "sw": url_for("kiosk.service_worker"),
                 "back": url_for("kiosk.kiosk_page", code=kiosk) if kiosk else None},
    }


def not_open():
    page = render_template("kiosk/survey_closed.html")
    resp = current_app.make_response((page, 404))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/api/surveys/<slug>/responses")
def survey_responses(slug: str):
    """Store one response (CONTRACT.md); its answers checked against its version."""
    body = json_body()
    respondent = request.cookies.get(RATER_COOKIE)
    if isinstance(body, dict) and body.get("channel") == "kiosk":
        # A hall tablet is shared by every citizen: it answers as its paired window.
        intake = current_app.extensions["kiosk.intake"]
        intake.devices.paired(request.cookies.get(DEVICE_COOKIE),
                              intake.window_id(body.get("window")))
        respondent = None
    try:
        response, created = surveys.submit(slug, body, respondent=respondent, now=utcnow(),
                                           today=hall_today())
    except surveys.SurveyError as exc:
        db.session.rollback()
        return jsonify(exc.as_json()), exc.status
    db.session.commit()
    return jsonify(id=response.id, client_id=response.client_id), 201 if created else 200


def survey_url(slug: str) -> str:
    """The questionnaire page's address for its QR code (``PUBLIC_BASE_URL`` when set)."""
    base = qr.qr_base(current_app.config.get("PUBLIC_BASE_URL"), request.host_url)
    return f"{base.url}/s/{quote(slug, safe='')}"


def _poster_version(slug: str):
    survey = surveys.by_slug(slug)
    version = surveys.version_of(survey) if survey is not None else None
    if version is None:  # (a poster may be printed before the period starts)
        abort(404)
    return version


@bp.get("/s/<slug>/poster.png")
def survey_qr_png(slug: str):
    """The questionnaire's QR code (PNG), for a poster or a notice of one's own."""
    _poster_version(slug)
    resp = current_app.response_class(qr.qr_png(survey_url(slug)), mimetype="image/png")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/s/<slug>/poster.pdf")
def survey_poster_pdf(slug: str):
    """An A4 poster of the questionnaire: its title, QR code and what to do."""
    version = _poster_version(slug)
    base = qr.qr_base(current_app.config.get("PUBLIC_BASE_URL"), request.host_url)
    pdf = surveys.poster_pdf(version, survey_url(slug), draft=not base.configured)
    resp = current_app.response_class(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f"inline; filename=survey-{qr.file_stem(slug)}.pdf"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def invitations(mode: str, window_code: str) -> list[dict]:
    """The questionnaires a rating page offers: on the QR page's thank-you screen
    (``mode`` "qr") or as a button on the kiosk's start screen ("kiosk")."""
    out = []
    strings = survey_strings()
    key = "invite_go" if mode == "kiosk" else "invite"
    for survey in surveys.offered(hall_today(), mode):
        version = surveys.version_of(survey)
        args = {"slug": survey.slug, "window": window_code}
        if mode == "kiosk":
            args["from"] = "kiosk"  # the page answers as the tablet, then comes back
        title = version.definition["title"]
        out.append({"slug": survey.slug, "url": url_for("kiosk.survey_page", **args),
                    "title": {"zh": title["zh"], "en": title.get("en") or title["zh"]},
                    "label": {lang: strings[lang][key] for lang in LANGUAGES}})
    return out


def asset_urls() -> list[str]:
    """The questionnaire page's assets, versioned (for the service worker)."""
    return [url_for("static", filename=name, v=asset_version(current_app.static_folder, name))
            for name in SURVEY_ASSETS]
