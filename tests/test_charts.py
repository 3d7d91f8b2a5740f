"""Chart PNGs, their cache, and the weekday × hour counts behind the heatmap."""
from __future__ import annotations

import io
import uuid
import warnings
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from kiosk import charts, clock
from kiosk.db import db
from kiosk.demo import LAYOUT
from kiosk.models import Rating

from .helpers import make_window

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "charts"
SHANGHAI = clock.zone("Asia/Shanghai")
WEEKS = ["2025-W51", "2025-W52"] + [f"2026-W{w:02d}" for w in range(1, 11)]
HALL = [92.1, 91.5, None, 90.2, 93.0, 94.1, 92.8, 91.9, 93.3, 94.0, 93.5, 92.7]
WINDOW = [88.0, None, None, 85.2, 90.0, 91.1, None, 87.5, 89.9, 92.0, 91.0, 90.5]
LEVEL_ROWS = [(f"{row[0]} {row[1]}", {5: 20 + i, 4: 9, 3: 3, 2: i % 3, 1: i % 2})
              for i, row in enumerate(r for rows in LAYOUT.values() for r in rows)]
HOURS = list(range(8, 19))
RATINGS = [[0 if day >= 5 or hour in (12, 18) else 10 + day * 3 + hour for hour in HOURS]
           for day in range(7)]
BAD = [[n // 9 for n in row] for row in RATINGS]


def _image(png: bytes, name: str) -> Image.Image:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / name).write_bytes(png)
    image = Image.open(io.BytesIO(png))
    image.verify()
    return Image.open(io.BytesIO(png))


@pytest.fixture(autouse=True)
def _strict_warnings():
    # A Chinese label drawn without a glyph warns "Glyph … missing from font(s)".
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_trend_is_a_png_of_the_documented_size():
    image = _image(charts.satisfaction_trend_png(WEEKS, HALL, WINDOW,
                                                 "A01 综合受理窗口（一）"), "trend.png")
    assert image.format == "PNG"
    assert image.size == (int(charts.TREND_SIZE[0] * charts.DPI),
                          int(charts.TREND_SIZE[1] * charts.DPI))


def test_trend_draws_the_window_line_only_when_given():
    hall_only = charts.satisfaction_trend_png(WEEKS, HALL, None, None)
    assert hall_only != charts.satisfaction_trend_png(WEEKS, HALL, WINDOW, "A01")
    _image(charts.satisfaction_trend_png(WEEKS, [None] * 12), "trend-empty.png")


def test_levels_grow_with_the_number_of_windows():
    image = _image(charts.levels_png(LEVEL_ROWS), "levels.png")
    assert image.size == (int(charts.LEVELS_WIDTH * charts.DPI),
                          round(charts.levels_height(len(LEVEL_ROWS)) * charts.DPI))
    small = Image.open(io.BytesIO(charts.levels_png(LEVEL_ROWS[:2])))
    assert small.size[1] < image.size[1]
    _image(charts.levels_png([]), "levels-empty.png")


def test_levels_are_coloured_green_to_red():
    png = charts.levels_png([("A01", {5: 50, 1: 50})])
    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = {c: n for n, c in image.getcolors(maxcolors=1 << 16)}
    green, yellow, red = (pixels.get(_rgb(charts.LEVEL_COLOURS[level]), 0)
                          for level in (5, 3, 1))
    assert green > 10_000 and abs(green - red) < green * 0.1  # two equal halves
    assert 0 < yellow < green * 0.05  # 基本满意 only in the legend


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def test_heatmap_is_two_panels_of_the_documented_size():
    image = _image(charts.heatmap_png(RATINGS, BAD, HOURS), "heatmap.png")
    assert image.size == (int(charts.HEATMAP_SIZE[0] * charts.DPI),
                          int(charts.HEATMAP_SIZE[1] * charts.DPI))
    with pytest.raises(ValueError):
        charts.heatmap_png(RATINGS[:6], BAD, HOURS)


def test_cache_draws_again_only_when_the_data_changes():
    charts.clear_cache()
    drawn = []

    def render(values):
        drawn.append(values)
        return charts.satisfaction_trend_png(WEEKS, values)

    first = charts.cached_png(("trend", WEEKS, HALL), lambda: render(HALL))
    again = charts.cached_png(("trend", WEEKS, list(HALL)), lambda: render(HALL))
    assert again == first and len(drawn) == 1
    changed = HALL[:-1] + [50.0]
    other = charts.cached_png(("trend", WEEKS, changed), lambda: render(changed))
    assert other != first and len(drawn) == 2
    assert charts.cached_png(("levels", WEEKS, HALL), lambda: b"x") == b"x"  # by name too


def test_cache_forgets_the_least_recently_used(monkeypatch):
    charts.clear_cache()
    monkeypatch.setattr(charts, "CACHE_SIZE", 2)
    calls = []

    def render(n):
        calls.append(n)
        return str(n).encode()

    charts.cached_png(("c", 1), lambda: render(1))
    charts.cached_png(("c", 2), lambda: render(2))
    charts.cached_png(("c", 1), lambda: render(1))  # 1 is now the newest
    charts.cached_png(("c", 3), lambda: render(3))  # 2 goes
    charts.cached_png(("c", 1), lambda: render(1))
    charts.cached_png(("c", 2), lambda: render(2))
    assert calls == [1, 2, 3, 2]


def _rate(window_id: int, local: str, score: int = 5, counted: bool = True,
          tz=SHANGHAI) -> None:
    db.session.add(Rating(client_id=uuid.uuid4().hex, window_id=window_id, score=score,
                          channel="kiosk", counted=counted,
                          created_at=clock.to_utc(datetime.fromisoformat(local), tz)))


def test_heatmap_counts_ratings_either_side_of_midnight_in_the_hall(app):
    a01 = make_window("A01")
    b01 = make_window("B01", staff_no="S002")
    _rate(a01.id, "2026-03-02 23:30", score=1)  # Monday night, hall time (15:30 UTC)
    _rate(a01.id, "2026-03-03 00:30")           # Tuesday, still Monday 16:30 UTC
    _rate(a01.id, "2026-03-03 00:45", score=2)
    _rate(b01.id, "2026-03-03 09:10")
    _rate(b01.id, "2026-03-03 09:20", counted=False)  # excluded: not counted
    _rate(b01.id, "2026-03-01 23:59")  # Sunday before the week: outside
    _rate(b01.id, "2026-03-09 00:00")  # next Monday: outside
    db.session.commit()
    start = clock.day_start_utc(datetime(2026, 3, 2).date(), SHANGHAI)
    end = clock.day_start_utc(datetime(2026, 3, 9).date(), SHANGHAI)

    heat = charts.heatmap_counts(start, end, SHANGHAI)
    assert heat.hours == [0] + HOURS + [23]
    cells = _cells(heat)
    assert cells == {(0, 23): (1, 1), (1, 0): (2, 1), (1, 9): (1, 0)}

    only_b = charts.heatmap_counts(start, end, SHANGHAI, window_ids=[b01.id])
    assert _cells(only_b) == {(1, 9): (1, 0)} and only_b.hours == HOURS
    _image(charts.heatmap_png(heat.ratings, heat.bad, heat.hours), "heatmap-midnight.png")


def test_heatmap_counts_in_a_zone_with_a_half_hour_offset(app):
    kolkata = clock.zone("Asia/Kolkata")
    window = make_window("A01")
    _rate(window.id, "2026-03-03 00:15", tz=kolkata)  # Monday 18:45 UTC
    _rate(window.id, "2026-03-02 23:50", tz=kolkata, score=1)
    db.session.commit()
    start = clock.day_start_utc(datetime(2026, 3, 2).date(), kolkata)
    end = clock.day_start_utc(datetime(2026, 3, 9).date(), kolkata)
    assert _cells(charts.heatmap_counts(start, end, kolkata)) == {(1, 0): (1, 0),
                                                                 (0, 23): (1, 1)}


def _cells(heat: charts.Heatmap) -> dict[tuple[int, int], tuple[int, int]]:
    return {(day, hour): (heat.ratings[day][i], heat.bad[day][i])
            for day in range(7) for i, hour in enumerate(heat.hours)
            if heat.ratings[day][i] or heat.bad[day][i]}
