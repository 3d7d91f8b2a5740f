"""The public blueprint: the rating pages, and the JSON API that tablets, phones and
queue systems call (POST /api/ratings itself is answered in hotpath.py)."""
from __future__ import annotations

import json
import os

from flask import (Blueprint, Flask, abort, current_app, jsonify, redirect, render_template,
                   request, send_from_directory, url_for)
from flask_babel import get_locale
from werkzeug.exceptions import UnsupportedMediaType

from . import board as hall_board, caseopen, clock, devices, evaluations, hotpath, phonekeys
from . import integrity
from .db import db, utcnow
from .fields import InputError, TapBounds
from .hotpath import RatingEndpoint
from .pages import PAGE_ASSETS, asset_version, page_config
from .ratings import DEVICE_COOKIE, RatingIntake
from .scale import SCORES
from .suggestions import add_suggestion
from .windows import card_version, window_card

bp = Blueprint("kiosk", __name__, template_folder="templates")


@bp.before_request
def limit_api_bodies():
    if request.path.startswith("/api/"):
        request.max_content_length = hotpath.BODY_MAX


def json_body():
    """The request's JSON body, with the API's 413/415/400 answers."""
    if not request.is_json:
        raise UnsupportedMediaType()
    try:
        return json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        raise InputError("the body is not valid JSON") from None


def rating_page(code: str, mode: str):
    now = utcnow()
    card = window_card(code, now)
    if card is None:
        abort(404)
    if mode == "kiosk" and not kiosk_paired(code):
        return unpaired_page(card)
    urls = {"ratings": request.script_root + hotpath.PATH,
            "suggestions": url_for("kiosk.post_suggestion"),
            "time": url_for("kiosk.server_time"),
            "sw": url_for("kiosk.service_worker"),
            "page": url_for(f"kiosk.{mode}_page", code=code),
            "card": url_for("kiosk.window_card_json", code=code)}
    if mode == "kiosk":
        urls["heartbeat"] = url_for("kiosk.device_heartbeat")
        urls["prompt"] = url_for("kiosk.window_prompt", code=code)  # 一次一评 (prompt.js)
    config = page_config(card, mode, str(get_locale()), urls, current_app.config, now,
                         current_app.static_folder)
    from .survey_views import invitations  # questionnaires offered on this page
    config["surveys"] = invitations(mode, code)
    resp = current_app.make_response(render_template(
        "kiosk/rate.html", card=card, mode=mode, config=config,
        strings=config["strings"]["zh"]))
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/k/<code>")
def kiosk_page(code: str):
    """The tablet at the window."""
    return rating_page(code, "kiosk")


def kiosk_paired(code: str) -> bool:
    """Whether this browser is a kiosk tablet paired with window ``code``."""
    intake = current_app.extensions["kiosk.intake"]
    try:
        intake.devices.paired(request.cookies.get(DEVICE_COOKIE), intake.window_id(code))
    except InputError:
        return False
    return True


def unpaired_page(card):
    """403: the kiosk page of a browser not paired with the window says how to pair."""
    page = render_template("kiosk/pair_needed.html", card=card,
                           hours=current_app.config["PAIRING_CODE_HOURS"])
    resp = current_app.make_response((page, 403))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/pair/<code>")
def pair(code: str):
    """Redeem a one-time pairing link: this browser becomes the window's device (an
    HttpOnly cookie), then lands on its page. A GET, so that scanning the QR code or
    opening the link printed by ``kiosk pair-device`` is all a tablet needs."""
    try:
        paired = devices.redeem(db.session, code, utcnow(), request.cookies.get(DEVICE_COOKIE))
    except devices.PairingRefused as exc:
        db.session.rollback()
        resp = current_app.make_response((render_template(
            "kiosk/pair_refused.html", reason=exc.reason,
            hours=current_app.config["PAIRING_CODE_HOURS"]), exc.status))
        resp.headers["Cache-Control"] = "no-store"
        return resp
    db.session.commit()
    target = url_for("kiosk.kiosk_page", code=paired.window_code)
    if paired.kind == "clerk":
        target += "/clerk"  # the clerk's 请评价 page (kiosk/evaluation_views.py)
    resp = redirect(target)
    resp.set_cookie(DEVICE_COOKIE, paired.secret, max_age=devices.COOKIE_MAX_AGE,
                    httponly=True, samesite="Lax", secure=request.is_secure)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.post("/api/devices/heartbeat")
def device_heartbeat():
    """A paired tablet says it is alive: app version and ratings queued offline."""
    body = json_body()
    if not isinstance(body, dict):
        raise InputError("the body must be a JSON object")
    devices.heartbeat(db.session, request.cookies.get(DEVICE_COOKIE), body.get("version"),
                      body.get("queued"), utcnow())
    db.session.commit()
    return jsonify(ok=True)


@bp.get("/q/<code>")
def qr_page(code: str):
    """The page a window's QR code opens on a citizen's phone."""
    resp = rating_page(code, "qr")
    integrity.give_rater_cookie(request, resp)  # tells phones apart (misuse)
    return resp


@bp.get("/api/time")
def server_time():
    """The server's clock, so a tablet with a wrong clock still stamps taps right."""
    return jsonify(now=utcnow().isoformat(timespec="milliseconds") + "Z")


@bp.get("/api/windows/<code>/card")
def window_card_json(code: str):
    """The window's 挂牌 card now, for the idle kiosk to pick up a 换岗 (ETag: version)."""
    card = window_card(code, utcnow())
    if card is None:
        abort(404)
    version = card_version(card)
    resp = jsonify(code=card.code, name=card.name, department=card.department,
                   staff_name=card.staff_name, staff_no=card.staff_no, duties=card.duties,
                   initial=(card.staff_name or "")[:1] or None,
                   photo=photo_url(card.photo) if card.photo else None, version=version,
                   items=[item.as_json() for item in card.items])
    resp.set_etag(version)
    resp.headers["Cache-Control"] = "no-cache"
    return resp.make_conditional(request)


@bp.post("/api/suggestions")
def post_suggestion():
    bounds = current_app.extensions["kiosk.intake"].bounds
    suggestion, created = add_suggestion(json_body(), utcnow(), bounds)
    return jsonify(id=suggestion.id, client_id=suggestion.client_id), 201 if created else 200


@bp.get("/sw.js")
def service_worker():
    """The service worker, at the root so its scope covers /k/ and /q/."""
    from .survey_views import SURVEY_ASSETS  # the questionnaire pages (/s/) too

    names = PAGE_ASSETS + SURVEY_ASSETS
    assets = [asset_url(name) for name in names]
    version = "-".join(asset_version(current_app.static_folder, n) for n in names)
    body = render_template("kiosk/sw.js", assets=assets, version=version,
                           scopes=[request.script_root + "/k/", request.script_root + "/q/",
                                   request.script_root + "/s/"],
                           static=url_for("static", filename=""),
                           photos=url_for("kiosk.staff_photo", name=""))
    resp = current_app.response_class(body, mimetype="text/javascript")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def board_figures() -> hall_board.Board:
    """The board of ``?hall=<id>`` (every hall without it); 404 for an unknown hall."""
    raw = request.args.get("hall", "")
    if raw and not raw.isdigit():
        abort(404)
    figures = hall_board.board(db.session, utcnow(), clock.zone(current_app.config["TIMEZONE"]),
                               int(raw) if raw else None, current_app.config["LEAGUE_PRIOR"])
    if figures is None:
        abort(404)
    return figures


@bp.get("/board")
def board_page():
    """The hall display board (the TV in the hall): no personal data."""
    figures = board_figures()
    resp = current_app.make_response(render_template(
        "kiosk/board.html", data=figures.as_json(photo_url), scores=SCORES.values(),
        refresh=current_app.config["BOARD_REFRESH_SECONDS"], rotation=hall_board.ROTATION,
        source=url_for("kiosk.board_json", hall=figures.hall_id)))
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.get("/board.json")
def board_json():
    resp = jsonify(board_figures().as_json(photo_url))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/photos/<path:name>")
def staff_photo(name: str):
    """A clerk's photo for the 挂牌 card, from instance/photos/."""
    resp = send_from_directory(os.path.join(current_app.instance_path, "photos"), name)
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


def photo_url(name: str) -> str:
    """URL of a staff photo that changes when the file does (tablets cache photos)."""
    try:
        version = int(os.stat(os.path.join(current_app.instance_path, "photos", name)).st_mtime)
    except OSError:
        version = 0
    return url_for("kiosk.staff_photo", name=name, v=version)


def asset_url(name: str) -> str:
    """URL of a static file with its content hash, so caches never serve a stale one."""
    return url_for("static", filename=name, v=asset_version(current_app.static_folder, name))


def init_app(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    app.extensions["kiosk.intake"] = RatingIntake(
        engine, TapBounds.from_config(app.config), caseopen.opener(app),
        # The key file is made when the first number comes, not when the app starts.
        lambda plain: phonekeys.keyring(app).seal(plain), app.config,
        devices=devices.DeviceCheck(engine), events=evaluations.EventCheck(engine),
        screen=integrity.Screen(app))
    app.extensions["kiosk.prompts"] = evaluations.Prompts(engine)  # the kiosks' polls
    from . import evaluation_views  # noqa: F401  (its routes, on bp: before registering)
    from . import survey_views  # noqa: F401  (the questionnaire pages, on bp)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(asset_url=asset_url, photo_url=photo_url)
    # POST /api/ratings is answered below Flask (see hotpath.py).
    app.wsgi_app = RatingEndpoint(app.wsgi_app, app.extensions["kiosk.intake"])
