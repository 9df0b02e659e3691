"""What every geometric matcher reports: :class:`MatchResult` and its :class:`Transform`.

Both matchers (:mod:`forgeseg.matchers.sift`, :mod:`forgeseg.matchers.dense`) end the same
way: verified (mask, transform) pairs become one instance per group of overlapping masks
(:func:`assemble_result`), and the findings of several matchers on one figure become one
result (:func:`merge_results`), so the decision step never asks which matcher spoke.

The helpers they share live here too: the size of the working copy a matcher runs on
(:func:`working_scale`), and what the figure's structure tells a matcher about where a copy
may not be (:func:`structure_masks`, :func:`in_gutter`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from forgeseg.core.masks import filter_small, group_overlapping

if TYPE_CHECKING:
    from forgeseg.panels.structure import Structure

__all__ = [
    "MatchResult",
    "Transform",
    "assemble_result",
    "gutter_share",
    "in_gutter",
    "merge_results",
    "structure_masks",
    "working_scale",
]


@dataclass
class Transform:
    """One verified copy.

    Attributes:
        matrix: (2, 3) float64, maps source to copy in full-resolution pixel coordinates
            (x, y).
        support: the evidence behind it: verified inlier pairs (SIFT) or matched source
            blocks (dense).
        zncc: correlation of the source region with its mapped copy.
        hp_zncc: the same for their fine texture (image minus its blur).
        graphic: share of flat or saturated pixels around the copy (text, bars).
        flipped: the copy is mirrored.
        src_points: (K, 2) float32 source points, full resolution (SIFT: the inliers;
            dense: the source blocks' centres).
        dst_points: (K, 2) float32 their images in the copy.
        residual: dense matcher only: fine residual of copy minus mapped source over twice
            the figure's own grain, near 0 for a copy (it carries its source's grain) and
            about 1 for an independent look-alike. NaN where it was not measured: always
            for SIFT, and for a figure or region without grain.
        matcher: the name of the matcher that verified it (set by the detector), so a
            merged instance still says which matchers saw it.
    """

    matrix: np.ndarray
    support: int
    zncc: float
    hp_zncc: float
    graphic: float
    flipped: bool
    src_points: np.ndarray
    dst_points: np.ndarray
    residual: float = float("nan")
    matcher: str = ""


@dataclass
class MatchResult:
    """What a matcher found in one figure.

    Attributes:
        instances: bool (N, H, W), one channel per source plus its copies; N == 0: nothing.
        support: per instance, its evidence: verified SIFT inliers, or matched dense blocks
            (combined over the instance's transforms by the matcher's own rule).
        n_matches: candidate pairs (SIFT) or block matches (dense) before verification.
        score: image-level evidence, the largest ``support`` (0.0 when N == 0).
        transforms: per instance, the verified transforms merged into it.
        n_keypoints: SIFT keypoints found, or blocks described by the dense matcher, in
            the working copy.
        scale: working copy size / full size.
    """

    instances: np.ndarray
    support: list[int]
    n_matches: int
    score: float
    transforms: list[list[Transform]] = field(default_factory=list)
    n_keypoints: int = 0
    scale: float = 1.0


def assemble_result(
    found: Sequence[tuple[np.ndarray, Transform]],
    shape: tuple[int, int],
    *,
    merge_overlap: float,
    min_area: int,
    combine: Callable[[Iterable[int]], int],
    n_matches: int,
    n_keypoints: int,
    scale: float,
) -> MatchResult:
    """Verified (mask, transform) pairs -> one instance per group of overlapping masks.

    Masks (bool (h, w)) may be on a working copy smaller than the figure; they are brought
    to ``shape`` (H, W). Instances under ``min_area`` pixels are dropped with their
    transforms. ``combine`` turns the supports of an instance's transforms into its one
    support (``sum`` when they are distinct copies, ``max`` when they describe one copy).
    """
    masks = np.stack([m for m, _ in found])
    groups = group_overlapping(masks, merge_overlap)
    inst = np.stack([masks[g].any(axis=0) for g in groups])
    if inst.shape[1:] != tuple(shape):
        h, w = shape
        up = inst.astype(np.uint8)
        inst = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) for m in up])
        inst = inst.astype(bool)
    areas = inst.reshape(len(inst), -1).sum(axis=1)
    keep = [i for i in range(len(groups)) if areas[i] >= min_area]
    inst = filter_small(inst, min_area)
    trs = [[found[j][1] for j in groups[i]] for i in keep]
    support = [int(combine(t.support for t in tr)) for tr in trs]
    return MatchResult(
        instances=inst,
        support=support,
        n_matches=n_matches,
        score=float(max(support, default=0)),
        transforms=trs,
        n_keypoints=n_keypoints,
        scale=scale,
    )


def merge_results(results: Sequence[MatchResult], shape: tuple[int, int]) -> MatchResult:
    """Merge the findings of several matchers on one (H, W) figure into one result.

    Instances from different matchers that overlap are the same copy-move seen twice: they
    become one instance whose support is the sum of both. With one matcher's findings (or
    none) that result is returned as it is.
    """
    n_matches = sum(r.n_matches for r in results)
    found = [r for r in results if r.instances.shape[0]]
    if len(found) <= 1:
        if found:
            return found[0]
        return MatchResult(np.zeros((0, *shape), bool), [], n_matches, 0.0)
    inst = np.concatenate([r.instances for r in found])
    support = [n for r in found for n in r.support]
    transforms = [
        (r.transforms[i] if i < len(r.transforms) else [])
        for r in found
        for i in range(r.instances.shape[0])
    ]
    groups = group_overlapping(inst, 0.2)
    merged = np.stack([inst[g].any(axis=0) for g in groups])
    total = [int(sum(support[i] for i in g)) for g in groups]
    return MatchResult(
        merged,
        total,
        n_matches,
        float(max(total)),
        transforms=[[t for i in g for t in transforms[i]] for g in groups],
    )


def working_scale(h: int, w: int, max_side: int, min_side: int = 0) -> float:
    """Working copy size / full size of an (h, w) image: a long side over ``max_side`` is
    brought down to it, one under ``min_side`` up to it (0: never upscaled), so that every
    matcher sees figures of a bounded size and keypoint detectors some structure."""
    long_side = max(h, w)
    if long_side > max_side:
        return max_side / long_side
    if long_side < min_side:
        return min_side / long_side
    return 1.0


def structure_masks(
    structure: Structure, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """(text mask, gutter) of an (H, W) figure's structure, both bool (H, W): the text mask
    of text, panel letters and scale bars, and the pixels outside every panel; the gutter is
    None when the panels leave none (no panels, or one covering the figure).

    Raises:
        ValueError: when the structure's text mask is not (H, W).
    """
    H, W = shape
    text = np.asarray(structure.text_mask, bool)
    if text.shape != (H, W):
        raise ValueError(
            f"structure.text_mask must be the figure's shape {(H, W)}, got {text.shape}"
        )
    inside = np.zeros((H, W), bool)
    for p in structure.panels:
        x0, y0, x1, y1 = p.box
        inside[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    if not structure.panels or inside.all():
        return text, None
    return text, ~inside


def gutter_share(points: np.ndarray, gutter: np.ndarray) -> float:
    """Share of the points (K, 2) float (x, y), full-resolution pixels, that fall in the
    gutter (bool (H, W)); points off the figure count as gutter. 0.0 for no points."""
    if len(points) == 0:
        return 0.0
    H, W = gutter.shape
    xy = np.rint(points).astype(np.int64)
    on = (xy[:, 0] >= 0) & (xy[:, 0] < W) & (xy[:, 1] >= 0) & (xy[:, 1] < H)
    out = np.ones(len(xy), bool)
    out[on] = gutter[xy[on, 1], xy[on, 0]]
    return float(out.mean())


def in_gutter(tr: Transform, gutter: np.ndarray | None, max_share: float) -> bool:
    """Whether the source or the copy of ``tr`` lies mostly outside every panel (more than
    ``max_share`` of its points in ``gutter``, bool (H, W)): the white space between panels
    holds axis marks, labels and rules, never a copied image. False without a gutter."""
    if gutter is None:
        return False
    return max(gutter_share(tr.src_points, gutter), gutter_share(tr.dst_points, gutter)) > max_share
