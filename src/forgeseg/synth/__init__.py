"""Generated figures in the Kaggle layout: the project's default data and training stream.

``make_case`` renders one figure of a kind (western blot, gel, fluorescence, histology,
photo, flow cytometry, chart, or a compound of several) and forges a copy-move in it;
``generate_dataset`` writes a whole dataset in exactly the layout of the real data.
"""

from forgeseg.synth.case import KIND_WEIGHTS, KINDS, Case, make_case
from forgeseg.synth.forge import apply_geometry
from forgeseg.synth.writer import generate_dataset

__all__ = ["KINDS", "KIND_WEIGHTS", "Case", "apply_geometry", "generate_dataset", "make_case"]
