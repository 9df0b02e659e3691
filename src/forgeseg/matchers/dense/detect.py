"""Steps 1 and 8 of the dense matcher, and all the steps put together: :func:`detect`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from forgeseg.config.matchers import DenseConfig
from forgeseg.core.imageio import to_gray
from forgeseg.matchers.base import (
    MatchResult,
    Transform,
    assemble_result,
    in_gutter,
    structure_masks,
    working_scale,
)
from forgeseg.matchers.dense.affine import turned_candidates
from forgeseg.matchers.dense.blocks import block_maps, block_share, describe, grid
from forgeseg.matchers.dense.evidence import grain_sigma
from forgeseg.matchers.dense.index import build_index, matches
from forgeseg.matchers.dense.trace import Reason, Verdict, verdict
from forgeseg.matchers.dense.verify import verify
from forgeseg.matchers.dense.vote import Candidate, translation_candidates

if TYPE_CHECKING:
    from forgeseg.panels.structure import Structure

__all__ = ["detect"]


def _working_copy(gray_full: np.ndarray, cfg: DenseConfig) -> tuple[np.ndarray, float]:
    """(uint8 (h, w) working copy, its scale): long side at most ``max_side``."""
    H, W = gray_full.shape
    s = working_scale(H, W, cfg.max_side)
    if s < 1.0:
        size = (max(1, round(W * s)), max(1, round(H * s)))
        return cv2.resize(gray_full, size, interpolation=cv2.INTER_AREA), s
    return gray_full, s


def _described(
    grayw: np.ndarray, cfg: DenseConfig, text: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Step 2 on a float32 (h, w) working copy: (block corners (K, 2), descriptors (K, 16),
    which blocks query (bool (K,), None: all), the query grid's stride). Blocks of which
    more than ``max_text_share`` lies on ``text`` (bool (H, W), full resolution; None: no
    text) are left out: neither queries nor twins."""
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
    if text is not None:
        # Glyphs, letters and scale bars repeat pixel for pixel in every panel that carries
        # them; out of the index they can neither vote for a transform nor be a twin.
        share = block_share(text, grayw.shape, cfg)
        keep = share[corners[:, 1], corners[:, 0]] <= cfg.max_text_share
        corners, desc = corners[keep], desc[keep]
        queries = queries[keep] if queries is not None else None
    return corners, desc, queries, stride


def _verified(
    cands: list[Candidate],
    gray_full: np.ndarray,
    s: float,
    cfg: DenseConfig,
    trace: list[Verdict] | None,
    gutter: np.ndarray | None = None,
) -> list[tuple[np.ndarray, Transform]]:
    """Steps 5-7 for every candidate, in order: the (mask, transform) of those confirmed,
    less those whose source or copy lies mostly in ``gutter`` (bool (H, W); None: none)."""
    grayf = gray_full.astype(np.float32)
    grain = grain_sigma(grayf, cfg.hp_sigma)
    found: list[tuple[np.ndarray, Transform]] = []
    for cand in cands:
        checked = verify(cand, gray_full, grayf, s, cfg, grain)
        outcome, finding = checked.outcome, checked.finding
        # Checked last, on the verified map: only then is the copy's place known. The
        # white space between panels holds rules and labels, never a copied image.
        if finding is not None and in_gutter(finding[1], gutter, cfg.max_gutter_share):
            outcome, finding = Reason.MAX_GUTTER_SHARE, None
        if trace is not None:
            trace.append(verdict(cand, s, gray_full.shape, cfg, outcome))
        if finding is not None:
            found.append(finding)
    return found


def detect(
    image: np.ndarray,
    cfg: DenseConfig | None = None,
    structure: Structure | None = None,
    *,
    trace: list[Verdict] | None = None,
) -> MatchResult:
    """Find copy-moved regions (translated, flipped, turned, rotated or rescaled) in one figure.

    Args:
        image: uint8 RGB (H, W, 3) (grey (H, W) and RGBA (H, W, 4) also accepted).
        cfg: settings; defaults when None.
        structure: the figure's panels and text mask (``forgeseg.panels``). With it (and
            ``use_structure``), blocks made largely of text are not matched and no copy may
            lie mostly in a gutter; None: the whole figure, as it is.
        trace: a list that receives one :class:`~forgeseg.matchers.dense.trace.Verdict` per
            candidate transform checked, in order (diagnostics: which check stops which
            candidate).

    Returns:
        :class:`forgeseg.matchers.base.MatchResult`: ``instances`` bool (N, H, W) at full
        size, one channel per source plus its copies; ``support`` the source blocks backing
        each instance; ``n_matches`` the block matches before voting; ``score`` the largest
        ``support``; ``transforms`` per instance the verified maps (full-resolution pixel
        indices); ``n_keypoints`` the blocks described (off the text); ``scale`` working
        size / full size.

    Raises:
        ValueError: when the image is not uint8 or not (H, W[, C]), or the structure's
            text mask is not (H, W).
    """
    cfg = cfg or DenseConfig()
    gray_full = to_gray(image)
    H, W = gray_full.shape
    text, gutter = None, None
    if structure is not None and cfg.use_structure:
        text, gutter = structure_masks(structure, (H, W))
        text = text if text.any() else None
    empty = MatchResult(np.zeros((0, H, W), bool), [], 0, 0.0)
    if min(H, W) < 2 * cfg.block:
        return empty
    gray, s = _working_copy(gray_full, cfg)
    grayw = gray.astype(np.float32)
    corners, desc, queries, stride = _described(grayw, cfg, text)
    empty.n_keypoints, empty.scale = len(corners), s
    index = build_index(corners, desc, cfg)
    src, dst, gs = matches(index, desc, cfg, queries)
    empty.n_matches = len(src)
    cands = translation_candidates(corners, src, dst, gs, cfg)
    cands += turned_candidates(grayw, index, src, dst, gs, stride, cfg)
    if not cands:
        return empty
    found = _verified(cands, gray_full, s, cfg, trace, gutter)
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
