"""What the figure-structure detectors return, and what the generator writes as their truth.

The generator writes ``structure.csv`` at the data root, one row per box:
``image,kind,cls,x0,y0,x1,y1`` with ``image`` the figure's path relative to the root (as in
the index files), ``kind`` one of :data:`STRUCTURE_KINDS`, ``cls`` one of
:data:`PANEL_CLASSES` for panels and empty otherwise, and the box in pixels of the figure
(``x1``, ``y1`` exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PANEL_CLASSES", "STRUCTURE_KINDS", "Box", "Panel", "Structure"]

# Panel classes as the winning Kaggle teams used them: blots and microscopy are compared,
# charts and flow cytometry are skipped (their look-alike marks are not reuse).
PANEL_CLASSES = ("blot", "microscopy", "chart", "flow", "other")
STRUCTURE_KINDS = ("panel", "text", "letter", "scalebar")

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in figure pixels; x1, y1 exclusive


@dataclass(frozen=True)
class Panel:
    """One panel of a figure: its box, class (one of :data:`PANEL_CLASSES`) and the
    detector's confidence in [0, 1] (1.0 for truth and for the classical fallback)."""

    box: Box
    cls: str = "other"
    score: float = 1.0

    @property
    def area(self) -> int:
        x0, y0, x1, y1 = self.box
        return max(0, x1 - x0) * max(0, y1 - y0)


@dataclass(frozen=True)
class Structure:
    """The structure of one (H, W) figure: its panels and an (H, W) bool mask of text,
    panel letters and scale bars. A figure with no detected panels has one panel covering
    the whole figure, so code that loops over panels needs no special case."""

    panels: tuple[Panel, ...]
    text_mask: np.ndarray = field(repr=False)  # (H, W) bool

    @classmethod
    def whole(cls, shape: tuple[int, int]) -> Structure:
        """The structure of a figure taken as one panel with no text: (H, W) -> Structure."""
        h, w = shape[:2]
        return cls((Panel((0, 0, w, h)),), np.zeros((h, w), bool))
