"""The truth of a generated figure's structure: panel boxes with their class, and the boxes
of text, panel letters and scale bars (the training data of the panel detectors).

The rows follow ``forgeseg.panels.structure`` (which this layer may not import):
``(kind, cls, x0, y0, x1, y1)`` with ``kind`` one of panel / text / letter / scalebar,
``cls`` a panel class for panels and ``""`` otherwise, ``x1``, ``y1`` exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "PANEL_CLASS",
    "STRUCTURE_COLUMNS",
    "Layout",
    "StructureRow",
    "mask_box",
    "single_layout",
    "structure_rows",
]

Rect = tuple[int, int, int, int]  # y0, x0, y1, x1 (end exclusive), as the renderers use
StructureRow = tuple[str, str, int, int, int, int]  # kind, cls, x0, y0, x1, y1

STRUCTURE_COLUMNS = ("image", "kind", "cls", "x0", "y0", "x1", "y1")
# Renderer kind -> panel class of forgeseg.panels.structure.PANEL_CLASSES. Photos of
# specimens are compared like microscopy by the panel matchers, so they share its class.
PANEL_CLASS: dict[str, str] = {
    "western_blot": "blot",
    "gel": "blot",
    "fluorescence": "microscopy",
    "histology": "microscopy",
    "photo": "microscopy",
    "flow_cytometry": "flow",
    "chart": "chart",
}


@dataclass
class Layout:
    """Where a figure's panels, letters and scale bars are, in figure pixels (y0, x0, y1, x1).

    ``letters`` and ``scalebars`` hold one box per letter or bar drawn (a scale bar's
    length label is part of its box); every other text is only in the figure's
    annotations mask.
    """

    panels: list[tuple[Rect, str]] = field(default_factory=list)  # (rect, panel class)
    letters: list[Rect] = field(default_factory=list)
    scalebars: list[Rect] = field(default_factory=list)


def mask_box(mask: np.ndarray) -> Rect | None:
    """The bounding box (y0, x0, y1, x1) of a bool (h, w) mask, or None when it is empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def single_layout(kind: str, h: int, w: int) -> Layout:
    """The layout of a single-panel figure of renderer ``kind``: one panel, the whole figure."""
    return Layout([((0, 0, h, w), PANEL_CLASS.get(kind, "other"))])


def _component_boxes(mask: np.ndarray) -> list[Rect]:
    """Boxes (y0, x0, y1, x1) of the 8-connected components of a bool (H, W) mask."""
    if not mask.any():
        return []
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [
        (int(y), int(x), int(y + bh), int(x + bw))
        for x, y, bw, bh, _ in (stats[i] for i in range(1, n))
    ]


def _row(kind: str, cls: str, rect: Rect) -> StructureRow:
    y0, x0, y1, x1 = rect
    return (kind, cls, x0, y0, x1, y1)


def structure_rows(layout: Layout, text: np.ndarray | None) -> list[StructureRow]:
    """Rows of one figure: its panels, then text, letter and scale-bar boxes.

    ``text``: bool (H, W) of every text, letter and scale bar drawn (None: none). Outside
    the letter and scale-bar boxes, each connected component of ``text`` is one text box
    (each drawn label is one box; touching labels merge).
    """
    rows = [_row("panel", cls, rect) for rect, cls in layout.panels]
    rows += [_row("letter", "", b) for b in layout.letters]
    rows += [_row("scalebar", "", b) for b in layout.scalebars]
    if text is not None:
        rest = text.copy()
        for y0, x0, y1, x1 in (*layout.letters, *layout.scalebars):
            rest[y0:y1, x0:x1] = False
        rows += [_row("text", "", b) for b in _component_boxes(rest)]
    # Sorted within each kind so the file does not depend on the order of drawing.
    head, rest = rows[: len(layout.panels)], sorted(rows[len(layout.panels) :])
    return head + rest
