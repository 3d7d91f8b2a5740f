"""The CJK font shipped with the app, so charts and PDFs draw Chinese on any machine.

Droid Sans Fallback (Apache-2.0, static/fonts/) has TrueType (glyf) outlines, which
matplotlib can embed in a PDF as real, searchable text (fonttype 42). It is a *fallback*
font and has no Latin letters or digits, so text is drawn with matplotlib's own DejaVu
Sans first and falls back to it glyph by glyph: neither comes from the system.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.font_manager import FontProperties

FONT_DIR = Path(__file__).resolve().parent.parent / "static" / "fonts"
FONT_PATH = FONT_DIR / "DroidSansFallbackFull.ttf"
CJK_FAMILY = "Droid Sans Fallback"
LATIN_FAMILY = "DejaVu Sans"  # ships inside matplotlib
FAMILIES = [LATIN_FAMILY, CJK_FAMILY]

_lock = threading.Lock()
_pdf_lock = threading.RLock()


def register() -> None:
    """Make the bundled font known to matplotlib, ahead of any other font."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    # Checked every time, not once: matplotlib rebuilds its font list (forgetting
    # added fonts) when it finds a listed system font file gone.
    if _first_is_ours(manager):
        return
    with _lock:
        if _first_is_ours(manager):
            return
        manager.addfont(str(FONT_PATH))
        # addfont appends; a system copy of the same family listed earlier would win
        # the lookup, so put ours first and forget lookups made before the move.
        manager.ttflist.insert(0, manager.ttflist.pop())
        manager._findfont_cached.cache_clear()


def _first_is_ours(manager) -> bool:
    return bool(manager.ttflist) and manager.ttflist[0].fname == str(FONT_PATH)


def font_properties(size: float | None = None, weight: str = "normal") -> FontProperties:
    """FontProperties drawing Latin with DejaVu Sans and CJK with the bundled font."""
    from matplotlib.font_manager import FontProperties

    register()
    return FontProperties(family=FAMILIES, size=size, weight=weight)


def font_files() -> list[Path]:
    """The files matplotlib draws ``font_properties()`` text with, in fallback order."""
    from matplotlib.font_manager import FontProperties, fontManager

    register()
    return [Path(fontManager.findfont(FontProperties(family=family),
                                      fallback_to_default=False))
            for family in FAMILIES]


@lru_cache(maxsize=1)
def _codepoints() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    points: set[int] = set()
    for path in font_files():
        with TTFont(path, lazy=True) as font:
            points.update(font.getBestCmap())
    return frozenset(points)


def missing_glyphs(text: str) -> set[str]:
    """The characters of ``text`` the bundled fonts cannot draw (line breaks aside)."""
    points = _codepoints()
    return {c for c in text if ord(c) not in points and c not in "\r\n"}


@contextmanager
def pdf_with_real_text() -> Iterator[None]:
    """Write PDFs with TrueType (type 42) fonts, so their text can be searched and copied.

    matplotlib reads the font type from the global rcParams when it saves a PDF; the
    lock keeps two PDF writers in this process from changing them under each other.
    """
    import matplotlib

    with _pdf_lock, matplotlib.rc_context({"pdf.fonttype": 42}):
        yield
