"""QR codes and printable posters of the windows, from the back office."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, request

from kiosk import qr
from kiosk.db import db
from kiosk.models import Window

from . import bp, roles


def _base() -> qr.QrBase:
    """Where the codes point: PUBLIC_BASE_URL, else the address this page came from."""
    return qr.qr_base(current_app.config.get("PUBLIC_BASE_URL"), request.host_url)


def _file(data: bytes, mimetype: str, name: str):
    resp = current_app.response_class(data, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f"attachment; filename={name}"
    resp.headers["Cache-Control"] = "private, no-cache"
    if not _base().configured:
        # Printed from a code that only this machine can open: say so on the file too.
        resp.headers["X-Kiosk-Warning"] = "PUBLIC_BASE_URL is not set"
    return resp


def _window(code: str) -> Window:
    return db.first_or_404(sa.select(Window).where(Window.code == code))


def _window_code(code: str, render, mimetype: str, ext: str):
    window = _window(code)
    url = qr.window_url(_base().url, window.code)
    return _file(render(url), mimetype, f"{qr.file_stem(window.code)}.{ext}")


@bp.get("/windows/<code>/qr.png")
@roles("supervisor")
def window_qr_png(code: str):
    return _window_code(code, qr.qr_png, "image/png", "png")


@bp.get("/windows/<code>/qr.svg")
@roles("supervisor")
def window_qr_svg(code: str):
    return _window_code(code, qr.qr_svg, "image/svg+xml", "svg")


@bp.get("/windows/<code>/poster.pdf")
@roles("supervisor")
def window_poster_pdf(code: str):
    window = _window(code)
    posters = [p for p in qr.active_windows() if p.code == window.code] or [
        qr.PosterWindow(window.code, window.name, window.department.name, window.hall.name)]
    base = _base()
    return _file(qr.posters_pdf(posters, base.url, draft=not base.configured),
                 "application/pdf", f"poster-{qr.file_stem(window.code)}.pdf")


@bp.get("/qr/posters.pdf")
@roles("supervisor")
def qr_posters_pdf():
    """One A4 poster per active window, ready to print."""
    base = _base()
    return _file(qr.posters_pdf(qr.active_windows(), base.url, draft=not base.configured),
                 "application/pdf", "posters.pdf")


def qr_links(window: Window) -> list[tuple[str, str]]:
    """The window page's download links."""
    from flask import url_for

    return [("二维码 PNG", url_for("admin.window_qr_png", code=window.code)),
            ("二维码 SVG", url_for("admin.window_qr_svg", code=window.code)),
            ("A4 评价海报 PDF", url_for("admin.window_poster_pdf", code=window.code))]


def qr_warning() -> str | None:
    """The warning to show next to QR downloads when PUBLIC_BASE_URL is unset."""
    return _base().warning
