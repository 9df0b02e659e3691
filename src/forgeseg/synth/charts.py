"""Charts: bar charts with error bars and significance stars, and line charts with markers.

Stars, legend swatches and tick labels repeat identical pixels many times in one figure;
they are legitimate repetitions a detector must not flag. Bars and markers are recorded
as objects: duplicating a bar is a common forgery.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forgeseg.synth.axes import draw_axes, plot_layout
from forgeseg.synth.canvas import FONT, Obj, Panel, draw_text, mark

__all__ = ["render_chart"]

_GROUPS = (
    "Ctrl",
    "WT",
    "KO",
    "siNC",
    "siRNA",
    "Vehicle",
    "Drug",
    "Sham",
    "Model",
    "LPS",
    "DMSO",
    "0h",
    "6h",
    "12h",
    "24h",
    "48h",
    "Mock",
    "OE",
)
_PALETTE = (
    (40, 40, 40),
    (200, 60, 50),
    (50, 100, 200),
    (90, 170, 80),
    (240, 160, 40),
    (150, 90, 180),
    (160, 160, 160),
)
_Y_LABELS = (
    "Relative expression",
    "Fold change",
    "% of control",
    "OD 450",
    "Cell viability (%)",
    "Tumor volume (mm3)",
    "Count",
)


@dataclass
class _Chart:
    """What every drawing step of a chart shares: canvas, plot geometry and data."""

    img: np.ndarray
    text: np.ndarray  # bool (h, w): receives every label and legend swatch drawn
    objects: list[Obj]
    box: tuple[int, int, int, int]
    scale: float
    thick: int
    colors: list[tuple[int, int, int]]
    vals: np.ndarray  # (n_groups, n_series) heights as fractions of the plot height
    errs: np.ndarray  # like ``vals``: half the error bar
    group_w: float
    bar_w: int

    def point(self, g: int, s: int) -> tuple[int, int]:
        """(x, y) pixel of group ``g``, series ``s``: the bar's centre top or the marker."""
        y0, x0, y1, _ = self.box
        n_series = self.vals.shape[1]
        cx = int(x0 + self.group_w * (g + 0.5) + (s - (n_series - 1) / 2) * self.bar_w)
        return cx, int(y1 - self.vals[g, s] * (y1 - y0))


def _chart_data(
    rng: np.random.Generator, img: np.ndarray, box: tuple[int, int, int, int], scale: float
) -> _Chart:
    """Random groups, series, values and colours of a chart drawn into ``box`` of ``img``."""
    h, w = img.shape[:2]
    n_groups = int(rng.integers(2, 7))
    n_series = int(rng.integers(1, 4))
    colors = [_PALETTE[i] for i in rng.permutation(len(_PALETTE))[:n_series]]
    vals = rng.uniform(0.15, 0.85, (n_groups, n_series))
    errs = vals * rng.uniform(0.03, 0.2, (n_groups, n_series))
    group_w = (box[3] - box[1]) / n_groups
    bar_w = max(2, int(group_w * rng.uniform(0.5, 0.8) / n_series))
    thick = max(1, round(scale * 1.5))
    text = np.zeros((h, w), bool)
    return _Chart(img, text, [], box, scale, thick, colors, vals, errs, group_w, bar_w)


def _draw_bar(rng: np.random.Generator, c: _Chart, cx: int, top: int, s: int) -> None:
    y1 = c.box[2]
    bx0, bx1 = cx - c.bar_w // 2, cx + c.bar_w // 2
    hatch = rng.random() < 0.15
    cv2.rectangle(c.img, (bx0, top), (bx1, y1), c.colors[s], -1)
    cv2.rectangle(c.img, (bx0, top), (bx1, y1), (0, 0, 0), c.thick)
    if hatch:
        for yy in range(top + 4, y1, 6):
            cv2.line(c.img, (bx0, yy), (bx1, yy), (255, 255, 255), 1)
    if bx1 - bx0 >= 3 and y1 - top >= 3:
        c.objects.append(Obj((top, bx0, y1, bx1 + 1), "bar", None))


def _draw_error_bar(c: _Chart, cx: int, top: int, e: int) -> None:
    cv2.line(c.img, (cx, top - e), (cx, top + e), (0, 0, 0), c.thick)
    cap = max(2, c.bar_w // 4)
    cv2.line(c.img, (cx - cap, top - e), (cx + cap, top - e), (0, 0, 0), c.thick)


def _draw_marker(c: _Chart, cx: int, top: int, s: int) -> None:
    """A line chart's data point; the shape tells series apart in grayscale print."""
    r = max(2, int(4 * c.scale))
    if s % 3 == 0:
        cv2.circle(c.img, (cx, top), r, c.colors[s], -1, cv2.LINE_AA)
    elif s % 3 == 1:
        cv2.rectangle(c.img, (cx - r, top - r), (cx + r, top + r), c.colors[s], -1)
    else:
        tri = np.array([[cx, top - r], [cx - r, top + r], [cx + r, top + r]])
        cv2.fillPoly(c.img, [tri], c.colors[s], cv2.LINE_AA)
    box = (max(0, top - r - 1), max(0, cx - r - 1), top + r + 2, cx + r + 2)
    c.objects.append(Obj(box, "marker", None))


def _draw_data(rng: np.random.Generator, c: _Chart, bars: bool) -> None:
    """Bars or markers with error bars and significance stars, then the series' lines."""
    n_groups, n_series = c.vals.shape
    ph = c.box[2] - c.box[0]
    for g in range(n_groups):
        for s in range(n_series):
            cx, top = c.point(g, s)
            e = int(c.errs[g, s] * ph)
            if bars:
                _draw_bar(rng, c, cx, top, s)
            _draw_error_bar(c, cx, top, e)
            if not bars:
                _draw_marker(c, cx, top, s)
            if rng.random() < 0.25:
                stars = "*" * int(rng.integers(1, 4))
                (tw, _), _ = cv2.getTextSize(stars, FONT, 0.5 * c.scale, 1)
                org = (cx - tw // 2, max(8, top - e - 4))
                draw_text(c.img, stars, org, 0.5 * c.scale, (0, 0, 0), c.thick, c.text)
    if not bars:
        for s in range(n_series):
            pts = [c.point(g, s) for g in range(n_groups)]
            cv2.polylines(c.img, [np.array(pts)], False, c.colors[s], c.thick, cv2.LINE_AA)


def _draw_legend(rng: np.random.Generator, c: _Chart) -> None:
    y0, _, _, x1 = c.box
    lx, ly = x1 - int((x1 - c.box[1]) * 0.3), y0 + int(10 * c.scale)
    for s in range(c.vals.shape[1]):
        sz = max(3, int(6 * c.scale))
        yy = ly + s * int(16 * c.scale + 2)
        cv2.rectangle(c.img, (lx, yy), (lx + sz, yy + sz), c.colors[s], -1)
        # Swatches repeat the bars' exact colour: legitimate, so masked like text.
        mark(c.text, yy - 1, lx - 1, yy + sz + 2, lx + sz + 2)
        group = str(rng.choice(_GROUPS))
        draw_text(c.img, group, (lx + sz + 4, yy + sz), 0.4 * c.scale, (0, 0, 0), 1, c.text)


def _chart_axes(rng: np.random.Generator, c: _Chart) -> None:
    ymax = int(rng.choice([1, 2, 5, 10, 50, 100, 150]))
    yt = [f"{ymax * i / 4:g}" for i in range(5)]
    xt = [str(g) for g in rng.choice(_GROUPS, c.vals.shape[0])]
    ylab = str(rng.choice(_Y_LABELS))
    draw_axes(c.img, c.box, "", ylab, xt, yt, c.scale, c.text)


def render_chart(rng: np.random.Generator, h: int, w: int) -> Panel:
    """Bar chart with error bars and stars, or line chart with markers: uint8 RGB (h, w, 3)."""
    img = np.full((h, w, 3), 255, np.uint8)
    box, scale = plot_layout(rng, h, w)
    if box[2] - box[0] < 8 or box[3] - box[1] < 8:
        return Panel(img, "chart")
    c = _chart_data(rng, img, box, scale)
    negs = ["repeated_glyphs"]
    _draw_data(rng, c, bars=rng.random() < 0.6)
    if c.vals.shape[1] > 1:
        negs.append("legend_markers")
        _draw_legend(rng, c)
    _chart_axes(rng, c)
    return Panel(img, "chart", c.objects, negs, annotations=c.text)
