"""Both sides of a verified copy-move inside an instance mask, and each copy-move once."""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.matchers import Transform

__all__ = ["distinct", "sides"]


def _component_near(side: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The connected parts of ``side`` that hold at least one of ``points`` (K, 2) (x, y);
    all of ``side`` when none does (points on a part's edge round outside it)."""
    n, labels = cv2.connectedComponents(side.astype(np.uint8), connectivity=8)
    if n <= 2 or len(points) == 0:
        return side
    H, W = side.shape
    xy = np.rint(points).astype(np.int64)
    xy = xy[(xy[:, 0] >= 0) & (xy[:, 0] < W) & (xy[:, 1] >= 0) & (xy[:, 1] < H)]
    hit = np.unique(labels[xy[:, 1], xy[:, 0]])
    hit = hit[hit > 0]
    return np.isin(labels, hit) if len(hit) else side


def _hull(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    if len(points):
        hull = cv2.convexHull(np.asarray(points, np.float32)).astype(np.int32)
        cv2.fillConvexPoly(out, hull, 1)
        out = cv2.dilate(out, np.ones((5, 5), np.uint8))
    return out.astype(bool)


def sides(mask: np.ndarray, tr: Transform) -> tuple[np.ndarray, np.ndarray]:
    """Source and copy sides (bool (H, W) each) of one transform inside an instance.

    A pixel is on the source side when the transform takes it to another pixel of the
    instance, on the copy side when the inverse does; with several copies in one instance
    only the parts holding this transform's matched points are kept. Where the instance
    mask misses the points altogether, the points' hull stands in.
    """
    H, W = mask.shape
    m8 = mask.astype(np.uint8)
    inv = cv2.WARP_INVERSE_MAP | cv2.INTER_NEAREST
    src = mask & cv2.warpAffine(m8, tr.matrix, (W, H), flags=inv).astype(bool)
    dst = mask & cv2.warpAffine(m8, tr.matrix, (W, H), flags=cv2.INTER_NEAREST).astype(bool)
    src = _component_near(src, tr.src_points) if src.any() else _hull(tr.src_points, (H, W))
    dst = _component_near(dst, tr.dst_points) if dst.any() else _hull(tr.dst_points, (H, W))
    return src, dst


def _inverse_pair(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether (2, 3) maps ``a`` and ``b`` undo each other (one copy seen both ways)."""
    a3, b3 = np.vstack([a, [0, 0, 1]]), np.vstack([b, [0, 0, 1]])
    prod = a3 @ b3
    return bool(np.abs(prod[:2, :2] - np.eye(2)).max() < 0.05 and np.abs(prod[:2, 2]).max() < 4)


def distinct(transforms: list[Transform]) -> list[Transform]:
    """Strongest first, each copy-move once: a transform and its inverse describe one copy
    (both matchers report both directions), the better supported one stays."""
    kept: list[Transform] = []
    for tr in sorted(transforms, key=lambda t: -t.support):
        if not any(_inverse_pair(tr.matrix, k.matrix) for k in kept):
            kept.append(tr)
    return kept
