"""Steps 1 and 4-5 of the SIFT matcher put together: :func:`detect`."""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.config.matchers import SiftConfig
from forgeseg.core.imageio import to_gray
from forgeseg.matchers.base import MatchResult, Transform, assemble_result
from forgeseg.matchers.sift.describe import candidate_pairs
from forgeseg.matchers.sift.verify import clusters, verify_group

__all__ = ["detect", "working_scale"]


def working_scale(h: int, w: int, cfg: SiftConfig) -> float:
    """Working copy size / full size of an (h, w) figure: large figures are downscaled to
    ``max_side``, tiny ones upscaled to ``min_side`` so SIFT sees some structure."""
    long_side = max(h, w)
    if long_side > cfg.max_side:
        return cfg.max_side / long_side
    if long_side < cfg.min_side:
        return cfg.min_side / long_side
    return 1.0


def _working_copy(gray_full: np.ndarray, s: float) -> np.ndarray:
    if s == 1.0:
        return gray_full
    H, W = gray_full.shape
    size = (max(1, round(W * s)), max(1, round(H * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray_full, size, interpolation=interp)


def detect(image: np.ndarray, cfg: SiftConfig | None = None) -> MatchResult:
    """Find copy-moved regions in one figure by SIFT self-matching.

    Args:
        image: uint8 RGB (H, W, 3) (grey (H, W) and RGBA (H, W, 4) also accepted).
        cfg: settings; defaults when None.

    Returns:
        :class:`forgeseg.matchers.base.MatchResult`: ``instances`` bool (N, H, W) at the
        figure's full size; ``support`` the verified inliers of each instance (summed over
        its transforms); ``n_matches`` the candidate pairs; ``n_keypoints`` the SIFT
        keypoints of the working copy; ``scale`` working size / full size.

    Raises:
        ValueError: when the image is not uint8 or not (H, W[, C]).
    """
    cfg = cfg or SiftConfig()
    gray_full = to_gray(image)
    H, W = gray_full.shape
    empty = MatchResult(np.zeros((0, H, W), bool), [], 0, 0.0)
    if H < 8 or W < 8:
        return empty
    s = working_scale(H, W, cfg)
    gray = _working_copy(gray_full, s)
    h, w = gray.shape
    p, q, flipped, n_kp = candidate_pairs(gray, cfg)
    empty.n_matches, empty.n_keypoints, empty.scale = len(p), n_kp, s
    if len(p) < cfg.min_inliers:
        return empty

    grayf = gray.astype(np.float32)
    radius = cfg.cluster_radius * max(h, w)
    found: list[tuple[np.ndarray, Transform]] = []
    for group in clusters(p, q, radius, cfg.min_inliers):
        # Mirrored and direct matches never share one transform; verify them apart.
        for flip in (False, True):
            idx = group[flipped[group] == flip]
            verify_group(p, q, idx, flip, gray_full, grayf, s, cfg, found)
            if len(found) >= cfg.max_transforms:
                break
        if len(found) >= cfg.max_transforms:
            break
    if not found:
        return empty
    return assemble_result(
        found,
        (H, W),
        merge_overlap=cfg.merge_overlap,
        min_area=cfg.min_area,
        combine=sum,  # merged transforms are distinct copies: their inliers add up
        n_matches=len(p),
        n_keypoints=n_kp,
        scale=s,
    )
