"""Compound figures: a grid of panels with gutters, panel letters and scale bars.

Test figures of the real data are often compound. Panel letters and identical scale bars
repeat exact pixels across panels: legitimate duplicates that a detector must ignore.
Nothing else may repeat: photo panels never show the same part of a source photo twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from forgeseg.synth.canvas import FONT, Obj, Panel, draw_scale_bar, draw_text
from forgeseg.synth.kinds import render_single
from forgeseg.synth.layout import PANEL_CLASS, Layout, mask_box
from forgeseg.synth.photo import render_photo_from

__all__ = [
    "PANEL_WEIGHTS",
    "Figure",
    "add_panel",
    "cells",
    "decorate",
    "finish",
    "grid",
    "render_compound",
    "render_panel",
]

Rect = tuple[int, int, int, int]

_MICROSCOPY = ("fluorescence", "histology")
_PHOTO_FALLBACK = "histology"  # drawn when every photo source is used up in a figure
# Kinds inside compound figures: microscopy grids and blot + chart figures dominate.
PANEL_WEIGHTS = {
    "western_blot": 0.22,
    "gel": 0.08,
    "fluorescence": 0.25,
    "histology": 0.15,
    "photo": 0.07,
    "flow_cytometry": 0.1,
    "chart": 0.13,
}


@dataclass
class Figure:
    """A compound figure as it fills up, panel by panel (objects in figure pixels)."""

    img: np.ndarray  # uint8 RGB (h, w, 3)
    text: np.ndarray  # bool (h, w): panel letters, scale bars and the panels' own labels
    taken: dict[str, list[Rect]] = field(default_factory=dict)  # photo crops already shown
    sources: list[tuple[str, Rect]] = field(default_factory=list)
    objects: list[Obj] = field(default_factory=list)
    negs: list[str] = field(default_factory=list)
    rects: list[Rect] = field(default_factory=list)
    grays: list[bool] = field(default_factory=list)
    layout: Layout = field(default_factory=Layout)
    n_micro: int = 0  # microscopy panels with a scale bar


def grid(rng: np.random.Generator, h: int, w: int) -> tuple[int, int, int]:
    """(gutter px, rows, columns) of the panel grid of an (h, w) figure."""
    gutter = max(2, int(min(h, w) * rng.uniform(0.01, 0.03)))
    rows, cols = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    if rows * cols < 2:
        cols = 2
    # Panels under ~40 px would be unreadable: drop rows / columns until they fit.
    while rows > 1 and (h - gutter * (rows + 1)) / rows < 40:
        rows -= 1
    while cols > 1 and (w - gutter * (cols + 1)) / cols < 40:
        cols -= 1
    return gutter, rows, cols


def render_panel(
    rng: np.random.Generator, kind: str, ph: int, pw: int, taken: dict[str, list[Rect]]
) -> tuple[Panel, str]:
    """One panel of ``kind`` and the kind actually drawn (photos can run out of sources)."""
    photo = render_photo_from(rng, ph, pw, taken) if kind == "photo" else None
    if kind == "photo" and photo is None:
        kind = _PHOTO_FALLBACK
    return (photo if photo is not None else render_single(rng, kind, ph, pw)), kind


def _shift(box: Rect | None, y0: int, x0: int) -> Rect | None:
    return None if box is None else (box[0] + y0, box[1] + x0, box[2] + y0, box[3] + x0)


def decorate(
    rng: np.random.Generator,
    images: list[np.ndarray],
    kind: str,
    ptext: np.ndarray,
    index: int,
    bar_seed: int,
    letter_scale: float,
) -> tuple[Rect | None, Rect | None]:
    """Draw panel ``index``'s letter (and a scale bar on most microscopy panels) on every
    uint8 (ph, pw, 3) image of ``images``, in place, marking them in ``ptext`` (bool).

    Colours come from ``images[0]``, so an authentic panel and its forged version get the
    same marks. Returns the (scale bar, letter) boxes in panel pixels (None: not drawn).
    """
    pim = images[0]
    ph, pw = pim.shape[:2]
    bar_box = None
    if kind in _MICROSCOPY and rng.random() < 0.8:
        color = (0, 0, 0) if float(pim.mean()) > 128 else (255, 255, 255)
        bar = np.zeros((ph, pw), bool)
        for im in images:
            # Same generator state for every panel: the bars come out pixel-identical.
            draw_scale_bar(im, np.random.default_rng(bar_seed), record=bar, color=color)
        ptext |= bar
        bar_box = mask_box(bar)
    letter = chr(ord("A") + index)
    # The letter must stay legible on dark microscopy fields as on white paper.
    dark = float(pim[: max(1, ph // 6), : max(1, pw // 6)].mean()) < 110
    color = (255, 255, 255) if dark else (0, 0, 0)
    (_, th), _ = cv2.getTextSize(letter, FONT, letter_scale, 2)
    drawn = np.zeros((ph, pw), bool)
    for im in images:
        draw_text(im, letter, (3, th + 3), letter_scale, color, 2, drawn)
    ptext |= drawn
    return bar_box, mask_box(drawn)


def add_panel(fig: Figure, panel: Panel, kind: str, rect: Rect, marks: tuple) -> None:
    """Paste a decorated ``panel`` of ``kind`` into ``fig`` at ``rect`` and record it;
    ``marks``: the (scale bar, letter) boxes :func:`decorate` returned."""
    y0, x0, y1, x1 = rect
    bar_box, letter_box = (_shift(b, y0, x0) for b in marks)
    if bar_box is not None:
        fig.layout.scalebars.append(bar_box)
        fig.n_micro += 1
    if letter_box is not None:
        fig.layout.letters.append(letter_box)
    fig.img[y0:y1, x0:x1] = panel.image
    fig.rects.append(rect)
    fig.layout.panels.append((rect, PANEL_CLASS[kind]))
    fig.grays.append(panel.gray)
    fig.negs.extend(panel.hard_negatives)
    fig.sources.extend(panel.sources)
    for o in panel.objects:
        b = o.box
        fig.objects.append(Obj((b[0] + y0, b[1] + x0, b[2] + y0, b[3] + x0), o.name, o.mask))


def _add_panel(
    rng: np.random.Generator,
    fig: Figure,
    kind: str,
    rect: Rect,
    bar_seed: int,
    letter_scale: float,
) -> None:
    """Render a panel of ``kind``, label it and paste it into ``fig`` at ``rect``."""
    y0, x0, y1, x1 = rect
    panel, kind = render_panel(rng, kind, y1 - y0, x1 - x0, fig.taken)
    ptext = fig.text[y0:y1, x0:x1]  # a view: marks land in ``fig.text``
    if panel.annotations is not None:
        ptext |= panel.annotations
    marks = decorate(rng, [panel.image], kind, ptext, len(fig.rects), bar_seed, letter_scale)
    add_panel(fig, panel, kind, rect, marks)


def render_compound(rng: np.random.Generator, h: int, w: int) -> tuple[Panel, list[Rect]]:
    """A multi-panel figure of size (h, w): (Panel with uint8 RGB (h, w, 3), panel rects).

    Each rect is ``(y0, x0, y1, x1)`` of one panel's pixels in the figure; the Panel's
    objects and annotations are in figure coordinates.
    """
    gutter, rows, cols = grid(rng, h, w)
    names = list(PANEL_WEIGHTS)
    p = np.array([PANEL_WEIGHTS[k] for k in names])
    same = rng.random() < 0.6
    first = str(rng.choice(names, p=p / p.sum()))
    fig = Figure(np.full((h, w, 3), 255, np.uint8), np.zeros((h, w), bool))
    bar_seed = int(rng.integers(0, 2**31))
    letter_scale = max(0.35, min(h, w) / 500)
    ch = max(1, int((h - gutter * (rows + 1)) / rows))
    cw = max(1, int((w - gutter * (cols + 1)) / cols))
    for r in range(rows):
        for c in range(cols):
            kind = first if same else str(rng.choice(names, p=p / p.sum()))
            y0 = gutter + r * (ch + gutter)
            x0 = gutter + c * (cw + gutter)
            ph, pw = min(ch, h - y0), min(cw, w - x0)
            if ph < 8 or pw < 8:
                continue
            _add_panel(rng, fig, kind, (y0, x0, y0 + ph, x0 + pw), bar_seed, letter_scale)
    if not fig.rects:
        panel = render_single(rng, first, h, w)
        panel.kind = "compound"
        panel.layout = Layout([((0, 0, h, w), PANEL_CLASS[first])])
        return panel, [(0, 0, h, w)]
    return finish(fig), fig.rects


def cells(gutter: int, rows: int, cols: int, h: int, w: int) -> list[Rect]:
    """The panel rects (y0, x0, y1, x1) of a grid in an (h, w) figure, skipping slivers."""
    ch = max(1, int((h - gutter * (rows + 1)) / rows))
    cw = max(1, int((w - gutter * (cols + 1)) / cols))
    out = []
    for r in range(rows):
        for c in range(cols):
            y0, x0 = gutter + r * (ch + gutter), gutter + c * (cw + gutter)
            ph, pw = min(ch, h - y0), min(cw, w - x0)
            if ph >= 8 and pw >= 8:
                out.append((y0, x0, y0 + ph, x0 + pw))
    return out


def finish(fig: Figure) -> Panel:
    """The filled ``fig`` as one Panel of kind ``compound`` (objects in figure pixels)."""
    negs = [*fig.negs, "panel_letters"]
    if fig.n_micro >= 2:
        negs.append("scale_bars")
    return Panel(
        fig.img,
        "compound",
        fig.objects,
        sorted(set(negs)),
        all(fig.grays),
        fig.text,
        fig.sources,
        fig.layout,
    )
