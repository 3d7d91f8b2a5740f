"""The public blueprint: pages and the JSON API that tablets, phones and queue systems
call (POST /api/ratings itself is answered in hotpath.py)."""
from __future__ import annotations

import json
from datetime import timedelta

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import UnsupportedMediaType

from . import clock
from .db import db, utcnow
from .fields import InputError
from .hotpath import RatingEndpoint
from .ratings import RatingIntake
from .suggestions import add_suggestion

bp = Blueprint("kiosk", __name__, template_folder="templates")
API_BODY_MAX = 16 * 1024


@bp.before_request
def limit_api_bodies():
    if request.path.startswith("/api/"):
        request.max_content_length = API_BODY_MAX


def json_body():
    """The request's JSON body, with the API's 413/415/400 answers."""
    if not request.is_json:
        raise UnsupportedMediaType()
    try:
        return json.loads(request.get_data(cache=False))
    except ValueError:
        raise InputError("the body is not valid JSON") from None


@bp.post("/api/suggestions")
def post_suggestion():
    cfg = current_app.config
    suggestion, created = add_suggestion(
        json_body(), utcnow(), clock.zone(cfg["TIMEZONE"]),
        timedelta(days=cfg["RATING_MAX_AGE_DAYS"]),
        timedelta(seconds=cfg["RATING_MAX_FUTURE_SECONDS"]))
    return jsonify(id=suggestion.id, client_id=suggestion.client_id), 201 if created else 200


def init_app(app: Flask) -> None:
    cfg = app.config
    with app.app_context():
        engine = db.engine
    app.extensions["kiosk.intake"] = RatingIntake(
        engine, clock.zone(cfg["TIMEZONE"]),
        max_age=timedelta(days=cfg["RATING_MAX_AGE_DAYS"]),
        max_ahead=timedelta(seconds=cfg["RATING_MAX_FUTURE_SECONDS"]),
    )
    app.register_blueprint(bp)
    # POST /api/ratings is answered below Flask (see hotpath.py).
    app.wsgi_app = RatingEndpoint(app.wsgi_app, app.extensions["kiosk.intake"])
