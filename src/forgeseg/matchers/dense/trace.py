"""Diagnostics of the dense matcher: what became of each candidate transform
(``detect(..., trace=[])``), and the names of the checks that reject one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from forgeseg.config.matchers import DenseConfig
from forgeseg.matchers.dense.align import footprint
from forgeseg.matchers.dense.vote import Candidate

__all__ = ["Reason", "Verdict", "verdict"]


class Reason(StrEnum):
    """The outcome of one candidate: :attr:`FOUND`, or the check that rejected it, named
    after the setting of :class:`forgeseg.config.matchers.DenseConfig` that decides it
    (compares equal to its plain string, e.g. ``"max_flat"``)."""

    FOUND = "found"
    MIN_ZNCC = "min_zncc"  # the mapped source does not correlate with the copy
    PERIODIC = "periodic"  # it also matches at other multiples of its shift: a pattern
    # The copy covers its own source, or mirrors it across an axis that is itself
    # symmetric: a symmetric object (decided by max_self_overlap and mirror_band).
    SELF_OVERLAP = "self_overlap"
    MIN_GRAIN = "min_grain"  # no fine grain to compare
    MIN_HP_ZNCC = "min_hp_zncc"  # the fine grain does not correlate
    MAX_FLAT = "max_flat"  # mostly flat or saturated pixels: drawn graphics
    LOCALISE = "localise"  # no agreeing pixels around the footprint
    MAX_RESIDUAL = "max_residual"  # copy minus source leaves two grains' worth: look-alike
    MIN_EXACT = "min_exact"  # no shared grain and not pixel-equal either
    MIN_STROKE = "min_stroke"  # thin strokes (text, rungs) in a figure without grain
    MAX_GUTTER_SHARE = "max_gutter_share"  # source or copy mostly outside every panel


@dataclass
class Verdict:
    """What became of one candidate transform.

    ``g``: dihedral index; ``shift``: (2,) working-scale shift; ``blocks``: its source
    blocks; ``footprint``: bool (H, W) full-resolution union of its source blocks;
    ``outcome``: :attr:`Reason.FOUND` or the check that rejected it.
    """

    g: int
    shift: np.ndarray
    blocks: int
    footprint: np.ndarray
    outcome: Reason


def verdict(
    cand: Candidate, s: float, shape: tuple[int, int], cfg: DenseConfig, outcome: Reason
) -> Verdict:
    """The :class:`Verdict` of candidate ``cand`` on an (H, W) figure worked at scale ``s``."""
    fp = footprint(cand.xy, cfg.block, s, shape, None)
    return Verdict(cand.g, cand.shift.copy(), len(cand.xy), fp, outcome)
