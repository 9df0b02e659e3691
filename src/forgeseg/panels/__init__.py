"""The structure of a figure: its panels (boxes and classes) and the mask of text, panel
letters and scale bars, so that matchers compare panels with each other and ignore glyphs."""

from forgeseg.panels.classical import find_panels
from forgeseg.panels.metrics import read_structure_csv, structure_scores
from forgeseg.panels.structure import PANEL_CLASSES, STRUCTURE_KINDS, Panel, Structure

__all__ = [
    "PANEL_CLASSES",
    "STRUCTURE_KINDS",
    "Panel",
    "Structure",
    "find_panels",
    "read_structure_csv",
    "structure_scores",
]
