"""QR codes for the windows and printable A4 posters that carry them.

A window's code points at ``PUBLIC_BASE_URL`` + ``/q/<code>``, the mobile rating page.
Without ``PUBLIC_BASE_URL`` the caller supplies a fallback base (its own address) and
shows ``QrBase.warning``: phones elsewhere in the hall may not reach that address.
"""
from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

from . import fonts
from .db import db
from .models import Department, Hall, Window
from .scale import SCORES

A4_INCHES = (8.27, 11.69)
POSTER_INK = "#1d3f73"
DRAFT_INK = "#c0392b"
INSTRUCTION_ZH = "请用手机扫描二维码，对本窗口服务作出评价"
INSTRUCTION_EN = "Scan the QR code with your phone to rate the service at this window."


@dataclass(frozen=True)
class QrBase:
    """The base URL QR codes point at, and whether a site configured it."""

    url: str
    configured: bool

    @property
    def warning(self) -> str | None:
        """What to tell whoever makes codes from a fallback base; None if configured."""
        if self.configured:
            return None
        return (f"未设置 PUBLIC_BASE_URL：二维码指向 {self.url}，本机以外的手机扫码无法打开。"
                "请在 instance/config.py 或环境变量 KIOSK_PUBLIC_BASE_URL 中设置手机能访问的"
                "地址后重新生成。\n"
                f"PUBLIC_BASE_URL is not set: these QR codes point at {self.url}, which "
                "phones outside this machine cannot open. Set PUBLIC_BASE_URL (or "
                "KIOSK_PUBLIC_BASE_URL) to an address the phones can reach and make them "
                "again.")


def qr_base(configured: str | None, fallback: str) -> QrBase:
    """``PUBLIC_BASE_URL`` when set, else ``fallback``; without a trailing slash."""
    if configured and configured.strip():
        return QrBase(configured.strip().rstrip("/"), True)
    return QrBase(fallback.strip().rstrip("/"), False)


def window_url(base_url: str, code: str) -> str:
    """The mobile rating page of window ``code``."""
    return f"{base_url.rstrip('/')}/q/{quote(code, safe='')}"


def qr_matrix(url: str) -> list[list[bool]]:
    """The modules of the QR code for ``url`` (True is dark), quiet zone included."""
    return _code(url).get_matrix()


def qr_png(url: str, box_size: int = 10) -> bytes:
    """The QR code for ``url`` as a black-on-white PNG, ``box_size`` pixels a module."""
    from qrcode.image.pil import PilImage

    image = _code(url, box_size).make_image(image_factory=PilImage)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def qr_svg(url: str) -> bytes:
    """The QR code for ``url`` as an SVG document (one path on a white background)."""
    from qrcode.image.svg import SvgPathFillImage

    out = io.BytesIO()
    _code(url).make_image(image_factory=SvgPathFillImage).save(out)
    return out.getvalue()


def _code(url: str, box_size: int = 10):
    import qrcode

    # Level M survives a scuffed or glare-struck poster and keeps the code coarse
    # enough for an old phone at arm's length.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M,
                         box_size=box_size, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code


@dataclass(frozen=True)
class PosterWindow:
    """What a window's poster shows."""

    code: str
    name: str
    department: str
    hall: str


def active_windows() -> list[PosterWindow]:
    """Every active window, by code, with its department and hall names."""
    rows = db.session.execute(
        sa.select(Window.code, Window.name, Department.name, Hall.name)
        .join(Department, Window.department_id == Department.id)
        .join(Hall, Window.hall_id == Hall.id)
        .where(Window.active.is_(True))
        .order_by(Window.code)
    )
    return [PosterWindow(*row) for row in rows]


def mark_draft(fig, url: str, note_font) -> None:
    """A poster's foot line when PUBLIC_BASE_URL is unset: its code points at this
    machine, which no other phone can reach (the poster is a 样张)."""
    fig.text(0.5, 0.020, f"样张：未设置 PUBLIC_BASE_URL，本机以外的手机无法打开 {url}",
             ha="center", va="center", color=DRAFT_INK, fontproperties=note_font)


def place_code(fig, url: str, url_font) -> None:
    """An A4 poster's QR code: a square in the middle of the page, ``url`` under it."""
    from matplotlib.patches import PathPatch

    side = 0.62 * A4_INCHES[0] / A4_INCHES[1]  # a square on the page
    ax = fig.add_axes((0.19, 0.315, 0.62, side))
    matrix = qr_matrix(url)
    ax.add_patch(PathPatch(_modules_path(matrix), facecolor="black", edgecolor="none",
                           antialiased=False))
    ax.set_xlim(0, len(matrix))
    ax.set_ylim(len(matrix), 0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    fig.text(0.5, 0.300, url, ha="center", va="center", color="#555555",
             fontproperties=url_font)


def posters_pdf(windows: list[PosterWindow], base_url: str, draft: bool = False) -> bytes:
    """An A4 PDF, one poster a window, Chinese drawn with the bundled font as real text.

    ``draft`` marks each poster as made without ``PUBLIC_BASE_URL``.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    out = io.BytesIO()
    with fonts.pdf_with_real_text(), PdfPages(out, metadata={
            "Title": "窗口评价二维码 Window rating QR codes", "Creator": "kiosk"}) as pdf:
        for window in windows:
            pdf.savefig(_poster(window, base_url, draft))
    return out.getvalue()


def _poster(window: PosterWindow, base_url: str, draft: bool):
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    url = window_url(base_url, window.code)
    fig = Figure(figsize=A4_INCHES)
    font = fonts.font_properties

    fig.add_artist(Rectangle((0, 0.895), 1, 0.105, transform=fig.transFigure,
                             color=POSTER_INK, zorder=0))
    fig.text(0.5, 0.958, window.hall, ha="center", va="center", color="white",
             fontproperties=font(22))
    fig.text(0.5, 0.918, "政务服务“好差评” · 一次服务 一次评价", ha="center", va="center",
             color="white", fontproperties=font(13))
    name, size = _fit(window.name, 34, lines=2)
    two_lines = "\n" in name
    fig.text(0.5, 0.842 if two_lines else 0.835, name, ha="center", va="center",
             ma="center", color=POSTER_INK, linespacing=1.25,
             fontproperties=font(min(size, 28) if two_lines else size))
    line, size = _fit(f"窗口编号 {window.code} · {window.department}", 16)
    fig.text(0.5, 0.768, line, ha="center", va="center", color="#333333",
             fontproperties=font(size))

    place_code(fig, url, font(9))
    fig.text(0.5, 0.240, INSTRUCTION_ZH, ha="center", va="center", color="black",
             fontproperties=font(21))
    labels = "五级评价：" + " · ".join(SCORES[v].zh for v in sorted(SCORES, reverse=True))
    fig.text(0.5, 0.195, labels, ha="center", va="center", color="#444444",
             fontproperties=font(14))
    fig.text(0.5, 0.155, INSTRUCTION_EN, ha="center", va="center", color="#444444",
             fontproperties=font(12))
    fig.text(0.5, 0.060, "您的每一次评价都会送达服务监督部门，感谢您的监督！",
             ha="center", va="center", color="#666666", fontproperties=font(11))
    if draft:
        mark_draft(fig, base_url, font(10))
    return fig


LINE_POINTS = 0.88 * A4_INCHES[0] * 72  # the widest a line of text may be


def _ems(text: str) -> float:
    """The width of ``text`` in em: CJK is one em a character, Latin about 0.6."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.6 for c in text)


def _fit(text: str, size: float, lines: int = 1) -> tuple[str, float]:
    """``text`` and a size of at most ``size`` points at which it fits the page width;
    broken in two first (when ``lines`` allows) if one line would need under 60 %."""
    if _ems(text) * size * 0.6 > LINE_POINTS and lines > 1:
        half = len(text) // 2
        text = f"{text[:half]}\n{text[half:]}"
    widest = max(_ems(line) for line in text.split("\n")) or 1.0
    return text, min(size, LINE_POINTS / widest)


def _modules_path(matrix: list[list[bool]]):
    """One path of the dark modules, each row's runs merged into rectangles."""
    from matplotlib.path import Path as MplPath

    vertices: list[tuple[float, float]] = []
    codes: list[int] = []
    square = [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.LINETO,
              MplPath.CLOSEPOLY]
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            vertices += [(start, y), (x, y), (x, y + 1), (start, y + 1), (start, y)]
            codes += square
    return MplPath(vertices, codes)


def file_stem(code: str) -> str:
    """A window code made safe as a file name."""
    return re.sub(r"[^\w.-]", "_", code).lstrip(".") or "_"


def write_all(out_dir: str | Path, base_url: str, draft: bool = False,
              windows: list[PosterWindow] | None = None) -> list[Path]:
    """Write ``<code>.png`` and ``<code>.svg`` per window and ``posters.pdf``.

    ``windows`` defaults to every active window; ValueError when there is none.
    Returns the paths written.
    """
    windows = active_windows() if windows is None else windows
    if not windows:
        raise ValueError("there are no active windows to make QR codes for")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for window in windows:
        url = window_url(base_url, window.code)
        for suffix, data in ((".png", qr_png(url)), (".svg", qr_svg(url))):
            path = folder / f"{file_stem(window.code)}{suffix}"
            path.write_bytes(data)
            written.append(path)
    path = folder / "posters.pdf"
    path.write_bytes(posters_pdf(windows, base_url, draft))
    written.append(path)
    return written
