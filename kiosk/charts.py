"""Charts for the league and dashboard pages, as PNG bytes.

Renderers are pure: they take plain numbers and labels, build a matplotlib ``Figure``
(never pyplot, whose global state is shared by waitress's threads) and draw every text
with the bundled font. ``cached_png`` keeps recent PNGs keyed by their input data, so a
chart is drawn again only when its data changes. ``heatmap_counts`` reads the data the
heatmap needs.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import clock, fonts
from .db import db
from .models import Rating
from .scale import BAD_SCORE_MAX, SCORES

DPI = 100
TREND_SIZE = (9.0, 3.6)  # inches: 900 × 360 px
LEVELS_WIDTH = 9.0
HEATMAP_SIZE = (12.0, 3.8)
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
OPENING_HOURS = tuple(range(8, 19))  # always shown; any other hour with ratings too
LEVEL_COLOURS = {5: "#1a9850", 4: "#91cf60", 3: "#fee08b", 2: "#fc8d59", 1: "#d73027"}
HALL_COLOUR = "#1d3f73"
WINDOW_COLOUR = "#e67e22"
TEXT_COLOUR = "#222222"

_render_lock = threading.Lock()  # matplotlib is not thread-safe; a chart takes ~0.1 s


def levels_height(rows: int) -> float:
    """The height in inches of ``levels_png`` for ``rows`` windows."""
    return 1.5 + 0.34 * max(rows, 1)


# -- the cache ---------------------------------------------------------------------

CACHE_SIZE = 64
_cache: OrderedDict[str, bytes] = OrderedDict()
_cache_lock = threading.Lock()


def chart_key(key_parts: Sequence[object]) -> str:
    """A digest of a chart's name and input data."""
    text = json.dumps(list(key_parts), sort_keys=True, default=str, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cached_png(key_parts: Sequence[object], render: Callable[[], bytes]) -> bytes:
    """The PNG for ``key_parts`` (the chart's name and all its input data), drawn by
    ``render`` only when no PNG for the same parts is kept. Thread-safe, LRU."""
    key = chart_key(key_parts)
    with _cache_lock:
        png = _cache.get(key)
        if png is not None:
            _cache.move_to_end(key)
            return png
    # Drawn outside the lock: two threads asking at once may both draw; both get
    # the same picture.
    png = render()
    with _cache_lock:
        _cache[key] = png
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return png


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


# -- renderers ---------------------------------------------------------------------

def satisfaction_trend_png(weeks: list[str], hall: list[float | None],
                           window: list[float | None] | None = None,
                           window_label: str | None = None) -> bytes:
    """满意度 (0–100) per ISO week: the hall's line and, optionally, one window's.

    ``weeks`` are labels such as ``2026-W10``; a None value leaves a gap.
    """
    font = fonts.font_properties
    with _render_lock:
        fig = _figure(TREND_SIZE)
        ax = fig.add_axes((0.07, 0.2, 0.9, 0.64))
        x = list(range(len(weeks)))
        series = [("全厅", hall, HALL_COLOUR)]
        if window is not None:
            series.append((window_label or "窗口", window, WINDOW_COLOUR))
        values = [v for _, ys, _ in series for v in ys if v is not None]
        for label, ys, colour in series:
            ax.plot(x, [math.nan if v is None else v for v in ys], color=colour,
                    marker="o", markersize=4, linewidth=2, label=label)
        low = min(values, default=100.0)
        ax.set_ylim(max(0.0, min(60.0, 10 * math.floor((low - 5) / 10))), 102)
        ax.set_xlim(-0.5, max(len(weeks), 1) - 0.5)
        ax.set_xticks(x, _week_ticks(weeks), fontproperties=font(9))
        ax.grid(axis="y", color="#dddddd", linewidth=0.8)
        ax.set_ylabel("满意度", fontproperties=font(10))
        _style(ax)
        fig.text(0.07, 0.93, f"满意度趋势（近 {len(weeks)} 周）", va="center",
                 color=TEXT_COLOUR, fontproperties=font(13))
        if not values:
            _no_data(ax)
        else:
            ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False,
                      prop=font(10))
        return _png(fig)


def levels_png(rows: list[tuple[str, dict[int, int]]]) -> bytes:
    """Per window (``label``, {level: count}), the counts of levels 5..1 as one
    horizontal stacked bar each, in the order given (top to bottom)."""
    font = fonts.font_properties
    height = levels_height(len(rows))
    with _render_lock:
        fig = _figure((LEVELS_WIDTH, height))
        labels = [label for label, _ in rows]
        widest = max((_ems(label) for label in labels), default=4.0)
        left = min(0.45, (widest * 10 / 72 + 0.3) / LEVELS_WIDTH)
        top = 1 - 0.75 / height
        ax = fig.add_axes((left, 0.45 / height, 0.96 - left, top - 0.45 / height))
        totals = [sum(counts.get(level, 0) for level in SCORES) for _, counts in rows]
        most = max(totals, default=0)
        y = list(range(len(rows)))
        starts = [0] * len(rows)
        for level in sorted(SCORES, reverse=True):
            counts = [c.get(level, 0) for _, c in rows]
            ax.barh(y, counts, left=starts, height=0.7, color=LEVEL_COLOURS[level],
                    edgecolor="white", linewidth=0.5, label=SCORES[level].zh)
            for row, (start, n) in enumerate(zip(starts, counts)):
                if n and n >= most * 0.05:
                    ax.text(start + n / 2, row, str(n), ha="center", va="center",
                            color="white" if level in (5, 1) else TEXT_COLOUR,
                            fontproperties=font(8))
            starts = [s + n for s, n in zip(starts, counts)]
        for row, total in enumerate(totals):
            ax.text(total + most * 0.01, row, str(total), va="center", color="#555555",
                    fontproperties=font(8))
        ax.set_yticks(y, labels, fontproperties=font(10))
        ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)
        ax.set_xlim(0, max(most, 1) * 1.08)
        ax.set_xlabel("评价数", fontproperties=font(10))
        ax.grid(axis="x", color="#eeeeee", linewidth=0.8)
        ax.set_axisbelow(True)
        _style(ax)
        if rows:
            ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=5, frameon=False,
                      prop=font(10), handlelength=1.2, borderaxespad=0.3)
        else:
            ax.set_xticks([])
            _no_data(ax)
        return _png(fig)


def heatmap_png(ratings: list[list[int]], bad: list[list[int]],
                hours: list[int]) -> bytes:
    """Two weekday (周一..周日) × hour panels: counts of ratings and of 差评, one row a
    weekday and one column per entry of ``hours``."""
    for name, grid in (("ratings", ratings), ("bad", bad)):
        if len(grid) != 7 or any(len(row) != len(hours) for row in grid):
            raise ValueError(f"{name} must be 7 rows of {len(hours)} counts")
    font = fonts.font_properties
    with _render_lock:
        fig = _figure(HEATMAP_SIZE)
        panels = (("评价数（按星期、时段）", ratings, "Blues"),
                  ("差评数（按星期、时段）", bad, "Reds"))
        for i, (title, grid, cmap) in enumerate(panels):
            ax = fig.add_axes((0.05 + i * 0.49, 0.14, 0.44, 0.72))
            most = max((n for row in grid for n in row), default=0)
            ax.imshow(grid, cmap=cmap, vmin=0, vmax=max(most, 1), aspect="auto")
            for r, row in enumerate(grid):
                for c, n in enumerate(row):
                    if n:
                        ax.text(c, r, str(n), ha="center", va="center",
                                color="white" if n > most * 0.6 else TEXT_COLOUR,
                                fontproperties=font(8))
            ax.set_yticks(range(7), WEEKDAYS, fontproperties=font(9))
            ax.set_xticks(range(len(hours)), [f"{h}时" for h in hours],
                          fontproperties=font(8))
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(title, loc="left", color=TEXT_COLOUR, fontproperties=font(12))
            if not most:
                _no_data(ax)
        return _png(fig)


def answers_png(labels: list[str], counts: list[int], answered: int,
                colours: list[str] | None = None) -> bytes:
    """A questionnaire question's answers (kiosk/survey_results.py): one horizontal bar
    per option or level, in the order given (top to bottom), each labelled with its
    count and its share of the ``answered`` responses."""
    font = fonts.font_properties
    height = 0.9 + 0.42 * max(len(labels), 1)
    with _render_lock:
        fig = _figure((ANSWERS_WIDTH, height))
        widest = max((_ems(label) for label in labels), default=4.0)
        left = min(0.5, (widest * 10 / 72 + 0.3) / ANSWERS_WIDTH)
        ax = fig.add_axes((left, 0.35 / height, 0.86 - left, 1 - 0.6 / height))
        y = list(range(len(labels)))
        most = max(counts, default=0)
        ax.barh(y, counts, height=0.62, color=colours or HALL_COLOUR)
        for row, n in enumerate(counts):
            share = f"{100 * n / answered:.1f}%" if answered else "—"
            ax.text(n + max(most, 1) * 0.01, row, f"{n} ({share})", va="center",
                    color="#444444", fontproperties=font(9))
        ax.set_yticks(y, labels, fontproperties=font(10))
        ax.set_ylim(max(len(labels), 1) - 0.5, -0.5)
        ax.set_xlim(0, max(most, 1) * 1.22)
        ax.grid(axis="x", color="#eeeeee", linewidth=0.8)
        ax.set_axisbelow(True)
        _style(ax)
        if not answered:
            _no_data(ax)
        return _png(fig)


ANSWERS_WIDTH = 7.0  # inches: 700 px, beside the counts table on a 1440 px screen


def _figure(size: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI, facecolor="white")


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    out = io.BytesIO()
    FigureCanvasAgg(fig).print_png(out, metadata={"Software": None})
    return out.getvalue()


def _style(ax) -> None:
    """Drop the chart-junk spines; draw the numeric tick labels in the bundled font."""
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelfontfamily=fonts.FAMILIES, labelsize=9, colors="#444444")


def _no_data(ax) -> None:
    ax.text(0.5, 0.5, "暂无数据", transform=ax.transAxes, ha="center", va="center",
            color="#888888", fontproperties=fonts.font_properties(14))


def _week_ticks(weeks: list[str]) -> list[str]:
    """``2026-W10`` shown as ``W10``; the year on the first week and on each new year."""
    ticks, year = [], None
    for label in weeks:
        head, _, tail = label.partition("-")
        ticks.append(label if head != year or not tail else tail)
        year = head
    return ticks


def _ems(text: str) -> float:
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.6 for c in text)


# -- data --------------------------------------------------------------------------

@dataclass(frozen=True)
class Heatmap:
    """Counts by local weekday (row 0 = Monday) and hour (one column per ``hours``)."""

    hours: list[int]
    ratings: list[list[int]]
    bad: list[list[int]]


def heatmap_counts(start_utc: datetime, end_utc: datetime, tz: ZoneInfo,
                   window_ids: Sequence[int] | None = None) -> Heatmap:
    """Counted ratings tapped in [start_utc, end_utc) (naive UTC) by hall-local weekday
    and hour: all of them, and the 差评. ``window_ids`` limits them to those windows."""
    where = [Rating.counted.is_(True), Rating.created_at >= start_utc,
             Rating.created_at < end_utc]
    if window_ids is not None:
        where.append(Rating.window_id.in_(list(window_ids)))
    bad = sa.func.sum(sa.case((Rating.score <= BAD_SCORE_MAX, 1), else_=0))
    # The database counts per UTC hour; each UTC hour falls in one local hour when the
    # zone's offset is a whole number of hours then (it is for China).
    hour = sa.extract("hour", Rating.created_at)
    day = sa.func.date(Rating.created_at)
    counts: dict[tuple[int, int], list[int]] = {}
    rows = db.session.execute(sa.select(day, hour, sa.func.count(), bad)
                              .where(*where).group_by(day, hour))
    for utc_day, utc_hour, n, n_bad in rows:
        moment = datetime.combine(date.fromisoformat(str(utc_day)), time(int(utc_hour)))
        local = clock.to_local(moment, tz)
        if local.utcoffset() % timedelta(hours=1):
            return _heatmap(_scan(where, tz))
        cell = counts.setdefault((local.weekday(), local.hour), [0, 0])
        cell[0] += n
        cell[1] += int(n_bad or 0)
    return _heatmap(counts)


def _scan(where: list, tz: ZoneInfo) -> dict[tuple[int, int], list[int]]:
    """Rating by rating, for zones whose offset is not a whole number of hours."""
    counts: dict[tuple[int, int], list[int]] = {}
    for created_at, score in db.session.execute(
            sa.select(Rating.created_at, Rating.score).where(*where)):
        local = clock.to_local(created_at, tz)
        cell = counts.setdefault((local.weekday(), local.hour), [0, 0])
        cell[0] += 1
        cell[1] += score <= BAD_SCORE_MAX
    return counts


def _heatmap(counts: dict[tuple[int, int], list[int]]) -> Heatmap:
    hours = sorted(set(OPENING_HOURS) | {h for _, h in counts})
    grid = [[counts.get((d, h), [0, 0]) for h in hours] for d in range(7)]
    return Heatmap(hours=hours,
                   ratings=[[cell[0] for cell in row] for row in grid],
                   bad=[[cell[1] for cell in row] for row in grid])
