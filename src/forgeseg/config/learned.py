"""The learned decision's settings (``learned`` in ``params.yaml``): which generated train
figures give its candidates, how a candidate is labelled, and the boosted trees' size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from forgeseg.config.build import Section, setting

__all__ = ["LearnedConfig"]


@dataclass(frozen=True)
class LearnedConfig(Section):
    """A gradient-boosted classifier over every matcher's and the network's candidates.

    The decision stage runs the detector on up to ``figures`` train figures (0: all of the
    train split), labels each candidate by its Dice with the best true instance, and fits
    scikit-learn's ``HistGradientBoostingClassifier``; the evaluate stage then calibrates
    the score a candidate needs (``evaluate.accepts``) by val oF1.
    """

    KEY: ClassVar[str] = "learned"
    figures: int = setting(120, ge=0)
    # Network candidates: the probability map cut at this value, grouped into regions.
    net_threshold: float = setting(0.5, gt=0.0, lt=1.0)
    # A candidate counts as a true copy when its Dice with a true instance reaches this.
    positive_dice: float = setting(0.5, gt=0.0, le=1.0)
    max_iter: int = setting(200, ge=1, le=5000)
    learning_rate: float = setting(0.05, gt=0.0, le=1.0)
    max_leaf_nodes: int = setting(15, ge=2, le=255)
    min_samples_leaf: int = setting(10, ge=1)
    l2_regularization: float = setting(1.0, ge=0.0)
    seed: int = setting(0, ge=0)
