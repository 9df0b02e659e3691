"""Step 4b of the dense matcher: rotated and rescaled copies, whose block shifts change
smoothly over the copy, found among the figure's own matches and among blocks described on
the figure turned by -``turn`` and +``turn`` degrees."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from forgeseg.config.matchers import DenseConfig
from forgeseg.matchers.dense.blocks import blocks
from forgeseg.matchers.dense.dihedral import DIHEDRAL
from forgeseg.matchers.dense.index import BlockIndex, query
from forgeseg.matchers.dense.vote import Candidate, largest_region, shifts

__all__ = ["affine_candidates", "turned_blocks", "turned_candidates", "turned_search"]


def _linked_groups(
    sel: np.ndarray, c_src: np.ndarray, moves: np.ndarray, drift: float, cfg: DenseConfig
) -> list[np.ndarray]:
    """Groups (match indices, from ``sel``) of at least ``min_blocks`` matches linked when
    their source blocks touch and their shifts differ by at most ``drift``."""
    pts = np.concatenate([c_src[sel] / cfg.block, moves[sel] / drift], axis=1)
    pairs = cKDTree(pts).query_pairs(1.0, p=np.inf, output_type="ndarray")
    n = len(sel)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return [sel[labels == lab] for lab in np.flatnonzero(np.bincount(labels) >= cfg.min_blocks)]


def _fit(
    m: np.ndarray,
    g: int,
    pose: np.ndarray,
    plain: bool,
    c_src: np.ndarray,
    grid: np.ndarray,
    key: np.ndarray,
    c_dst: np.ndarray,
    cfg: DenseConfig,
) -> Candidate | None:
    """One similarity fitted (RANSAC) to a linked group ``m`` of matches under the pose
    (2, 2); the candidate of the blocks that agree with it, or None."""
    if len(np.unique(key[m])) < cfg.min_blocks:
        return None
    fit, inl = cv2.estimateAffinePartial2D(
        (c_src[m] @ pose.T).astype(np.float32),
        c_dst[m].astype(np.float32),
        method=cv2.RANSAC,
        ransacReprojThreshold=1.5,
        maxIters=500,
        confidence=0.99,
        refineIters=10,
    )
    if fit is None:
        return None
    rot = fit[:, :2]
    scale = float(np.sqrt(abs(np.linalg.det(rot))))
    # A plain flip / turn with a shift is the translation vote's; a fit far from the
    # forger's few degrees and quarter of rescaling is chance.
    if plain and np.abs(rot - np.eye(2)).max() < 0.02:
        return None
    if not 0.7 <= scale <= 1.4:
        return None
    m = m[inl.ravel().astype(bool)]
    _, first = np.unique(key[m], return_index=True)
    m = m[first]
    if len(m) < cfg.min_blocks:
        return None
    m = m[largest_region(grid[m], cfg)]
    if len(m) < cfg.min_blocks:
        return None
    half = (cfg.block - 1) / 2
    xy = np.rint(c_src[m] - half).astype(np.int64)
    return Candidate(int(g), fit[:, 2].copy(), xy, rot @ pose)


def affine_candidates(
    c_src: np.ndarray,
    grid: np.ndarray,
    key: np.ndarray,
    c_dst: np.ndarray,
    gs: np.ndarray,
    turn: np.ndarray,
    cfg: DenseConfig,
) -> list[Candidate]:
    """Rotated or rescaled copies: regions of at least ``min_blocks`` source blocks whose
    shifts change smoothly, fitted by one similarity transform; largest first.

    Under a rotation by a few degrees or a rescaling by up to a quarter, a copy's blocks
    still find their twins, but each votes for a slightly different shift, so no bin of the
    translation vote gathers them. Here matches are linked when their source blocks touch
    and their shifts differ by at most ``affine_drift``; a linked group is fitted with
    RANSAC, and the blocks that agree with the fit form the candidate.

    Args:
        c_src: (M, 2) float64 working-scale centres of the query blocks in the figure.
        grid: (M, 2) int64 their corners on the grid they were described on (adjacency).
        key: (M,) int64 which query block each match belongs to.
        c_dst: (M, 2) float64 centres of their twins.
        gs: (M,) int64 dihedral index: the twin is the query block under ``DIHEDRAL[g]``.
        turn: (2, 2) float64 the rotation the query blocks were described under (identity
            for the figure itself), so a match maps the figure by ``DIHEDRAL[g] @ turn``.
    """
    if not cfg.affine or cfg.max_affine == 0 or len(c_src) < cfg.min_blocks:
        return []
    plain = bool(np.allclose(turn, np.eye(2)))
    mats = np.stack(DIHEDRAL).astype(np.float64) @ turn
    moves = shifts(c_src, c_dst, gs, turn)
    drift = max(cfg.affine_drift, 1e-3)
    out: list[Candidate] = []
    for g in np.unique(gs):
        sel = np.flatnonzero(gs == g)
        if len(sel) < cfg.min_blocks:
            continue
        for m in _linked_groups(sel, c_src, moves, drift, cfg):
            cand = _fit(m, int(g), mats[int(g)], plain, c_src, grid, key, c_dst, cfg)
            if cand is not None:
                out.append(cand)
    out.sort(key=lambda c: -len(c.xy))
    return out[: cfg.max_affine]


def turned_blocks(
    gray: np.ndarray, cfg: DenseConfig, stride: int, angle: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Blocks of the working copy (float32 (h, w)) turned by ``angle`` degrees about its
    centre.

    Block descriptors stop matching beyond about 10 degrees of rotation; described on a
    turned copy of the figure, a copy turned by about ``angle`` finds its twins again.

    Returns:
        (centres (K, 2) float64 mapped back into the figure, corners (K, 2) int64 on the
        turned grid, descriptors (K, 16) float32, the (2, 2) rotation from the figure to
        the turned copy, the turned grid's stride: ``stride`` or more on a large figure).
    """
    h, w = gray.shape
    c = ((w - 1) / 2, (h - 1) / 2)
    m = cv2.getRotationMatrix2D(c, angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    m[0, 2] += (nw - 1) / 2 - c[0]
    m[1, 2] += (nh - 1) / 2 - c[1]
    turned = cv2.warpAffine(
        gray, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    corners, desc, stride = blocks(turned, cfg, stride=stride, max_blocks=cfg.max_blocks)
    # Only blocks wholly inside the figure (with the blur's reach): the corners of the
    # turned canvas are made up.
    inside = cv2.warpAffine(np.ones((h, w), np.uint8), m, (nw, nh), flags=cv2.INTER_NEAREST)
    reach = int(np.ceil(3 * cfg.blur)) + 1
    inside = cv2.erode(inside, np.ones((2 * reach + 1,) * 2, np.uint8))
    b = cfg.block - 1
    x, y = corners[:, 0], corners[:, 1]
    ok = (inside[y, x] & inside[y + b, x] & inside[y, x + b] & inside[y + b, x + b]).astype(bool)
    corners, desc = corners[ok], desc[ok]
    inv = cv2.invertAffineTransform(m)
    half = (cfg.block - 1) / 2
    back = (corners + half) @ inv[:, :2].T + inv[:, 2]
    return back, corners, desc, m[:, :2].copy(), stride


def _turned_matches(
    index: BlockIndex,
    back: np.ndarray,
    grid: np.ndarray,
    desc: np.ndarray,
    rot: np.ndarray,
    sel: np.ndarray,
    cfg: DenseConfig,
) -> list[Candidate]:
    """:func:`affine_candidates` of the turned blocks ``sel`` (indices into ``back`` (K, 2),
    ``grid`` (K, 2), ``desc`` (K, 16), as :func:`turned_blocks` returns them, with its
    rotation ``rot`` (2, 2)) looked up in ``index``."""
    half = (cfg.block - 1) / 2
    rows, j, g = query(index, desc[sel], back[sel] - half, cfg)
    rows = sel[rows]
    c_twin = (index.corners[j] + half).astype(np.float64)
    return affine_candidates(back[rows], grid[rows], rows, c_twin, g, rot, cfg)


def _near(xy: np.ndarray, cands: list[Candidate], margin: float) -> np.ndarray:
    """bool (K,): which block corners ``xy`` (K, 2) lie within ``margin`` of the bounding
    box of some candidate's source blocks (all in working-copy pixels)."""
    near = np.zeros(len(xy), bool)
    for cand in cands:
        lo = cand.xy.min(axis=0) - margin
        hi = cand.xy.max(axis=0) + margin
        near |= ((xy >= lo) & (xy <= hi)).all(axis=1)
    return near


def turned_search(
    index: BlockIndex, gray: np.ndarray, stride: int, angle: float, cfg: DenseConfig
) -> list[Candidate]:
    """Rotated / rescaled candidates among the blocks of the working copy (float32 (h, w))
    turned by ``angle`` degrees, looked up in ``index``.

    The look-up costs as much as the figure's own, twice (one per turn), and almost every
    figure holds no turned copy. With ``turn_coarse`` > 1 the turned blocks are first
    looked up on a grid ``turn_coarse`` strides apart, where a copy needs ``turn_coarse``
    squared times fewer blocks; only around the largest regions that sparse look-up
    gathers are all blocks looked up, and those gather the candidates as the full look-up
    would. Twins are still searched at every pixel, so a sparse block finds its exact twin
    as a dense one does. The price: a rotated copy of a few dozen blocks (a thin strip
    along a band) often leaves too few sparse blocks to be seen at all.
    """
    back, grid, desc, rot, step = turned_blocks(gray, cfg, stride, angle)
    every = np.arange(len(desc))
    c = cfg.turn_coarse
    if c == 1:
        return _turned_matches(index, back, grid, desc, rot, every, cfg)
    sparse = every[(grid % (step * c) == 0).all(axis=1)]
    # The largest ``max_affine`` sparse regions, as only the largest regions are verified:
    # a textured figure gathers dozens of chance regions of a few sparse blocks.
    few = replace(cfg, min_blocks=max(2, -(-cfg.min_blocks // (c * c))))
    seeds = _turned_matches(index, back, grid, desc, rot, sparse, few)
    if not seeds:
        return []
    # A copy's region reaches about a sparse step and a block past its sparse blocks.
    half = (cfg.block - 1) / 2
    near = _near(np.rint(back - half), seeds, cfg.block + step * c)
    return _turned_matches(index, back, grid, desc, rot, every[near], cfg)


def turned_candidates(
    gray: np.ndarray,
    index: BlockIndex,
    src: np.ndarray,
    dst: np.ndarray,
    gs: np.ndarray,
    stride: int,
    cfg: DenseConfig,
) -> list[Candidate]:
    """Rotated / rescaled candidates from the figure's own matches (``src``, ``dst``,
    ``gs``: (M,) int64) and, when ``turn`` > 0, from blocks described on copies of the
    working copy (float32 (h, w)) turned by -turn and +turn degrees
    (:func:`turned_search`); at most ``max_affine``, largest first."""
    if not cfg.affine or cfg.max_affine == 0:
        return []
    half = (cfg.block - 1) / 2
    corners = index.corners
    c_src = (corners[src] + half).astype(np.float64)
    c_dst = (corners[dst] + half).astype(np.float64)
    out = affine_candidates(c_src, corners[src], src, c_dst, gs, np.eye(2), cfg)
    for angle in (-cfg.turn, cfg.turn) if cfg.turn > 0 else ():
        out += turned_search(index, gray, stride, angle, cfg)
    out.sort(key=lambda c: -len(c.xy))
    return out[: cfg.max_affine]
