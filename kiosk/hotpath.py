"""POST /api/ratings answered below Flask: the lean path for the product's hottest call.

Every tablet tap lands here. Flask's per-request machinery (contexts, routing,
response objects, teardown) costs as much as storing the rating durably, so this
small WSGI middleware answers the one route itself and hands every other request to
Flask. It keeps the API's contract to the letter: 413 over 16 KiB, 415 without a JSON
content type, 400 for a bad body or field, 404 for an unknown window, JSON errors.
"""
from __future__ import annotations

import json
import logging
from http import HTTPStatus
from collections.abc import Callable, Iterable

from werkzeug.http import parse_cookie

from .errors import MESSAGES
from .fields import InputError
from .ratings import DEVICE_COOKIE, RATER_COOKIE, Caller, RatingIntake

log = logging.getLogger(__name__)

PATH = "/api/ratings"
BODY_MAX = 16 * 1024


class RatingEndpoint:
    """WSGI middleware that stores ratings posted to ``/api/ratings``."""

    def __init__(self, wsgi_app: Callable, intake: RatingIntake) -> None:
        self.wsgi_app = wsgi_app
        self.intake = intake

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return self.wsgi_app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            status, body = 405, {"error": MESSAGES[405]}
        else:
            try:
                status, body = self.handle(environ)
            except Exception:
                log.exception("could not store a rating")
                status, body = 500, {"error": MESSAGES[500]}
        # ASCII-only JSON: whatever a client sent, the answer always encodes.
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if status == 405:
            headers.append(("Allow", "POST"))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [data]

    def handle(self, environ: dict) -> tuple[int, dict]:
        mimetype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if not (mimetype == "application/json" or
                (mimetype.startswith("application/") and mimetype.endswith("+json"))):
            return 415, {"error": MESSAGES[415]}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 400, {"error": "Content-Length is not a number"}
        if length > BODY_MAX:
            return 413, {"error": MESSAGES[413]}
        try:
            raw = environ["wsgi.input"].read(length) if length else b""
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return 400, {"error": "the body is not valid JSON"}
        except OSError:
            return 400, {"error": "the body could not be read"}
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        caller = Caller(cookies.get(DEVICE_COOKIE), cookies.get(RATER_COOKIE))
        try:
            stored = self.intake.accept(body, caller=caller)
        except InputError as exc:
            return exc.status, {"error": exc.message}
        return (201 if stored.created else 200), {"id": stored.id,
                                                  "client_id": stored.client_id}
