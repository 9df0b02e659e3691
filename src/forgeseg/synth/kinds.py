"""Registry of single-panel figure kinds: renderer, aspect ratios and sampling weights."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from forgeseg.synth.blots import render_gel, render_western_blot
from forgeseg.synth.canvas import Panel
from forgeseg.synth.microscopy import render_fluorescence, render_histology
from forgeseg.synth.photo import render_photo
from forgeseg.synth.plots import render_chart, render_flow_cytometry

__all__ = ["ASPECT", "RENDERERS", "SINGLE_KINDS", "render_single"]

Renderer = Callable[[np.random.Generator, int, int], Panel]

RENDERERS: dict[str, Renderer] = {
    "western_blot": render_western_blot,
    "gel": render_gel,
    "fluorescence": render_fluorescence,
    "histology": render_histology,
    "photo": render_photo,
    "flow_cytometry": render_flow_cytometry,
    "chart": render_chart,
}
SINGLE_KINDS: tuple[str, ...] = tuple(RENDERERS)

# Width / height ranges: blots are wide strips, plots roughly square.
ASPECT: dict[str, tuple[float, float]] = {
    "western_blot": (1.2, 3.2),
    "gel": (0.7, 1.8),
    "fluorescence": (0.75, 1.5),
    "histology": (0.75, 1.6),
    "photo": (0.75, 1.6),
    "flow_cytometry": (0.85, 1.25),
    "chart": (0.9, 1.7),
    "compound": (0.6, 2.2),
}


def render_single(rng: np.random.Generator, kind: str, h: int, w: int) -> Panel:
    """Render one panel of ``kind`` at (h, w): a :class:`Panel` with uint8 RGB (h, w, 3)."""
    return RENDERERS[kind](rng, h, w)
