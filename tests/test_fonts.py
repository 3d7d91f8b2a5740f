"""The bundled CJK font: shipped in the repo, used by matplotlib, has all our glyphs."""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest

from kiosk import charts, fonts, qr
from kiosk.demo import HALL, LAYOUT, RELIEF
from kiosk.scale import CHANNELS, SCORES, STANDARD_REASONS


def _vocabulary() -> str:
    parts = [HALL, qr.INSTRUCTION_ZH, qr.INSTRUCTION_EN, *charts.WEEKDAYS]
    parts += [s.zh for s in SCORES.values()] + [c.zh for c in CHANNELS.values()]
    parts += [zh for _, zh, _ in STANDARD_REASONS]
    for department, rows in LAYOUT.items():
        parts.append(department)
        for row in rows:
            parts += [text for text in row if isinstance(text, str)]
    for row in RELIEF.values():
        parts += row
    return "".join(parts)


def test_the_font_ships_in_the_repo_with_its_licence():
    assert fonts.FONT_PATH.is_file()
    assert fonts.FONT_PATH.is_relative_to(Path(fonts.__file__).resolve().parent.parent)
    assert (fonts.FONT_DIR / "NOTICE.txt").read_text().count("Apache License")
    licence = fonts.FONT_DIR / "LICENSE-DroidSansFallback.txt"
    assert "Apache License" in licence.read_text()


def test_the_font_has_truetype_outlines_so_pdfs_can_embed_it():
    from fontTools.ttLib import TTFont

    with TTFont(fonts.FONT_PATH, lazy=True) as font:
        assert "glyf" in font and "CFF " not in font


def test_matplotlib_draws_with_the_bundled_font_not_a_system_one():
    import matplotlib

    latin, cjk = fonts.font_files()
    assert cjk == fonts.FONT_PATH
    assert latin.is_relative_to(Path(matplotlib.get_data_path()))


def test_a_system_copy_of_the_family_listed_first_does_not_win(monkeypatch):
    from matplotlib import font_manager

    manager = font_manager.fontManager
    fonts.register()
    system = dataclasses.replace(manager.ttflist[0], fname="/usr/share/fonts/droid.ttf")
    # As after matplotlib rebuilt its list: ours forgotten, a system copy present.
    monkeypatch.setattr(manager, "ttflist", [system, *manager.ttflist[1:]])
    manager._findfont_cached.cache_clear()
    try:
        assert fonts.font_files()[1] == fonts.FONT_PATH
    finally:
        monkeypatch.undo()
        manager._findfont_cached.cache_clear()


def test_every_label_of_the_app_has_a_glyph():
    text = _vocabulary()
    assert "非常不满意" in text and "一次性告知不到位" in text and "（一）" in text
    assert fonts.missing_glyphs(text) == set()


def test_missing_glyphs_names_what_cannot_be_drawn():
    assert fonts.missing_glyphs("满意𠀀A1\n") == {"𠀀"}


def _draw(text: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 1))
    fig.text(0.01, 0.5, text, fontproperties=fonts.font_properties(10))
    FigureCanvasAgg(fig).draw()


def test_chinese_is_drawn_without_falling_back_to_empty_boxes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _draw(_vocabulary())


def test_a_glyph_the_fonts_lack_is_reported_while_drawing():
    with pytest.warns(UserWarning, match="missing from font"):
        _draw("满意𠀀")
