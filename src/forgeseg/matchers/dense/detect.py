"""Steps 1 and 8 of the dense matcher, and all the steps put together: :func:`detect`."""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.config.matchers import DenseConfig
from forgeseg.core.imageio import to_gray
from forgeseg.matchers.base import MatchResult, Transform, assemble_result
from forgeseg.matchers.dense.affine import turned_candidates
from forgeseg.matchers.dense.blocks import block_maps, describe, grid
from forgeseg.matchers.dense.evidence import grain_sigma
from forgeseg.matchers.dense.index import build_index, matches
from forgeseg.matchers.dense.trace import Verdict, verdict
from forgeseg.matchers.dense.verify import verify
from forgeseg.matchers.dense.vote import Candidate, translation_candidates

__all__ = ["detect"]


def _working_copy(gray_full: np.ndarray, cfg: DenseConfig) -> tuple[np.ndarray, float]:
    """(uint8 (h, w) working copy, its scale): long side at most ``max_side``."""
    H, W = gray_full.shape
    s = min(1.0, cfg.max_side / max(H, W))
    if s < 1.0:
        size = (max(1, round(W * s)), max(1, round(H * s)))
        return cv2.resize(gray_full, size, interpolation=cv2.INTER_AREA), s
    return gray_full, s


def _described(
    grayw: np.ndarray, cfg: DenseConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Step 2 on a float32 (h, w) working copy: (block corners (K, 2), descriptors (K, 16),
    which blocks query (bool (K,), None: all), the query grid's stride)."""
    means, bstd = block_maps(grayw, cfg)
    x0, y0, stride = grid(bstd, cfg, cfg.stride, cfg.max_blocks)
    every_pixel = False
    if cfg.dense_index and stride > 1:
        # Blocks on a grid meet a copy's blocks only when the shift is a multiple of the
        # stride; otherwise the twin is a pixel or more off and its descriptor differs.
        # Indexing every block (queries stay on the grid) gives each copy an exact twin.
        fx, fy, fine = grid(bstd, cfg, 1, cfg.max_blocks * stride * stride)
        if fine == 1:
            x0, y0, every_pixel = fx, fy, True
    corners, desc = describe(means, x0, y0, cfg)
    queries = (corners % stride == 0).all(axis=1) if every_pixel else None
    return corners, desc, queries, stride


def _verified(
    cands: list[Candidate],
    gray_full: np.ndarray,
    s: float,
    cfg: DenseConfig,
    trace: list[Verdict] | None,
) -> list[tuple[np.ndarray, Transform]]:
    """Steps 5-7 for every candidate, in order: the (mask, transform) of those confirmed."""
    grayf = gray_full.astype(np.float32)
    grain = grain_sigma(grayf, cfg.hp_sigma)
    found: list[tuple[np.ndarray, Transform]] = []
    for cand in cands:
        checked = verify(cand, gray_full, grayf, s, cfg, grain)
        if trace is not None:
            trace.append(verdict(cand, s, gray_full.shape, cfg, checked.outcome))
        if checked.finding is not None:
            found.append(checked.finding)
    return found


def detect(
    image: np.ndarray, cfg: DenseConfig | None = None, trace: list[Verdict] | None = None
) -> MatchResult:
    """Find copy-moved regions (translated, flipped, turned, rotated or rescaled) in one figure.

    Args:
        image: uint8 RGB (H, W, 3) (grey (H, W) and RGBA (H, W, 4) also accepted).
        cfg: settings; defaults when None.
        trace: a list that receives one :class:`~forgeseg.matchers.dense.trace.Verdict` per
            candidate transform checked, in order (diagnostics: which check stops which
            candidate).

    Returns:
        :class:`forgeseg.matchers.base.MatchResult`: ``instances`` bool (N, H, W) at full
        size, one channel per source plus its copies; ``support`` the source blocks backing
        each instance; ``n_matches`` the block matches before voting; ``score`` the largest
        ``support``; ``transforms`` per instance the verified maps (full-resolution pixel
        indices); ``n_keypoints`` the blocks described; ``scale`` working size / full size.

    Raises:
        ValueError: when the image is not uint8 or not (H, W[, C]).
    """
    cfg = cfg or DenseConfig()
    gray_full = to_gray(image)
    H, W = gray_full.shape
    empty = MatchResult(np.zeros((0, H, W), bool), [], 0, 0.0)
    if min(H, W) < 2 * cfg.block:
        return empty
    gray, s = _working_copy(gray_full, cfg)
    grayw = gray.astype(np.float32)
    corners, desc, queries, stride = _described(grayw, cfg)
    empty.n_keypoints, empty.scale = len(corners), s
    index = build_index(corners, desc, cfg)
    src, dst, gs = matches(index, desc, cfg, queries)
    empty.n_matches = len(src)
    cands = translation_candidates(corners, src, dst, gs, cfg)
    cands += turned_candidates(grayw, index, src, dst, gs, stride, cfg)
    if not cands:
        return empty
    found = _verified(cands, gray_full, s, cfg, trace)
    if not found:
        return empty
    return assemble_result(
        found,
        gray_full.shape,
        merge_overlap=cfg.merge_overlap,
        min_area=cfg.min_area,
        combine=max,  # a transform and its inverse describe one copy: count its blocks once
        n_matches=len(src),
        n_keypoints=len(corners),
        scale=s,
    )
