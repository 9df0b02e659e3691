"""Step 6 of the dense matcher: the copy is the blocks' footprint grown over pixels that
agree with the mapped source; its preimage is the source."""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.config.matchers import DenseConfig
from forgeseg.core.masks import bbox, fill_holes
from forgeseg.core.pixels import local_zncc

__all__ = ["localise"]


def localise(
    grayf: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    dst_fp: np.ndarray,
    matrix: np.ndarray,
    cfg: DenseConfig,
    grain: float = 0.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(copy mask, source mask) bool (H, W): the copy's block footprint ``dst_fp`` (bool
    (H, W)) grown over nearby pixels of ``grayf`` that agree with the mapped source
    ``warped`` (defined where ``valid``), and its preimage under ``matrix`` (2, 3); None
    when no agreeing pixel touches the footprint.

    Pixels agree by local correlation, or by a small absolute difference; that difference
    stays below what two independent grains (``grain``, grey levels) make, or the copy
    would grow over the plain background around it.
    """
    H, W = grayf.shape
    win = cfg.local_window
    margin = win + 2
    y0, x0, y1, x1 = bbox(dst_fp, margin)
    a = grayf[y0:y1, x0:x1]
    b = np.where(valid[y0:y1, x0:x1], warped[y0:y1, x0:x1], 0.0).astype(np.float32)
    corr, _ = local_zncc(a, b, win)
    diff = cv2.blur(np.abs(a - b), (win, win))
    max_diff = min(cfg.max_abs_diff, 0.8 * grain) if grain > 0 else cfg.max_abs_diff
    agree = ((corr >= cfg.local_zncc) | (diff <= max_diff)) & valid[y0:y1, x0:x1]
    fp = dst_fp[y0:y1, x0:x1]
    # Grow the footprint by the margin only where the pixels agree; the opening drops
    # isolated agreeing pixels of the background.
    near = cv2.dilate(fp.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)).astype(bool)
    grown = (agree & near).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (win, win))
    grown = cv2.morphologyEx(grown, cv2.MORPH_OPEN, disc)
    _, labels = cv2.connectedComponents(grown, connectivity=8)
    hit = np.unique(labels[fp & (grown > 0)])
    hit = hit[hit > 0]
    if hit.size == 0:
        return None
    local = fill_holes(np.isin(labels, hit))
    dst_mask = np.zeros((H, W), bool)
    dst_mask[y0:y1, x0:x1] = local
    src_mask = cv2.warpAffine(
        dst_mask.astype(np.uint8), matrix, (W, H), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    ).astype(bool)
    return dst_mask, src_mask
