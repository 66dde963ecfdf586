"""The one chart module: line charts as inline SVG, for every HTML report (backtest, load test,
game day) and the ``sloctl serve`` pages. Drawn on the server, so a chart shows without
JavaScript and a report file fetches nothing when opened. Pure and deterministic: the same
input gives the same bytes.

>>> svg = line_chart("burn rate", [Line("5m", ((0, 1.0), (60, 2.0)))])
>>> svg.startswith("<svg") and "<polyline" in svg
True

A line breaks where samples are missing (:data:`GAP_STEPS`), and its legend sits under the
plot, never over the data:

>>> gap = line_chart("sli", [Line("SLI", ((0, 1.0), (60, 1.0), (120, 1.0), (600, 1.0), (660, 1.0)))])
>>> gap.count("<polyline")
2
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

__all__ = [
    "GAP_STEPS",
    "OTHER_TIER_COLOUR",
    "PALETTE",
    "TIER_COLOURS",
    "X_NOTES",
    "Band",
    "Line",
    "Mark",
    "clock",
    "line_chart",
    "seconds",
    "threshold",
]

#: Colours in order of use: distinct hues, each dark enough for text on white (WCAG AA, 4.5:1).
PALETTE = ("#1f62a8", "#c0282a", "#2b7a2b", "#7b3fa8", "#a65300", "#8c564b", "#0f7480", "#595959")
#: Each alert tier's colour, for its threshold (dashed, :func:`threshold`) and, in a backtest,
#: the long window that trips it: a palette of its own, none of :data:`PALETTE`'s hues, so a
#: threshold is never read as a window drawn in the same colour. From Paul Tol's colour-blind
#: safe schemes ("muted": wine, indigo; "bright": olive darkened, black), all 4.5:1 on white.
TIER_COLOURS = {
    "page_quick": "#882255",
    "page_slow": "#332288",
    "ticket_quick": "#6b6b00",
    "ticket_slow": "#000000",
}
#: A tier not in :data:`TIER_COLOURS` (a catalog's own tier names).
OTHER_TIER_COLOUR = "#444444"
#: A line breaks where two samples are more than this many of its steps apart (its step: the
#: median spacing of its samples, which a Prometheus range query keeps exact): a scrape or a
#: rule evaluation that is late by less than half a step still joins, missing samples do not
#: (a straight line over a 2-hour hole reads as data that was never there).
GAP_STEPS = 1.5


@dataclass(frozen=True)
class Line:
    name: str
    points: Sequence[tuple[float, float]]
    """(x, y) pairs; non-finite y values are left out."""
    colour: str = ""
    """Empty: the next colour of :data:`PALETTE`."""
    dashed: bool = False
    css_class: str = ""
    width: float = 1.5
    legend: bool = True


def threshold(name: str, value: float, x_range: tuple[float, float], tier: str) -> Line:
    """Alert tier ``tier``'s threshold ``value`` across ``x_range``: dashed, in the tier's
    colour (:data:`TIER_COLOURS`), class ``threshold``."""
    colour = TIER_COLOURS.get(tier, OTHER_TIER_COLOUR)
    x0, x1 = x_range
    return Line(name, ((x0, value), (x1, value)), colour, dashed=True, css_class="threshold", width=1)


@dataclass(frozen=True)
class Band:
    """A shaded x interval (a game day's phases)."""

    start: float
    end: float
    label: str
    colour: str = "#eeeeee"
    css_class: str = ""


@dataclass(frozen=True)
class Mark:
    """A dashed vertical line at ``at`` with a label (a fault, a page)."""

    at: float
    label: str


def seconds(x: float) -> str:
    """An x axis of seconds since the start."""
    return f"{x:.0f}s"


def clock(x: float) -> str:
    """An x axis of Unix times, shown as UTC (which the axis says: :data:`X_NOTES`)."""
    return datetime.fromtimestamp(x, UTC).strftime("%m-%d %H:%M")


#: What an x axis says under its ticks when the chart gives no ``x_label``: a time of day is
#: read as the reader's own zone unless the axis names it.
X_NOTES: dict[Callable[[float], str], str] = {clock: "time (UTC)"}


def _num(v: float) -> str:
    return f"{v:.1f}"


def line_chart(
    title: str,
    lines: Sequence[Line],
    *,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    log: bool = False,
    unit: str = "",
    x_format: Callable[[float], str] = seconds,
    bands: Sequence[Band] = (),
    marks: Sequence[Mark] = (),
    width: int = 640,
    height: int = 220,
    css_class: str = "chart",
    x_label: str = "",
    percent: bool = False,
) -> Markup:
    """A line chart. ``log``: a log10 y axis (burn rates span 0.1x to 1000x); y values are
    clamped to ``y_range`` (default: 0 or the lowest value, to the highest plus 10 %).
    ``percent``: the y values are ratios, labelled on the axis as percentages (``-61`` reads
    ``-6100 %``, as the page's text says it). The legend goes under the plot, in rows that
    make the chart taller than ``height``."""
    f = _frame(lines, x_range, y_range, log, width, height)
    e = escape
    legend, legend_h = _legend(f, lines)
    total_h = height + legend_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{e(css_class)}" width="{width}" height="{total_h}"'
        f' viewBox="0 0 {width} {total_h}" role="img" aria-label="{e(title)}"'
        ' font-family="sans-serif" font-size="11">',
        f"<title>{e(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{total_h}" fill="#ffffff"/>',
        f'<text x="{f.left}" y="15" font-size="13">{e(title)}</text>',
    ]
    for band in bands:
        a, b = f.px(band.start), f.px(band.end)
        band_class = f' class="{e(band.css_class)}"' if band.css_class else ""
        parts.append(
            f'<rect{band_class} x="{_num(a)}" y="{f.top}" width="{_num(max(0.0, b - a))}" height="{f.plot_h}"'
            f' fill="{e(band.colour)}"><title>{e(band.label)}</title></rect>'
            f'<text x="{_num(a + 3)}" y="{f.top + 12}" font-size="10">{e(band.label)}</text>'
        )
    parts += _axes(f, x_format, percent)
    if unit:
        parts.append(f'<text x="4" y="{f.top - 8}">{e(unit)}</text>')
    x_label = x_label or X_NOTES.get(x_format, "")
    if x_label:
        parts.append(f'<text x="{width - f.right}" y="{height - 2}" text-anchor="end">{e(x_label)}</text>')
    for mark in marks:
        mx = _num(f.px(mark.at))
        parts.append(
            f'<line x1="{mx}" y1="{f.top}" x2="{mx}" y2="{f.top + f.plot_h}" stroke="#555"'
            ' stroke-dasharray="4 3">'
            f"<title>{e(mark.label)} at {e(x_format(mark.at))}</title></line>"
            f'<text x="{_num(f.px(mark.at) + 2)}" y="{f.top + 24}" font-size="10">{e(mark.label)}</text>'
        )
    parts += _polylines(f, lines)
    parts += legend
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class _Frame:
    """A chart's size, its plot area inside the margins, and the data ranges drawn on it
    (``ly0``, ``ly1``: the y range on the axis's own scale, log10 on a log axis)."""

    width: int
    height: int
    x0: float
    x1: float
    ly0: float
    ly1: float
    log: bool
    left = 56
    right = 12
    top = 24
    bottom = 30

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> int:
        return self.height - self.top - self.bottom

    def px(self, x: float) -> float:
        return self.left + self.plot_w * (min(max(x, self.x0), self.x1) - self.x0) / (self.x1 - self.x0)

    def py(self, y: float) -> float:
        scaled = _scale(y, self.log)
        return self.top + self.plot_h * (
            1 - (min(max(scaled, self.ly0), self.ly1) - self.ly0) / (self.ly1 - self.ly0)
        )


def _scale(v: float, log: bool) -> float:
    return math.log10(max(v, 1e-12)) if log else v


def _frame(
    lines: Sequence[Line],
    x_range: tuple[float, float] | None,
    y_range: tuple[float, float] | None,
    log: bool,
    width: int,
    height: int,
) -> _Frame:
    """The ranges of the axes: given, else the data's (see :func:`line_chart`); never empty."""
    xs = [x for line in lines for x, _ in line.points]
    if x_range is None:
        x_range = (min(xs, default=0.0), max(xs, default=1.0))
    x0, x1 = x_range
    if x1 <= x0:
        x1 = x0 + 1
    ys = [y for line in lines for _, y in line.points if math.isfinite(y)]
    if y_range is None:
        lo = min([0.0, *ys]) if not log else max(min(ys, default=0.1), 1e-3)
        hi = max(ys, default=1.0)
        y_range = (lo, hi * 1.1 if hi > 0 else lo + 1)
    y0, y1 = y_range
    if y1 <= y0:
        y1 = y0 + 1
    return _Frame(width, height, x0, x1, _scale(y0, log), _scale(y1, log), log)


def _axes(f: _Frame, x_format: Callable[[float], str], percent: bool) -> list[str]:
    """Five ticks with grid lines on each axis, and the axis lines."""
    parts = []
    factor, suffix = (100.0, " %") if percent else (1.0, "")
    # Linear ticks get the decimals their spacing needs (an SLI axis from 0.999 to 1 reads
    # 0.99900, 0.99925, …, not 0.999 three times); log ticks three significant digits.
    decimals = max(0, math.ceil(-math.log10(factor * (f.ly1 - f.ly0) / 4) + 0.5)) if not f.log else 0
    for i in range(5):
        v = f.ly0 + (f.ly1 - f.ly0) * i / 4
        shown = f"{factor * 10**v:.3g}{suffix}" if f.log else f"{factor * v:.{decimals}f}{suffix}"
        y = f.top + f.plot_h * (1 - i / 4)
        parts.append(
            f'<line x1="{f.left}" y1="{_num(y)}" x2="{f.width - f.right}" y2="{_num(y)}" stroke="#e4e4e4"/>'
            f'<text x="{f.left - 4}" y="{_num(y + 4)}" text-anchor="end">{shown}</text>'
        )
    for i in range(5):
        x = f.x0 + (f.x1 - f.x0) * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        label = escape(x_format(x))
        parts.append(
            f'<text x="{_num(f.px(x))}" y="{f.height - f.bottom + 14}" text-anchor="{anchor}">{label}</text>'
        )
    bottom = f.top + f.plot_h
    parts.append(
        f'<line x1="{f.left}" y1="{bottom}" x2="{f.width - f.right}" y2="{bottom}" stroke="#333"/>'
        f'<line x1="{f.left}" y1="{f.top}" x2="{f.left}" y2="{bottom}" stroke="#333"/>'
    )
    return parts


def _polylines(f: _Frame, lines: Sequence[Line]) -> list[str]:
    """Each line in :data:`PALETTE`'s colours unless it has its own, broken where samples are
    missing (:func:`_runs`); a run of one sample is a dot."""
    e = escape
    parts = []
    for n, line in enumerate(lines):
        colour = _colour(n, line)
        attrs = f' class="{e(line.css_class)}"' if line.css_class else ""
        for run in _runs(line.points):
            xy = [(_num(f.px(x)), _num(f.py(y))) for x, y in run]
            if len(xy) == 1:
                # A polyline of one point draws nothing: a series with a single sample in the
                # range (a Prometheus minutes old, read at a step of hours) is a dot.
                (cx, cy), r = xy[0], _num(line.width + 1.5)
                parts.append(
                    f'<circle{attrs} cx="{cx}" cy="{cy}" r="{r}" fill="{e(colour)}">'
                    f"<title>{e(line.name)}</title></circle>"
                )
                continue
            pts = " ".join(f"{x},{y}" for x, y in xy)
            stroke = f'stroke="{e(colour)}" stroke-width="{line.width:g}"{_dash(line)}'
            parts.append(
                f'<polyline{attrs} fill="none" {stroke} points="{pts}">'
                f"<title>{e(line.name)}</title></polyline>"
            )
    return parts


def _colour(n: int, line: Line) -> str:
    return line.colour or PALETTE[n % len(PALETTE)]


def _dash(line: Line) -> str:
    return ' stroke-dasharray="4 3"' if line.dashed else ""


def _runs(points: Sequence[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """The stretches of ``points`` to draw as one line each: a non-finite value, or two samples
    more than :data:`GAP_STEPS` steps apart, ends one."""
    spacings = sorted(b[0] - a[0] for a, b in itertools.pairwise(points) if b[0] > a[0])
    step = spacings[(len(spacings) - 1) // 2] if spacings else math.inf  # the lower median
    runs: list[list[tuple[float, float]]] = []
    previous: tuple[float, float] | None = None
    for x, y in points:
        if not math.isfinite(y):
            previous = None
            continue
        if previous is None or x - previous[0] > GAP_STEPS * step:
            runs.append([])
        runs[-1].append((x, y))
        previous = (x, y)
    return runs


#: The legend's rows under the x axis: row height, and an entry's swatch, gap and spacing.
LEGEND_ROW = 14
_SWATCH = 18
_ENTRY_GAP = 14
#: The width of an average character of the 11 px sans-serif the charts use (DejaVu Sans:
#: 0.6 em and less), so that entries laid out in a row do not overlap.
_CHAR_W = 6.6


def _legend(f: _Frame, lines: Sequence[Line]) -> tuple[list[str], int]:
    """The legend of the lines drawn (with ``legend`` set and a finite value), in rows under
    the x axis and its label, each entry a swatch of the line's colour and dash and its name;
    and the height the rows add to the chart."""
    e = escape
    entries = [
        (n, line)
        for n, line in enumerate(lines)
        if line.legend and any(math.isfinite(y) for _, y in line.points)
    ]
    if not entries:
        return [], 0
    parts = ['<g class="legend">']
    x, row = float(f.left), 0
    right = f.width - f.right
    for n, line in entries:
        size = _SWATCH + 4 + len(line.name) * _CHAR_W
        if x > f.left and x + size > right:
            x, row = float(f.left), row + 1
        y = f.height + LEGEND_ROW * row + 12
        colour = e(_colour(n, line))
        parts.append(
            f'<line x1="{_num(x)}" y1="{y - 4}" x2="{_num(x + _SWATCH)}" y2="{y - 4}" stroke="{colour}"'
            f' stroke-width="2"{_dash(line)}/>'
            f'<text x="{_num(x + _SWATCH + 4)}" y="{y}" fill="{colour}">{e(line.name)}</text>'
        )
        x += size + _ENTRY_GAP
    parts.append("</g>")
    return parts, LEGEND_ROW * (row + 1) + 4
