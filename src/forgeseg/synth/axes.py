"""The frame of a plot: margins for the axes, and L-shaped axes with ticks and labels.

Shared by flow cytometry plots and charts. Tick labels repeat identical glyphs many times in
one figure: legitimate repetitions a detector must not flag, so every label is recorded in
the panel's text mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.synth.canvas import FONT, draw_text, mark

__all__ = ["draw_axes", "plot_layout"]


def plot_layout(
    rng: np.random.Generator, h: int, w: int
) -> tuple[tuple[int, int, int, int], float]:
    """Plot area (y0, x0, y1, x1) inside an (h, w) canvas, margins left for the axes, and
    the text scale that suits the canvas."""
    scale = float(np.clip(min(h, w) / 350, 0.35, 1.6))
    left = int(w * rng.uniform(0.14, 0.2))
    bottom = int(h * rng.uniform(0.14, 0.2))
    top = int(h * rng.uniform(0.05, 0.12))
    right = int(w * rng.uniform(0.04, 0.1))
    return (top, left, h - bottom, w - right), scale


def draw_axes(
    img: np.ndarray,
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
    # OpenCV only draws horizontal text: draw the y label on a strip, then turn it upright.
    (tw, th), _ = cv2.getTextSize(ylabel, FONT, 0.45 * scale, 1)
    strip = np.full((th + 6, tw + 4, 3), 255, np.uint8)
    draw_text(strip, ylabel, (2, th + 2), 0.45 * scale, (0, 0, 0))
    strip = np.rot90(strip)
    sh, sw = strip.shape[:2]
    cy = (y0 + y1) // 2 - sh // 2
    if cy >= 0 and cy + sh <= h and sw + 1 < x0:
        img[cy : cy + sh, 1 : 1 + sw] = np.minimum(img[cy : cy + sh, 1 : 1 + sw], strip)
        mark(text, cy, 0, cy + sh, 2 + sw)
