"""From a pixel map to forgery instances: one channel per source plus all its copies.

A segmentation network marks forged pixels but says nothing about which region was copied
where. The official score matches instances one to one, so a source and its copy placed in
two channels halve the score (``../shared/METHODS.md`` section 2, takeaway 4). This module
thresholds the map into connected components and groups the components whose content
matches (normalised cross-correlation of the patches under the 8 flips and quarter turns),
so each group becomes one instance.

The channel-level clean-ups every detector shares (dropping tiny channels, merging channels
that overlap: one object pasted several times is one instance) live in
:mod:`forgeseg.core.masks`, and are re-exported here for this module's callers.
"""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.core.errors import ParamsError
from forgeseg.core.masks import (
    component_masks,
    connected_groups,
    fill_holes,
    filter_small,
    group_overlapping,
    merge_overlapping,
)
from forgeseg.core.pixels import zncc

__all__ = [
    "PAIR_BY",
    "build_instances",
    "component_masks",
    "fill_holes",
    "filter_small",
    "group_overlapping",
    "merge_overlapping",
]

PAIR_BY = ("appearance", "none")

# Components are compared as patches of this side: big enough to keep band/cell structure,
# small enough that all pairs of a few dozen components take milliseconds.
_PATCH = 24


def _patch(gray: np.ndarray, comp: np.ndarray) -> np.ndarray:
    """The component's bounding box of ``gray`` (outside the component set to its mean),
    resized to (_PATCH, _PATCH) float32."""
    ys, xs = np.nonzero(comp)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    box = gray[y0:y1, x0:x1].astype(np.float32)
    inside = comp[y0:y1, x0:x1]
    # Background around an irregular component differs between source and copy; flattening
    # it keeps the comparison about the component's own content.
    box = np.where(inside, box, box[inside].mean())
    return cv2.resize(box, (_PATCH, _PATCH), interpolation=cv2.INTER_AREA)


def _dihedral(p: np.ndarray) -> list[np.ndarray]:
    """The 8 flips and quarter turns of a square patch."""
    out = []
    for q in (p, p[:, ::-1]):
        for k in range(4):
            out.append(np.rot90(q, k))
    return out


def _pair_score(pa: np.ndarray, pb: np.ndarray, area_a: int, area_b: int) -> float:
    """Best ZNCC of two component patches over the 8 dihedral poses; 0 when the areas are
    too different to be a copy (scaled copies stay within a factor of 4 in area)."""
    if min(area_a, area_b) * 4 < max(area_a, area_b):
        return 0.0
    # float32 patches, correlated in float32 as they always were.
    return max(zncc(pa, q, dtype=None) for q in _dihedral(pb))


def build_instances(
    prob: np.ndarray,
    image: np.ndarray,
    *,
    threshold: float = 0.5,
    min_area: int = 32,
    pair_by: str = "appearance",
    min_pair_score: float = 0.6,
    drop_unpaired: bool = False,
) -> np.ndarray:
    """Group the forged components of a pixel map into source+copy instances.

    The map is thresholded, opened with a 3x3 kernel (isolated pixels are noise), and its
    connected components under ``min_area`` pixels are dropped. Components whose patches
    correlate (ZNCC >= ``min_pair_score`` under some flip / quarter turn) are joined,
    transitively; each group is one instance. Components that pair with nothing stay
    single instances (a network may mark a source and copy that touch as one component),
    or are dropped when ``drop_unpaired``.

    Args:
        prob: float (H, W) forged-pixel probability in [0, 1].
        image: uint8 (H, W, 3) RGB figure (or (H, W) gray) the map belongs to.
        threshold: probability at or above which a pixel counts as forged.
        min_area: smallest component kept, in pixels.
        pair_by: ``"appearance"`` (patch correlation) or ``"none"`` (every component its
            own instance).
        min_pair_score: ZNCC at which two components count as source and copy.
        drop_unpaired: drop components that pair with nothing.

    Returns:
        bool (N, H, W); N == 0 when nothing is forged.

    Raises:
        ParamsError: on an unknown ``pair_by`` or out-of-range numbers.
        ValueError: when ``prob`` and ``image`` shapes disagree.
    """
    if pair_by not in PAIR_BY:
        raise ParamsError(f"pair_by must be one of {', '.join(PAIR_BY)}; got {pair_by!r}")
    if not 0.0 <= threshold <= 1.0:
        raise ParamsError(f"threshold must be in [0, 1]; got {threshold}")
    if min_area < 1:
        raise ParamsError(f"min_area must be >= 1; got {min_area}")
    if not -1.0 <= min_pair_score <= 1.0:
        raise ParamsError(f"min_pair_score must be in [-1, 1]; got {min_pair_score}")
    prob = np.asarray(prob, dtype=np.float32)
    image = np.asarray(image)
    if prob.ndim != 2 or image.shape[:2] != prob.shape:
        raise ValueError(
            f"prob must be (H, W) matching image (H, W, 3); got {prob.shape} and {image.shape}"
        )
    h, w = prob.shape
    mask = (prob >= threshold).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    comps = component_masks(mask.astype(bool), min_area)
    n = comps.shape[0]
    if n == 0:
        return comps
    if pair_by == "none" or n == 1:
        return np.zeros((0, h, w), bool) if (drop_unpaired and pair_by != "none") else comps

    gray = image if image.ndim == 2 else cv2.cvtColor(image.astype(np.uint8), cv2.COLOR_RGB2GRAY)
    patches = [_patch(gray, c) for c in comps]
    areas = comps.reshape(n, -1).sum(axis=1)
    links = [
        (i, j)
        for i in range(n)
        for j in range(i + 1, n)
        if _pair_score(patches[i], patches[j], int(areas[i]), int(areas[j])) >= min_pair_score
    ]
    groups = connected_groups(n, links)
    if drop_unpaired:
        # A component that pairs with nothing is a group of its own.
        groups = [g for g in groups if len(g) > 1]
    if not groups:
        return np.zeros((0, h, w), bool)
    return np.stack([comps[g].any(axis=0) for g in groups])
