"""Steps 1 and 4-5 of the SIFT matcher put together: :func:`detect`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from forgeseg.config.matchers import SiftConfig
from forgeseg.core.imageio import to_gray
from forgeseg.matchers.base import (
    MatchResult,
    Transform,
    assemble_result,
    in_gutter,
    structure_masks,
    working_scale,
)
from forgeseg.matchers.sift.describe import candidate_pairs
from forgeseg.matchers.sift.verify import clusters, verify_group

if TYPE_CHECKING:
    from forgeseg.panels.structure import Structure

__all__ = ["detect"]


def _working_copy(gray_full: np.ndarray, s: float) -> np.ndarray:
    if s == 1.0:
        return gray_full
    H, W = gray_full.shape
    size = (max(1, round(W * s)), max(1, round(H * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray_full, size, interpolation=interp)


def _working_text(text: np.ndarray, shape: tuple[int, int], cfg: SiftConfig) -> np.ndarray:
    """The full-resolution text mask (bool (H, W)) grown by ``text_dilate_px`` and brought
    to the working copy's (h, w), where a pixel is text when a full-resolution pixel under
    it is. Grown because a keypoint beside a glyph describes the glyph too."""
    m = text.astype(np.uint8)
    if cfg.text_dilate_px > 0:
        side = 2 * cfg.text_dilate_px + 1
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    h, w = shape
    if m.shape != (h, w):
        m = cv2.resize(m * np.uint8(255), (w, h), interpolation=cv2.INTER_AREA)
    return m > 0


def detect(
    image: np.ndarray, cfg: SiftConfig | None = None, structure: Structure | None = None
) -> MatchResult:
    """Find copy-moved regions in one figure by SIFT self-matching.

    Args:
        image: uint8 RGB (H, W, 3) (grey (H, W) and RGBA (H, W, 4) also accepted).
        cfg: settings; defaults when None.
        structure: the figure's panels and text mask (``forgeseg.panels``). With it (and
            ``use_structure``), keypoints on the text mask are dropped and no copy may lie
            mostly in a gutter; None: the whole figure, as it is.

    Returns:
        :class:`forgeseg.matchers.base.MatchResult`: ``instances`` bool (N, H, W) at the
        figure's full size; ``support`` the verified inliers of each instance (summed over
        its transforms); ``n_matches`` the candidate pairs; ``n_keypoints`` the SIFT
        keypoints of the working copy (off the text mask); ``scale`` working size / full
        size.

    Raises:
        ValueError: when the image is not uint8 or not (H, W[, C]), or the structure's
            text mask is not (H, W).
    """
    cfg = cfg or SiftConfig()
    gray_full = to_gray(image)
    H, W = gray_full.shape
    text, gutter = None, None
    if structure is not None and cfg.use_structure:
        text, gutter = structure_masks(structure, (H, W))
    empty = MatchResult(np.zeros((0, H, W), bool), [], 0, 0.0)
    if H < 8 or W < 8:
        return empty
    s = working_scale(H, W, cfg.max_side, cfg.min_side)
    gray = _working_copy(gray_full, s)
    h, w = gray.shape
    work_text = _working_text(text, (h, w), cfg) if text is not None and text.any() else None
    p, q, flipped, n_kp = candidate_pairs(gray, cfg, work_text)
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
            # Gutters hold rules and labels, not image content: a copy lying mostly there
            # is not one, and dropped at once it takes no place under max_transforms.
            found[:] = [f for f in found if not in_gutter(f[1], gutter, cfg.max_gutter_share)]
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
