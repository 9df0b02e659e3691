"""What the decision reads about one figure, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # only types here; importing them would pull torch and OpenCV into callers
    from forgeseg.matchers import MatchResult
    from forgeseg.models.predictor import NetOutput
    from forgeseg.panels.structure import Structure

__all__ = ["Detection", "Evidence"]


@dataclass
class Evidence:
    """Everything the decision needs about one figure, computed once.

    Attributes:
        uid: figure id. image: (H,W,3) uint8.
        net: the network's output (probability map, image score) or None.
        geometry: the geometric matchers' merged :class:`~forgeseg.matchers.MatchResult`
            (verified copies with their support) or None.
        truth: (M,H,W) bool true instances (M=0 authentic) or None when unknown.
        structure: the figure's panels and text mask, when a matcher needed them.
    """

    uid: str
    image: np.ndarray
    net: NetOutput | None = None
    geometry: MatchResult | None = None
    truth: np.ndarray | None = None
    structure: Structure | None = None
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)


@dataclass
class Detection:
    """The answer for one figure: ``instances`` (N,H,W) bool, N=0 meaning authentic."""

    instances: np.ndarray
    score: float  # image-level confidence that the figure is forged, for ROC curves

    @property
    def forged(self) -> bool:
        return self.instances.shape[0] > 0
