"""Plots: flow cytometry scatter and density plots with gates (charts: ``charts.py``).

Axes, tick labels, gate percentages and quadrant labels repeat identical glyphs many times
in one figure; they are legitimate repetitions a detector must not flag.
"""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.synth.axes import draw_axes, plot_layout
from forgeseg.synth.canvas import Obj, Panel, draw_text

# Charts live in their own module; re-exported so both plot kinds come from one place.
from forgeseg.synth.charts import render_chart

__all__ = ["render_chart", "render_flow_cytometry"]

_MARKERS = (
    "FSC-A",
    "SSC-A",
    "CD4 PE",
    "CD8 APC",
    "Annexin V FITC",
    "PI",
    "CD45 PerCP",
    "GFP",
    "CD11b",
    "Ki-67",
    "CD3 BV421",
    "7-AAD",
)


def _populations(
    rng: np.random.Generator, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, list[Obj]]:
    """Events of 1-4 Gaussian populations in unit axes ((n, 2) x, y) and their boxes."""
    y0, x0, y1, x1 = box
    ph, pw = y1 - y0, x1 - x0
    objects: list[Obj] = []
    k = int(rng.integers(1, 5))
    n = int(rng.integers(2000, 30000))
    weights = rng.dirichlet(np.ones(k))
    counts = rng.multinomial(n, weights)
    pts = []
    for c in range(k):
        mu = rng.uniform(0.15, 0.85, 2)
        sd = rng.uniform(0.03, 0.12, 2)
        rho = rng.uniform(-0.6, 0.6)
        cov = np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
        pts.append(rng.multivariate_normal(mu, cov, int(counts[c])))
        cy0 = int(y0 + ph * (1 - (mu[1] + 2.2 * sd[1])))
        cy1 = int(y0 + ph * (1 - (mu[1] - 2.2 * sd[1])))
        cx0 = int(x0 + pw * (mu[0] - 2.2 * sd[0]))
        cx1 = int(x0 + pw * (mu[0] + 2.2 * sd[0]))
        cy0, cx0, cy1, cx1 = max(cy0, y0), max(cx0, x0 + 2), min(cy1, y1 - 2), min(cx1, x1)
        if cy1 - cy0 >= 4 and cx1 - cx0 >= 4:
            objects.append(Obj((cy0, cx0, cy1, cx1), "population", None))
    xy = np.concatenate(pts) if pts else np.zeros((0, 2))
    return xy[(xy[:, 0] > 0) & (xy[:, 0] < 1) & (xy[:, 1] > 0) & (xy[:, 1] < 1)], objects


def _draw_events(rng: np.random.Generator, plot: np.ndarray, xy: np.ndarray) -> None:
    """Plot events ``xy`` (unit axes) into ``plot`` as a density map or as plain dots."""
    ph, pw = plot.shape[:2]
    px = (xy[:, 0] * (pw - 1)).astype(int)
    py = ((1 - xy[:, 1]) * (ph - 1)).astype(int)
    if rng.random() < 0.6:
        dens = np.zeros((ph, pw), np.float32)
        np.add.at(dens, (py, px), 1.0)
        dens = cv2.GaussianBlur(dens, (0, 0), max(0.6, min(ph, pw) / 150))
        lv = np.log1p(dens * 4)
        lv = (255 * lv / max(float(lv.max()), 1e-6)).astype(np.uint8)
        color = cv2.applyColorMap(lv, cv2.COLORMAP_JET)[:, :, ::-1]
        show = dens > 0.05
        plot[show] = color[show]
    else:
        dot = tuple(int(v) for v in rng.choice([[0, 0, 0], [30, 30, 200], [60, 60, 60]]))
        plot[py, px] = dot


def _gates(rng: np.random.Generator, plot: np.ndarray, plot_text: np.ndarray, scale: float) -> None:
    """Rectangular gates and quadrant lines, each labelled with a percentage."""
    ph, pw = plot.shape[:2]
    for _ in range(int(rng.integers(0, 3))):
        gy0, gx0 = int(rng.uniform(0, 0.6) * ph), int(rng.uniform(0, 0.6) * pw)
        gy1 = gy0 + int(rng.uniform(0.2, 0.4) * ph)
        gx1 = gx0 + int(rng.uniform(0.2, 0.4) * pw)
        cv2.rectangle(
            plot, (gx0, gy0), (min(gx1, pw - 1), min(gy1, ph - 1)), (0, 0, 0), max(1, int(scale))
        )
        org = (gx0 + 2, max(10, gy0 - 3))
        draw_text(plot, f"{rng.uniform(0.5, 80):.1f}", org, 0.4 * scale, (0, 0, 0), 1, plot_text)
    if rng.random() < 0.4:
        qy, qx = int(rng.uniform(0.3, 0.7) * ph), int(rng.uniform(0.3, 0.7) * pw)
        cv2.line(plot, (qx, 0), (qx, ph - 1), (0, 0, 0), 1)
        cv2.line(plot, (0, qy), (pw - 1, qy), (0, 0, 0), 1)
        for cx, cy in ((3, 12), (pw - 40, 12), (3, ph - 4), (pw - 40, ph - 4)):
            label = f"{rng.uniform(0.1, 60):.1f}"
            draw_text(plot, label, (max(0, cx), cy), 0.35 * scale, (0, 0, 0), 1, plot_text)


def render_flow_cytometry(rng: np.random.Generator, h: int, w: int) -> Panel:
    """Scatter or pseudo-colour density plot with gates: uint8 RGB (h, w, 3)."""
    img = np.full((h, w, 3), 255, np.uint8)
    text = np.zeros((h, w), bool)
    box, scale = plot_layout(rng, h, w)
    y0, x0, y1, x1 = box
    if y1 - y0 < 8 or x1 - x0 < 8:
        return Panel(img, "flow_cytometry")
    xy, objects = _populations(rng, box)
    plot = img[y0:y1, x0:x1]
    plot_text = text[y0:y1, x0:x1]  # a view: labels inside the plot land in ``text``
    _draw_events(rng, plot, xy)
    _gates(rng, plot, plot_text, scale)
    ticks = (
        ["0", "10^2", "10^3", "10^4", "10^5"]
        if rng.random() < 0.7
        else ["0", "50K", "100K", "150K", "200K", "250K"]
    )
    xl, yl = rng.choice(_MARKERS, 2, replace=False)
    draw_axes(img, box, str(xl), str(yl), ticks, ticks, scale, text)
    return Panel(img, "flow_cytometry", objects, ["repeated_glyphs"], annotations=text)
