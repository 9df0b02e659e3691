"""Step 5 of the SIFT matcher: a verified transform's source and copy regions."""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.config.matchers import SiftConfig
from forgeseg.core.masks import fill_holes
from forgeseg.core.pixels import local_zncc

__all__ = ["hull_mask", "localise"]


def hull_mask(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool (H, W): the convex hull of the points (K, 2) (x, y), filled."""
    m = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(pts).astype(np.int32).reshape(-1, 1, 2))
    cv2.fillConvexPoly(m, hull, 1)
    return m.astype(bool)


def localise(
    grayf: np.ndarray,
    matrix: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    cfg: SiftConfig,
) -> np.ndarray:
    """Source+copy mask (h, w) bool at working scale.

    The copy is the inliers' hull grown over nearby pixels where the figure and the
    figure mapped by the transform agree (local ZNCC), its source the preimage.

    Args:
        grayf: float32 (h, w) working copy. matrix: (2, 3) source -> copy, working scale.
        src, dst: (K, 2) inlier points, working scale.
    """
    h, w = grayf.shape
    warped = cv2.warpAffine(
        grayf,
        matrix,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=-1.0,
    )
    valid = warped >= 0
    hull_dst = hull_mask(dst, (h, w))
    hull_src = hull_mask(src, (h, w))
    corr, std = local_zncc(grayf, np.where(valid, warped, 0.0).astype(np.float32), cfg.local_window)
    side = float(np.sqrt(max(hull_dst.sum(), 1)))
    margin = round(cfg.grow_margin * side + cfg.local_window)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    near = cv2.dilate(hull_dst.astype(np.uint8), kernel).astype(bool)
    grown = (corr >= cfg.local_zncc) & (std >= cfg.min_std) & valid & near
    # Flat pixels inside the copy carry no correlation; close them and fill holes.
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (cfg.local_window,) * 2)
    grown = cv2.morphologyEx(grown.astype(np.uint8), cv2.MORPH_CLOSE, close)
    grown |= hull_dst.astype(np.uint8)
    _, labels = cv2.connectedComponents(grown, connectivity=8)
    hit = np.unique(labels[hull_dst])
    dst_mask = fill_holes(np.isin(labels, hit[hit > 0]))
    # The source is the preimage of the copy: src_mask(y) = dst_mask(T y).
    src_mask = cv2.warpAffine(
        dst_mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    ).astype(bool)
    return dst_mask | src_mask | hull_src
