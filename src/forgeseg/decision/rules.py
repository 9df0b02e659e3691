"""From evidence to an answer: instances or ``authentic``.

Every method (``detect.method``) ends in one decision: instances or ``authentic``
(``authentic`` itself is the floor: every figure authentic).

- ``network``: the pixel map is thresholded and grouped into source+copy instances; the
  figure is called forged when the network's evidence (image head and the best region's
  mean probability) passes a gate.
- ``geometric``: the matchers alone (SIFT self-matching, dense block matching and panel
  against panel, each verified geometrically); forged when at least one verified copy has
  enough support.
- ``hybrid``: geometric instances when the geometry is verified (strong, precise evidence),
  otherwise the network's instances when its gate passes, otherwise ``authentic``.
- ``learned``: every candidate (each matcher's verified copies, the network's regions) is
  scored by boosted trees trained on generated figures; those scoring at least ``accept``
  are kept (:mod:`forgeseg.decision.learned`).

An authentic figure given any mask scores 0, so each gate is calibrated on validation
figures to maximise oF1 rather than pixel accuracy (``../shared/METHODS.md`` section 3;
:mod:`forgeseg.decision.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from forgeseg.config.sections import DETECT_METHODS, DetectConfig
from forgeseg.core.errors import ParamsError
from forgeseg.decision.evidence import Detection, Evidence

if TYPE_CHECKING:  # the trees pull scikit-free numpy code only, but keep imports lazy
    from forgeseg.decision.learned import LearnedDecision

__all__ = [
    "DecisionConfig",
    "area_floor",
    "decide",
    "geometric_confidence",
    "geometric_instances",
    "net_instances",
]

# Support at which the geometric evidence counts as certain for the image score (ROC only).
_FULL_SUPPORT = 50.0


@dataclass(frozen=True)
class DecisionConfig:
    """The decision's settings: the method and areas from ``detect``, the rest calibrated.

    ``threshold``: pixel probability that counts as forged; ``gate``: network evidence
    needed to call a figure forged; ``min_support``: extra floor on a verified copy's
    support (SIFT inliers, matched dense blocks; 0: each matcher's own floor);
    ``accept``: the learned decision's score a candidate needs; ``learned_model``: the
    learned decision's file (``models/decision.npz``), None when it is not used.
    """

    method: str = "hybrid"
    threshold: float = 0.5
    gate: float = 0.5
    min_support: int = 0
    min_area: int = DetectConfig.min_area
    min_area_fraction: float = DetectConfig.min_area_fraction
    accept: float = 0.5
    learned_model: str | None = None

    def __post_init__(self) -> None:
        if self.method not in DETECT_METHODS:
            raise ParamsError(
                f"detect.method must be one of {', '.join(DETECT_METHODS)}; got {self.method!r}"
            )

    @classmethod
    def from_detect(cls, detect: DetectConfig, **calibrated: float | str | None) -> DecisionConfig:
        """``detect``'s method and area floors with the calibrated values."""
        return cls(
            detect.method,
            min_area=detect.min_area,
            min_area_fraction=detect.min_area_fraction,
            **calibrated,
        )


def _empty(shape: tuple[int, int]) -> np.ndarray:
    return np.zeros((0, *shape), bool)


def area_floor(shape: tuple[int, int], min_area: int, min_area_fraction: float) -> int:
    """Smallest instance kept in a figure of ``shape``: absolute and relative floors."""
    return max(int(min_area), int(np.ceil(min_area_fraction * shape[0] * shape[1])))


def net_instances(ev: Evidence, threshold: float, min_area: int) -> tuple[np.ndarray, float]:
    """Network instances at ``threshold`` and the network's evidence score.

    The score is the geometric mean of the image head and the best instance's mean pixel
    probability: both must agree before a figure is called forged. Cached per threshold.
    """
    from forgeseg.decision.instances import build_instances

    key = ("net", threshold, min_area)
    if key not in ev._cache:
        assert ev.net is not None
        inst = build_instances(ev.net.prob, ev.image, threshold=threshold, min_area=min_area)
        region = max((float(ev.net.prob[m].mean()) for m in inst), default=0.0)
        ev._cache[key] = (inst, float(np.sqrt(max(ev.net.image_score, 0.0) * region)))
    return ev._cache[key]


def geometric_instances(ev: Evidence, min_support: int, min_area: int) -> np.ndarray:
    """Verified geometric instances with at least ``min_support`` support."""
    from forgeseg.core.masks import filter_small

    key = ("geometry", min_support, min_area)
    if key not in ev._cache:
        shape = ev.image.shape[:2]
        if ev.geometry is None or ev.geometry.instances.shape[0] == 0:
            ev._cache[key] = _empty(shape)
        else:
            keep = [i for i, n in enumerate(ev.geometry.support) if n >= min_support]
            inst = ev.geometry.instances[keep] if keep else _empty(shape)
            ev._cache[key] = filter_small(inst, min_area) if inst.shape[0] else inst
    return ev._cache[key]


def geometric_confidence(support: int) -> float:
    """Image-level confidence of the geometric evidence, from the best copy's support."""
    return float(min(1.0, support / _FULL_SUPPORT))


def decide(ev: Evidence, cfg: DecisionConfig, learned: LearnedDecision | None = None) -> Detection:
    """Apply one detector with its settings to one figure's evidence (``learned``: the
    trees of the learned decision, needed by that method only)."""
    shape = ev.image.shape[:2]
    if cfg.method == "authentic":
        return Detection(_empty(shape), 0.0)
    floor = area_floor(shape, cfg.min_area, cfg.min_area_fraction)
    if cfg.method == "learned":
        if learned is None:
            raise ParamsError("detect.method: learned needs its trees (models/decision.npz)")
        inst, score = learned.instances(ev, cfg.accept, floor)
        return Detection(inst, score)
    geo_inst = _empty(shape)
    best = 0
    if cfg.method in ("geometric", "hybrid"):
        geo_inst = geometric_instances(ev, cfg.min_support, floor)
        best = max((ev.geometry.support if ev.geometry is not None else []), default=0)
    if cfg.method == "geometric":
        return Detection(geo_inst, geometric_confidence(best if geo_inst.shape[0] else 0))
    if cfg.method == "hybrid" and geo_inst.shape[0]:
        return Detection(geo_inst, 0.5 + 0.5 * geometric_confidence(best))
    inst, score = net_instances(ev, cfg.threshold, floor)
    if score < cfg.gate or inst.shape[0] == 0:
        inst = _empty(shape)
    return Detection(inst, 0.5 * score if cfg.method == "hybrid" else score)
