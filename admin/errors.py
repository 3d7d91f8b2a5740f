"""Error pages of the back office: in Chinese, styled by admin.css (the admin's CSP
forbids the inline style of the public error page), with a way back."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError

from kiosk import errors as kiosk_errors
from kiosk.db import db

from . import bp, wants_data

TITLES = {
    400: "请求无效",
    401: "请先登录",
    403: "您没有权限查看此页面",
    404: "找不到这个页面",
    405: "不支持这种访问方式",
    413: "提交的内容太大",
    500: "服务器出了点问题，请稍后再试",
}
HINTS = {
    400: "请返回上一页，检查填写的内容后重试。",
    403: "如需使用此功能，请联系系统管理员调整您的角色。",
    404: "页面可能已被移动或删除，请检查地址是否正确。",
    500: "问题已记录。请稍后重试；如果一直出现，请联系系统管理员。",
}
CSRF_EXPIRED = "页面已过期，请刷新后重试"
CSRF_HINT = "为了安全，表单打开太久或在别处退出登录后会失效。请刷新页面，重新填写后再提交。"


def _back() -> str | None:
    """The page the user came from, when it is on this site."""
    ref = request.referrer
    if not ref:
        return None
    parts = urlsplit(ref)
    if parts.netloc != request.host or parts.path == request.path:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def render_error(status: int, message: str, title: str | None = None,
                 hint: str | None = None) -> str:
    """An /admin/ error page (the body; the caller sets the status)."""
    if status >= 500:
        db.session.rollback()  # the failed transaction must not break the page too
    title = title or TITLES.get(status) or "出错了"
    try:
        return render_template("admin/error.html", status=status, title=title,
                               hint=hint or HINTS.get(status), message=message,
                               back=_back())
    except Exception:  # never a traceback for the user: a plain page instead
        current_app.logger.exception("the admin error page failed to render")
        return render_template("kiosk/error.html", status=status, message=message,
                               message_zh=title)


def csrf_failed(exc: CSRFError):
    """A form or request without a valid CSRF token: 400 and what to do about it."""
    if wants_data() or kiosk_errors.wants_json():
        return jsonify(error=f"{CSRF_EXPIRED} ({exc.description})"), 400
    return render_error(400, exc.description, CSRF_EXPIRED, CSRF_HINT), 400


def init_app(app: Flask) -> None:
    kiosk_errors.PAGE_RENDERERS[bp.url_prefix + "/"] = render_error
    app.register_error_handler(CSRFError, csrf_failed)
