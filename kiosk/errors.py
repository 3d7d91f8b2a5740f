"""Errors as people should see them: JSON for machines, a plain page for browsers."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from .fields import InputError

MESSAGES = {
    400: "the request is not valid",
    401: "please log in",
    403: "you may not do this",
    404: "not found",
    405: "method not allowed",
    413: "the body is larger than 16 KiB",
    415: "the body must be JSON (Content-Type: application/json)",
    500: "something went wrong on the server; please try again",
    503: "the server is busy; please try again",
}


# What a person at a browser reads, Chinese first.
PAGE_MESSAGES = {
    403: "您没有权限查看此页面",
    404: "找不到这个页面，请检查地址或窗口编号",
    500: "服务器出了点问题，请稍后再试",
}


def wants_json() -> bool:
    path = request.path
    return (path.startswith("/api/") or path.endswith((".json", ".csv"))
            or request.accept_mimetypes.best == "application/json")


# Error pages drawn by a package that builds on kiosk/ for its own paths (the back
# office draws /admin/ pages that fit its CSP): path prefix -> render(status, message).
PAGE_RENDERERS: dict[str, Callable[[int, str], Any]] = {}


def error_response(status: int, message: str | None = None):
    message = message or MESSAGES.get(status, "error")
    if wants_json():
        return jsonify(error=message), status
    for prefix, render in PAGE_RENDERERS.items():
        if request.path.startswith(prefix):
            return render(status, message), status
    return render_template("kiosk/error.html", status=status, message=message,
                           message_zh=PAGE_MESSAGES.get(status)), status


def init_app(app: Flask) -> None:
    @app.errorhandler(InputError)
    def input_error(exc: InputError):
        return error_response(exc.status, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        if isinstance(exc, InternalServerError):
            return error_response(500)
        return error_response(exc.code, MESSAGES.get(exc.code) or exc.description)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500)
