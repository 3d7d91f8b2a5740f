"""Security headers on every response: the one place that says what they are.

They are added by a small WSGI middleware wrapped around the whole application,
not by a Flask ``after_request`` hook, because not every answer goes through Flask:
``POST /api/ratings`` is answered below it (hotpath.py), and so may be whatever
another middleware answers in the future. So the kiosk and QR pages, the
board, the JSON API, static files, photos, error pages and the back office all carry
the same policy, and a page cannot forget it.

The policy allows nothing but this site: no inline script (the pages keep their data
in a ``<script type="application/json">`` block and their code in static files), no
inline style, no framing. ``img-src data:`` is there for the board's empty favicon
(``data:,``), which keeps the TV's browser from asking for /favicon.ico. HSTS is
sent only when the site says it is reached over HTTPS (``PUBLIC_BASE_URL``), so a
hall testing on plain HTTP is never locked out of its own server.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from flask import Flask

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    # frame-ancestors says the same to current browsers; older tablet WebViews only
    # understand this one.
    ("X-Frame-Options", "DENY"),
)

# A year; no includeSubDomains: other sites of the same government domain may not be
# on HTTPS yet, and this header would lock them out.
HSTS = ("Strict-Transport-Security", "max-age=31536000")

_OURS = frozenset(name.lower() for name, _ in HEADERS + (HSTS,))


def wants_hsts(config: Mapping) -> bool:
    """Whether the site is served over HTTPS, as ``PUBLIC_BASE_URL`` declares."""
    base = config.get("PUBLIC_BASE_URL") or ""
    return base.strip().lower().startswith("https://")


def headers_for(config: Mapping) -> list[tuple[str, str]]:
    """The security headers every response of a site with this configuration gets."""
    return list(HEADERS) + ([HSTS] if wants_hsts(config) else [])


class SecurityHeaders:
    """WSGI middleware that puts :func:`headers_for` on every response.

    Ours replace any a view set itself: the policy has one source, this module.
    The configuration is read on every request, so a changed ``PUBLIC_BASE_URL``
    takes effect at once.
    """

    def __init__(self, wsgi_app: Callable, config: Mapping) -> None:
        self.wsgi_app = wsgi_app
        self.config = config

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        extra = headers_for(self.config)

        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            kept = [(k, v) for k, v in headers if k.lower() not in _OURS]
            return start_response(status, kept + extra, exc_info)

        return self.wsgi_app(environ, start)


def init_app(app: Flask) -> None:
    """Wrap the whole application; call last, after every other middleware."""
    app.wsgi_app = SecurityHeaders(app.wsgi_app, app.config)
    # The service worker draws its offline page itself: it carries the same headers.
    app.jinja_env.globals["security_headers"] = dict(HEADERS)
