"""Which panel pairs are worth matching: compatible panels, ranked by a global descriptor.

A figure of n panels has n (n - 1) / 2 pairs and keypoint matching costs tens of
milliseconds per pair, so pairs are first filtered by what a reuse must keep (areas within
a plausible scale; the same class with ``same_class``) and ranked by a cheap descriptor
of each panel (4th place: ResNet-50 retrieval, top 3 per panel). Here the descriptor is
pose-invariant histograms of grey level and gradient magnitude, plus a small z-scored
thumbnail compared under the 8 flips and quarter turns: the thumbnail says which pose a
reused panel is in, and the histograms still rank two overlapping crops (whose thumbnails
do not align) high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from forgeseg.config.matchers import PairsConfig
from forgeseg.matchers.pairs.poses import IDENTITY, POSES, Pose, apply_pose

__all__ = ["Candidate", "Summary", "shortlist", "summarise"]

THUMB = 24  # thumbnail side
_GREY_BINS = 16
_GRAD_BINS = 8
_GRAD_MAX = 64.0  # gradient magnitudes above this share the last bin
_HIST_SIDE = 256


@dataclass(frozen=True)
class Summary:
    """The global descriptor of one panel.

    Attributes:
        thumbs: (8, THUMB * THUMB) float32, the z-scored thumbnail under each pose of
            :data:`~forgeseg.matchers.pairs.poses.POSES`, unit norm (all zero when flat).
        hist: (_GREY_BINS + _GRAD_BINS,) float32, grey and gradient histograms, each
            summing to 1.
    """

    thumbs: np.ndarray
    hist: np.ndarray


@dataclass(frozen=True)
class Candidate:
    """A pair of panels to match: indices into the panel list, ``i < j``, their
    descriptor similarity in [0, 1], and the poses of panel ``j`` ranked by how well its
    thumbnail then matches panel ``i``'s (best first)."""

    i: int
    j: int
    score: float
    poses: tuple[Pose, ...]


def _hist(values: np.ndarray, bins: int, top: float) -> np.ndarray:
    idx = np.minimum((values.ravel() * (bins / top)).astype(np.int64), bins - 1)
    h = np.bincount(idx, minlength=bins).astype(np.float32)
    return h / max(float(h.sum()), 1.0)


def summarise(gray: np.ndarray) -> Summary:
    """The global descriptor of a uint8 (h, w) panel."""
    small = cv2.resize(gray, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    thumbs = np.stack([apply_pose(small, p).ravel() for p in POSES])
    thumbs -= thumbs.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(thumbs, axis=1, keepdims=True)
    thumbs = np.where(norm > 1e-3, thumbs / np.maximum(norm, 1e-3), 0.0).astype(np.float32)
    # Histograms of a copy at most _HIST_SIDE px long: they hardly change, and cost less.
    s = min(1.0, _HIST_SIDE / max(gray.shape))
    g = gray if s == 1.0 else cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    g = g.astype(np.float32)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)) / 8.0
    hist = np.concatenate(
        [_hist(g, _GREY_BINS, 256.0), _hist(np.clip(mag, 0, _GRAD_MAX), _GRAD_BINS, _GRAD_MAX)]
    )
    return Summary(thumbs, hist)


def _compare(a: Summary, b: Summary) -> tuple[float, tuple[Pose, ...]]:
    """Similarity in [0, 1] of two panels and panel b's poses, best first."""
    corr = b.thumbs @ a.thumbs[0]  # a as it is against b under each pose
    order = np.argsort(-corr, kind="stable")
    # Histogram intersection: 1 for equal histograms, each half weighted alike.
    hist = float(np.minimum(a.hist, b.hist).sum()) / 2.0
    return 0.5 * hist + 0.5 * max(float(corr[order[0]]), 0.0), tuple(POSES[k] for k in order)


def _compatible(boxes: Sequence[tuple[int, int, int, int]], i: int, j: int, ratio: float) -> bool:
    def area(b: tuple[int, int, int, int]) -> int:
        return (b[2] - b[0]) * (b[3] - b[1])

    small, large = sorted((area(boxes[i]), area(boxes[j])))
    return small > 0 and large <= ratio * small


def shortlist(
    summaries: Sequence[Summary],
    classes: Sequence[str],
    boxes: Sequence[tuple[int, int, int, int]],
    cfg: PairsConfig,
) -> list[Candidate]:
    """Panel pairs to match, most alike first.

    Args:
        summaries: one :class:`Summary` per panel.
        classes: each panel's class; with ``cfg.same_class`` only panels of one class are
            paired.
        boxes: each panel's (x0, y0, x1, y1); pairs whose areas differ by more than
            ``cfg.max_area_ratio`` are dropped (a reuse keeps its scale within 0.5-2 on a
            side, a crop loses some of it).
        cfg: ``top_k`` partners kept per panel, at most ``max_pairs`` pairs in all.
    """
    n = len(summaries)
    scored: dict[tuple[int, int], Candidate] = {}
    for i in range(n):
        for j in range(i + 1, n):
            if (cfg.same_class and classes[i] != classes[j]) or not _compatible(
                boxes, i, j, cfg.max_area_ratio
            ):
                continue
            score, poses = _compare(summaries[i], summaries[j])
            scored[(i, j)] = Candidate(i, j, score, poses)
    keep: set[tuple[int, int]] = set()
    for i in range(n):
        mine = [c for key, c in scored.items() if i in key]
        mine.sort(key=lambda c: (-c.score, c.i, c.j))
        keep.update((c.i, c.j) for c in mine[: cfg.top_k])
    ranked = sorted((scored[k] for k in keep), key=lambda c: (-c.score, c.i, c.j))
    return ranked[: cfg.max_pairs]


def ranked_poses(candidate: Candidate, n: int) -> tuple[Pose, ...]:
    """The identity and the ``n - 1`` best other poses of a candidate's second panel."""
    others = [p for p in candidate.poses if p != IDENTITY]
    return (IDENTITY, *others[: max(n - 1, 0)])
