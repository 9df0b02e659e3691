"""Plots: flow cytometry scatter/density plots and bar/line charts, with axes and text.

Axes, tick labels, legend markers and significance stars repeat identical glyphs many times
in one figure; they are legitimate repetitions a detector must not flag.
"""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.synth.canvas import FONT, Obj, Panel, draw_text, mark

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


def _axes(
    img: np.ndarray,
    rng: np.random.Generator,
    box: tuple[int, int, int, int],
    xlabel: str,
    ylabel: str,
    xticks: list[str],
    yticks: list[str],
    scale: float,
    text: np.ndarray,
) -> None:
    """Draw L-shaped axes with ticks and labels around plot area ``box`` (y0, x0, y1, x1).

    ``text`` (bool like ``img``'s (H, W)) receives the boxes of all labels drawn.
    """
    y0, x0, y1, x1 = box
    thick = max(1, round(scale * 2))
    cv2.line(img, (x0, y1), (x1, y1), (0, 0, 0), thick)
    cv2.line(img, (x0, y0), (x0, y1), (0, 0, 0), thick)
    tick = max(2, int(5 * scale))
    for i, lab in enumerate(xticks):
        x = int(x0 + (x1 - x0) * (i + 0.5) / len(xticks)) if len(xticks) else x0
        cv2.line(img, (x, y1), (x, y1 + tick), (0, 0, 0), thick)
        (tw, th), _ = cv2.getTextSize(lab, FONT, 0.4 * scale, 1)
        draw_text(img, lab, (x - tw // 2, y1 + tick + th + 2), 0.4 * scale, (0, 0, 0), 1, text)
    for i, lab in enumerate(yticks):
        y = int(y1 - (y1 - y0) * i / max(1, len(yticks) - 1))
        cv2.line(img, (x0 - tick, y), (x0, y), (0, 0, 0), thick)
        (tw, th), _ = cv2.getTextSize(lab, FONT, 0.4 * scale, 1)
        draw_text(img, lab, (x0 - tick - tw - 2, y + th // 2), 0.4 * scale, (0, 0, 0), 1, text)
    (tw, th), _ = cv2.getTextSize(xlabel, FONT, 0.45 * scale, 1)
    h = img.shape[0]
    draw_text(
        img,
        xlabel,
        ((x0 + x1) // 2 - tw // 2, min(h - 3, y1 + tick + 2 * th + 10)),
        0.45 * scale,
        (0, 0, 0),
        1,
        text,
    )
    # Rotated y label: draw horizontally on a strip and rotate it into place.
    (tw, th), _ = cv2.getTextSize(ylabel, FONT, 0.45 * scale, 1)
    strip = np.full((th + 6, tw + 4, 3), 255, np.uint8)
    draw_text(strip, ylabel, (2, th + 2), 0.45 * scale, (0, 0, 0))
    strip = np.rot90(strip)
    sh, sw = strip.shape[:2]
    cy = (y0 + y1) // 2 - sh // 2
    if cy >= 0 and cy + sh <= h and sw + 1 < x0:
        img[cy : cy + sh, 1 : 1 + sw] = np.minimum(img[cy : cy + sh, 1 : 1 + sw], strip)
        mark(text, cy, 0, cy + sh, 2 + sw)


def _layout(rng: np.random.Generator, h: int, w: int) -> tuple[tuple[int, int, int, int], float]:
    scale = float(np.clip(min(h, w) / 350, 0.35, 1.6))
    left = int(w * rng.uniform(0.14, 0.2))
    bottom = int(h * rng.uniform(0.14, 0.2))
    top = int(h * rng.uniform(0.05, 0.12))
    right = int(w * rng.uniform(0.04, 0.1))
    return (top, left, h - bottom, w - right), scale


def render_flow_cytometry(rng: np.random.Generator, h: int, w: int) -> Panel:
    """Scatter or pseudo-colour density plot with gates: uint8 RGB (h, w, 3)."""
    img = np.full((h, w, 3), 255, np.uint8)
    text = np.zeros((h, w), bool)
    box, scale = _layout(rng, h, w)
    y0, x0, y1, x1 = box
    ph, pw = y1 - y0, x1 - x0
    objects: list[Obj] = []
    if ph < 8 or pw < 8:
        return Panel(img, "flow_cytometry")
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
        p = rng.multivariate_normal(mu, cov, int(counts[c]))
        pts.append(p)
        cy0 = int(y0 + ph * (1 - (mu[1] + 2.2 * sd[1])))
        cy1 = int(y0 + ph * (1 - (mu[1] - 2.2 * sd[1])))
        cx0 = int(x0 + pw * (mu[0] - 2.2 * sd[0]))
        cx1 = int(x0 + pw * (mu[0] + 2.2 * sd[0]))
        cy0, cx0, cy1, cx1 = max(cy0, y0), max(cx0, x0 + 2), min(cy1, y1 - 2), min(cx1, x1)
        if cy1 - cy0 >= 4 and cx1 - cx0 >= 4:
            objects.append(Obj((cy0, cx0, cy1, cx1), "population", None))
    xy = np.concatenate(pts) if pts else np.zeros((0, 2))
    xy = xy[(xy[:, 0] > 0) & (xy[:, 0] < 1) & (xy[:, 1] > 0) & (xy[:, 1] < 1)]
    px = (xy[:, 0] * (pw - 1)).astype(int)
    py = ((1 - xy[:, 1]) * (ph - 1)).astype(int)
    plot = img[y0:y1, x0:x1]
    plot_text = text[y0:y1, x0:x1]  # a view: labels inside the plot land in ``text``
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
    # Gates with their percentages.
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
    ticks = (
        ["0", "10^2", "10^3", "10^4", "10^5"]
        if rng.random() < 0.7
        else ["0", "50K", "100K", "150K", "200K", "250K"]
    )
    xl, yl = rng.choice(_MARKERS, 2, replace=False)
    _axes(img, rng, box, str(xl), str(yl), ticks, ticks, scale, text)
    return Panel(img, "flow_cytometry", objects, ["repeated_glyphs"], annotations=text)


def render_chart(rng: np.random.Generator, h: int, w: int) -> Panel:
    """Bar chart with error bars and stars, or line chart with markers: uint8 RGB (h, w, 3)."""
    img = np.full((h, w, 3), 255, np.uint8)
    text = np.zeros((h, w), bool)
    box, scale = _layout(rng, h, w)
    y0, x0, y1, x1 = box
    ph, pw = y1 - y0, x1 - x0
    objects: list[Obj] = []
    negs = ["repeated_glyphs"]
    if ph < 8 or pw < 8:
        return Panel(img, "chart")
    n_groups = int(rng.integers(2, 7))
    n_series = int(rng.integers(1, 4))
    colors = [_PALETTE[i] for i in rng.permutation(len(_PALETTE))[:n_series]]
    vals = rng.uniform(0.15, 0.85, (n_groups, n_series))
    errs = vals * rng.uniform(0.03, 0.2, (n_groups, n_series))
    thick = max(1, round(scale * 1.5))
    group_w = pw / n_groups
    bar_w = max(2, int(group_w * rng.uniform(0.5, 0.8) / n_series))
    bars = rng.random() < 0.6
    for g in range(n_groups):
        for s in range(n_series):
            cx = int(x0 + group_w * (g + 0.5) + (s - (n_series - 1) / 2) * bar_w)
            top = int(y1 - vals[g, s] * ph)
            e = int(errs[g, s] * ph)
            if bars:
                bx0, bx1 = cx - bar_w // 2, cx + bar_w // 2
                hatch = rng.random() < 0.15
                cv2.rectangle(img, (bx0, top), (bx1, y1), colors[s], -1)
                cv2.rectangle(img, (bx0, top), (bx1, y1), (0, 0, 0), thick)
                if hatch:
                    for yy in range(top + 4, y1, 6):
                        cv2.line(img, (bx0, yy), (bx1, yy), (255, 255, 255), 1)
                if bx1 - bx0 >= 3 and y1 - top >= 3:
                    objects.append(Obj((top, bx0, y1, bx1 + 1), "bar", None))
            cv2.line(img, (cx, top - e), (cx, top + e), (0, 0, 0), thick)
            cap = max(2, bar_w // 4)
            cv2.line(img, (cx - cap, top - e), (cx + cap, top - e), (0, 0, 0), thick)
            if not bars:
                r = max(2, int(4 * scale))
                if s % 3 == 0:
                    cv2.circle(img, (cx, top), r, colors[s], -1, cv2.LINE_AA)
                elif s % 3 == 1:
                    cv2.rectangle(img, (cx - r, top - r), (cx + r, top + r), colors[s], -1)
                else:
                    tri = np.array([[cx, top - r], [cx - r, top + r], [cx + r, top + r]])
                    cv2.fillPoly(img, [tri], colors[s], cv2.LINE_AA)
                objects.append(
                    Obj(
                        (max(0, top - r - 1), max(0, cx - r - 1), top + r + 2, cx + r + 2),
                        "marker",
                        None,
                    )
                )
            if rng.random() < 0.25:
                stars = "*" * int(rng.integers(1, 4))
                (tw, _), _ = cv2.getTextSize(stars, FONT, 0.5 * scale, 1)
                org = (cx - tw // 2, max(8, top - e - 4))
                draw_text(img, stars, org, 0.5 * scale, (0, 0, 0), thick, text)
    if not bars:
        for s in range(n_series):
            pts = [
                (
                    int(x0 + group_w * (g + 0.5) + (s - (n_series - 1) / 2) * bar_w),
                    int(y1 - vals[g, s] * ph),
                )
                for g in range(n_groups)
            ]
            cv2.polylines(img, [np.array(pts)], False, colors[s], thick, cv2.LINE_AA)
    if n_series > 1:
        negs.append("legend_markers")
        lx, ly = x1 - int(pw * 0.3), y0 + int(10 * scale)
        for s in range(n_series):
            sz = max(3, int(6 * scale))
            yy = ly + s * int(16 * scale + 2)
            cv2.rectangle(img, (lx, yy), (lx + sz, yy + sz), colors[s], -1)
            mark(text, yy - 1, lx - 1, yy + sz + 2, lx + sz + 2)  # the legend swatch
            group = str(rng.choice(_GROUPS))
            draw_text(img, group, (lx + sz + 4, yy + sz), 0.4 * scale, (0, 0, 0), 1, text)
    ymax = int(rng.choice([1, 2, 5, 10, 50, 100, 150]))
    yt = [f"{ymax * i / 4:g}" for i in range(5)]
    xt = [str(g) for g in rng.choice(_GROUPS, n_groups)]
    ylab = str(
        rng.choice(
            [
                "Relative expression",
                "Fold change",
                "% of control",
                "OD 450",
                "Cell viability (%)",
                "Tumor volume (mm3)",
                "Count",
            ]
        )
    )
    _axes(img, rng, box, "", ylab, xt, yt, scale, text)
    return Panel(img, "chart", objects, negs, annotations=text)
