"""Copy-move detection by dense block matching: small, low-texture copies SIFT misses.

A western-blot band of 30x27 px holds a handful of SIFT keypoints, too few for a verified
transform, but a few dozen overlapping blocks. This module follows the classic block-based
detectors (Fridrich et al. 2003; the dense field of Cozzolino et al. 2015, ``METHODS.md``
section 2): translation after one of the 8 flips / quarter turns (the dihedral group), which
keep a block a block, and rotations by up to about 24 degrees and rescaling (step 4b).
Larger rotations are left to :mod:`forgeseg.matchers.sift`.

1. A grey working copy whose long side is at most ``max_side``.
2. Overlapping ``block`` x ``block`` blocks every ``stride`` px (the queries), each
   described by the means of its 4x4 grid of cells, centred and scaled to unit norm:
   invariant to brightness and contrast, robust to JPEG, noise and slight blur, and the
   flips / quarter turns of a block are exact permutations of its 16 numbers. Flat blocks
   (grey-level std below ``min_block_std``) carry no evidence and are skipped. Twins are
   searched among the blocks at every pixel (``dense_index``), so a copy pasted at an odd
   offset still has an exactly aligned twin.
3. Each block is stored in a canonical pose (the flip / quarter turn scoring highest along a
   fixed direction), so one k-d tree query finds its twins under all 8 poses; twins closer
   than ``min_distance`` are the same structure seen twice.
4. Every match votes for one transform x -> D x + t (D dihedral, t the shift). A copy-move
   makes many blocks vote for the same transform; look-alike bands and cells vote for
   scattered ones. A vote counts for its bin and the neighbouring bins, so a copy whose
   shift sits on a bin border is not split in two. Votes within ``shift_tolerance`` of a
   peak are gathered and their source blocks must form a connected region of at least
   ``min_blocks`` blocks that does not overlap its own copy (a mirror-symmetric object
   matches itself under a flip). Candidates are verified largest region first, at most
   ``max_candidates``: in a figure full of look-alikes many bins outvote a real copy.
4b. A copy rotated by a few degrees or rescaled still finds block twins, but its shift
   changes over the region, so no bin gathers it (``affine``). Matches whose source blocks
   touch and whose shifts differ by at most ``affine_drift`` are linked; each linked group
   is fitted with one similarity (RANSAC) and refined on the full-resolution pixels by a
   bounded search that maximises the correlation of the bilinear image (``max_affine``
   candidates, ``min_affine_zncc``: interpolation costs a resampled copy a little). Past
   about 10 degrees block twins no longer match, so blocks are also described on the
   figure turned by -``turn`` and +``turn`` degrees and looked up in the same index.
5. Each transform is refined and checked on the full-resolution pixels, on the block
   footprint shrunk by ``core_erode`` (blocks overshoot a copy's edge): the source region
   mapped by it must correlate with the copy (ZNCC >= ``min_zncc``), and so must their fine
   grain between edges (``min_hp_zncc``, on the calmer ``grain_quantile`` of the pixels, and
   only where there is grain at all: ``min_grain``); a translation that also matches at
   twice, minus or half its shift is a regular pattern (ladder rungs, wells), not a copy;
   regions made of flat or saturated pixels (text, tick labels, bars: legitimately
   identical pixels) are rejected (``max_flat``).
6. The copy is the blocks' footprint grown over pixels that agree with the mapped source
   (never by a difference two independent grains would make); its preimage is the source.
7. The decisive test against look-alikes: the fine residual of copy minus mapped source,
   over what two independent grains of the figure leave (``max_residual``). A copy carries
   its source's grain (residual near 0, or the noise added after the forgery); bands,
   cells and glyphs drawn one by one do not (residual about 1), however alike their
   outlines. In a figure with grain, a region where that cannot be measured (a band whose
   mottling is coarser than grain) is kept only when nearly all its pixels equal the mapped
   source's to the grey level (``min_exact``: an untouched flip, turn or translation;
   objects drawn apart never agree so closely, typeset labels reach about 0.6-0.7);
   in a figure without grain (clean graphics) the stroke test stands in for it: regions
   whose ink is thin strokes (``min_stroke``: text, ladder rungs, plot lines) are rejected.
8. Source and copy are one instance, and instances that overlap (one object pasted several
   times) are merged.

The result is a :class:`forgeseg.matchers.sift.KeypointResult`, so both detectors are
interchangeable downstream. The detector stays silent unless the evidence is strong: any mask
on an authentic figure scores 0.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from forgeseg.core.config import from_mapping
from forgeseg.core.errors import ParamsError
from forgeseg.core.imageio import to_gray
from forgeseg.decision.instances import fill_holes
from forgeseg.matchers.sift import KeypointResult, Transform, assemble_result

__all__ = ["DIHEDRAL", "DenseConfig", "Verdict", "detect", "grain_sigma", "stroke_width"]

# The 8 flips / quarter turns as 2x2 integer matrices acting on (x, y) column vectors:
# identity, mirror left-right, mirror up-down, half turn, transpose, anti-transpose, and the
# two quarter turns.
DIHEDRAL: tuple[np.ndarray, ...] = tuple(
    np.array(m, np.int64)
    for m in (
        [[1, 0], [0, 1]],
        [[-1, 0], [0, 1]],
        [[1, 0], [0, -1]],
        [[-1, 0], [0, -1]],
        [[0, 1], [1, 0]],
        [[0, -1], [-1, 0]],
        [[0, -1], [1, 0]],
        [[0, 1], [-1, 0]],
    )
)
_GRID = 4  # cells per block side: 16-number descriptors
# Grey levels this close to 0 or 255 count as saturated (drawn text, bars, clipped pixels).
_SATURATED = 5


@dataclass(frozen=True)
class DenseConfig:
    """Settings of :func:`detect`. Distances are in pixels of the working copy unless named
    otherwise."""

    max_side: int = 640  # long side of the working copy (larger figures are downscaled)
    block: int = 8  # block side, a multiple of 4 (4x4 grid of cells)
    stride: int = 2  # step between blocks
    min_block_std: float = 4.0  # blocks flatter than this (grey levels) are skipped
    blur: float = 1.0  # Gaussian sigma applied before describing blocks
    min_structure: float = 0.2  # descriptor energy a linear ramp must leave unexplained
    max_blocks: int = 40000  # the stride grows until at most this many blocks remain
    knn: int = 6  # neighbours fetched per block and dihedral variant
    max_feature_dist: float = 0.25  # descriptor distance of a twin (unit-norm, sqrt(2-2r))
    flips: bool = True  # also match the 7 flipped / turned variants
    dense_index: bool = True  # twins are searched among blocks at every pixel, not the grid
    min_distance: float = 10.0  # twins closer than this are the same structure
    shift_tolerance: float = 1.5  # votes this close to a peak's shift join it
    min_blocks: int = 16  # connected source blocks a transform needs
    max_candidates: int = 40  # transforms verified per figure (the largest regions first)
    affine: bool = True  # also look for rotated / rescaled copies (smoothly varying shifts)
    affine_drift: float = 3.0  # px the shift may change between touching blocks of one copy
    max_affine: int = 10  # rotated / rescaled transforms verified per figure
    turn: float = 14.0  # degrees: blocks are also described on the figure turned by +-turn
    min_affine_zncc: float = 0.95  # correlation a resampled copy needs (interpolation blurs)
    max_self_overlap: float = 0.2  # share of the source region its own copy may cover
    core_erode: int = 3  # px (full resolution) the block footprint is eroded for the checks
    max_residual: float = 0.5  # copy-minus-source fine residual over twice the grain, at most
    min_exact: float = 0.9  # where that residual cannot be measured: share of equal pixels
    min_zncc: float = 0.98  # correlation of the source region and its mapped copy
    min_hp_zncc: float = 0.9  # ... of their fine texture (image minus its blur)
    hp_sigma: float = 1.5  # blur removed before the fine-texture correlation
    grain_quantile: float = 0.5  # the fine texture is compared on pixels this calm (gradient)
    min_grain: float = 2.0  # fine-texture std (grey levels) needed to compare at all
    max_flat: float = 0.2  # largest share of flat or saturated pixels (text, bars)
    min_stroke: float = 1.5  # median half-width (px) of a region's ink, at least: not text
    local_window: int = 5  # window of the local agreement map (full resolution)
    local_zncc: float = 0.6  # local correlation a grown pixel needs
    max_abs_diff: float = 4.0  # ... or an absolute grey difference at most this
    min_area: int = 48  # smallest instance kept, in full-resolution pixels
    merge_overlap: float = 0.2  # overlap share at which instances merge

    def __post_init__(self) -> None:
        ints_ge = {
            "max_side": 32,
            "block": 4,
            "stride": 1,
            "max_blocks": 100,
            "knn": 1,
            "min_blocks": 2,
            "max_candidates": 1,
            "max_affine": 0,
            "local_window": 3,
            "min_area": 0,
            "core_erode": 0,
        }
        for name, lo in ints_ge.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ParamsError(f"dense.{name} must be an integer >= {lo}; got {v!r}")
        if self.block % _GRID:
            raise ParamsError(f"dense.block must be a multiple of {_GRID}; got {self.block}")
        if not isinstance(self.dense_index, bool):
            raise ParamsError(f"dense.dense_index must be true or false; got {self.dense_index!r}")
        if not isinstance(self.affine, bool):
            raise ParamsError(f"dense.affine must be true or false; got {self.affine!r}")
        if not isinstance(self.flips, bool):
            raise ParamsError(f"dense.flips must be true or false; got {self.flips!r}")
        for name in (
            "max_self_overlap",
            "max_flat",
            "merge_overlap",
            "grain_quantile",
            "min_exact",
        ):
            v = getattr(self, name)
            if not _is_number(v) or not 0.0 <= v <= 1.0:
                raise ParamsError(f"dense.{name} must be a number in [0, 1]; got {v!r}")
        for name in ("min_zncc", "min_affine_zncc", "min_hp_zncc", "local_zncc"):
            v = getattr(self, name)
            if not _is_number(v) or not -1.0 <= v <= 1.0:
                raise ParamsError(f"dense.{name} must be a number in [-1, 1]; got {v!r}")
        nonneg = (
            "min_block_std",
            "min_structure",
            "blur",
            "max_feature_dist",
            "min_distance",
            "shift_tolerance",
            "affine_drift",
            "turn",
            "hp_sigma",
            "min_grain",
            "max_abs_diff",
            "min_stroke",
            "max_residual",
        )
        for name in nonneg:
            v = getattr(self, name)
            if not _is_number(v) or v < 0:
                raise ParamsError(f"dense.{name} must be a number >= 0; got {v!r}")
        if self.hp_sigma <= 0:
            raise ParamsError(f"dense.hp_sigma must be > 0; got {self.hp_sigma}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DenseConfig:
        """Build from a params mapping; unknown keys or bad values raise ``ParamsError``."""
        return from_mapping(cls, data, "dense")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and bool(np.isfinite(v))


def _permutations() -> np.ndarray:
    """(8, 16) int: descriptor index permutations; ``f[perm[g]]`` describes the block
    transformed by ``DIHEDRAL[g]`` about its centre."""
    c = (_GRID - 1) / 2
    out = np.zeros((len(DIHEDRAL), _GRID * _GRID), np.int64)
    for g, d in enumerate(DIHEDRAL):
        inv = np.linalg.inv(d).round().astype(np.int64)
        for a in range(_GRID):  # row (y) of the transformed block's cell
            for b in range(_GRID):
                ux, uy = inv @ np.array([b - c, a - c])
                out[g, a * _GRID + b] = round(uy + c) * _GRID + round(ux + c)
    return out


_PERMS = _permutations()


def _block_maps(gray: np.ndarray, cfg: DenseConfig) -> tuple[np.ndarray, np.ndarray]:
    """(cell means (h, w), block std (h, w)) float32 of a working copy (float32 (h, w)),
    indexed by a cell's or block's top-left pixel."""
    b = cfg.block
    cell = b // _GRID
    # A light blur makes cell means tolerant of the up-to-half-stride misalignment between
    # a copy and the block grid, and of JPEG and noise.
    gray = cv2.GaussianBlur(gray, (0, 0), cfg.blur) if cfg.blur > 0 else gray
    # means[y, x] = mean of gray[y:y+cell, x:x+cell]: the cell grid of any block by indexing.
    means = cv2.blur(gray, (cell, cell), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    bm = cv2.blur(gray, (b, b), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    bsq = cv2.blur(gray * gray, (b, b), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    return means, np.sqrt(np.maximum(bsq - bm * bm, 0.0))


def _grid(
    bstd: np.ndarray, cfg: DenseConfig, stride: int, cap: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Top-left corners (x (K,), y (K,)) of the non-flat blocks every ``stride`` px, the
    stride grown until at most ``cap`` remain, and that stride."""
    h, w = bstd.shape
    b = cfg.block
    while True:
        ys = np.arange(0, h - b + 1, stride)
        xs = np.arange(0, w - b + 1, stride)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        keep = bstd[yy, xx] >= cfg.min_block_std
        if int(keep.sum()) <= cap:
            return xx[keep], yy[keep], stride
        stride += 1  # bounds time and memory on large textured figures


def _describe(
    means: np.ndarray, x0: np.ndarray, y0: np.ndarray, cfg: DenseConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(top-left corners (K, 2) int64 as (x, y), unit-norm descriptors (K, 16) float32) of
    the blocks at ``x0``, ``y0`` that have a usable descriptor."""
    off = np.arange(_GRID) * (cfg.block // _GRID)
    fy = y0[:, None, None] + off[None, :, None]
    fx = x0[:, None, None] + off[None, None, :]
    f = means[fy, fx].reshape(len(x0), _GRID * _GRID).astype(np.float32)
    f -= f.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(f, axis=1)
    # A block with texture but flat cell means (fine stripes) has no usable descriptor.
    ok = norm > 1e-3 * cfg.block
    f = f[ok] / norm[ok, None]
    # Smooth shading and the edge of a large object look alike everywhere: a block whose
    # descriptor is nearly a linear ramp matches hundreds of unrelated blocks.
    ramp = _ramp_basis()
    structure = 1.0 - ((f @ ramp.T) ** 2).sum(axis=1)
    rich = structure >= cfg.min_structure
    f = f[rich]
    x0, y0 = x0[ok][rich], y0[ok][rich]
    return np.stack([x0, y0], axis=1).astype(np.int64), f


def _blocks(
    gray: np.ndarray, cfg: DenseConfig, stride: int | None = None, max_blocks: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Descriptors of the non-flat blocks of a working copy.

    Args:
        gray: float32 (h, w) working copy.

    Returns:
        (top-left corners (K, 2) int64 as (x, y), unit-norm descriptors (K, 16) float32,
        stride used).
    """
    means, bstd = _block_maps(gray, cfg)
    stride = cfg.stride if stride is None else stride
    cap = cfg.max_blocks if max_blocks is None else max_blocks
    x0, y0, stride = _grid(bstd, cfg, stride, cap)
    corners, desc = _describe(means, x0, y0, cfg)
    return corners, desc, stride


def _ramp_basis() -> np.ndarray:
    """(2, 16) float32 orthonormal zero-mean linear ramps in x and y over the cell grid."""
    c = np.arange(_GRID, dtype=np.float32) - (_GRID - 1) / 2
    gx = np.tile(c, _GRID)
    gy = np.repeat(c, _GRID)
    return np.stack([gx / np.linalg.norm(gx), gy / np.linalg.norm(gy)])


def _compose_table() -> np.ndarray:
    """(8, 8) int: ``table[a, b]`` is the index of ``DIHEDRAL[a] @ DIHEDRAL[b]``."""
    mats = np.stack(DIHEDRAL)
    table = np.zeros((len(mats), len(mats)), np.int64)
    for a in range(len(mats)):
        for b in range(len(mats)):
            prod = mats[a] @ mats[b]
            table[a, b] = int(np.flatnonzero((mats == prod).all(axis=(1, 2)))[0])
    return table


_COMPOSE = _compose_table()
_INVERSE = np.array([int(np.flatnonzero(row == 0)[0]) for row in _COMPOSE])
# A fixed direction in descriptor space that ranks a block's 8 variants; its coefficients
# are distinct so no two cell permutations score alike on generic blocks.
_RANK = np.sin(np.arange(1, _GRID * _GRID + 1) * 1.7).astype(np.float32)


@dataclass
class _Index:
    """Every block stored once, in its canonical pose, for twin look-ups."""

    tree: cKDTree
    pose: np.ndarray  # (n,) int64: canonical = DIHEDRAL[pose] applied to the block
    corners: np.ndarray  # (n, 2) int64 (x, y)


def _poses(
    desc: np.ndarray, cfg: DenseConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(canonical descriptors (n, 16), canonical pose (n,), second-best descriptors
    (n, 16), second-best pose (n,)); without ``flips`` the block itself is both.

    The canonical pose is the variant scoring highest along a fixed direction, so one k-d
    tree query finds twins under all 8 poses instead of 8 queries.
    """
    n = len(desc)
    if not cfg.flips:
        zero = np.zeros(n, np.int64)
        return desc, zero, desc, zero
    variants = desc[:, _PERMS]  # (n, 8, 16)
    order = np.argsort(-(variants @ _RANK), axis=1, kind="stable")
    rows = np.arange(n)
    return variants[rows, order[:, 0]], order[:, 0], variants[rows, order[:, 1]], order[:, 1]


def _index(corners: np.ndarray, desc: np.ndarray, cfg: DenseConfig) -> _Index:
    canon, pose, _, _ = _poses(desc, cfg)
    return _Index(cKDTree(canon), pose, corners)


def _query(
    index: _Index, desc: np.ndarray, corners: np.ndarray, cfg: DenseConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twins of the query blocks ``desc`` (K, 16) whose top-left corners in the figure are
    ``corners`` (K, 2): (query row (M,), twin index (M,), dihedral index (M,)) int64, where
    the twin's content is the query's under ``DIHEDRAL[g]``. Twins closer than
    ``min_distance`` are the same structure. A block whose two best poses score alike could
    be canonicalised differently in its copy, so it is looked up in both."""
    z = np.zeros(0, np.int64)
    n = index.tree.n
    if len(desc) == 0 or n < 2:
        return z, z, z
    canon, pose, alt, second = _poses(desc, cfg)
    if cfg.flips:
        query = np.concatenate([canon, alt])
        qpose = np.concatenate([pose, second])
        qrow = np.concatenate([np.arange(len(desc))] * 2)
    else:
        query, qpose, qrow = canon, pose, np.arange(len(desc))
    k = min(cfg.knn + 1, n)
    # Both cores: this look-up is most of the matcher's time, and each query is independent.
    dist, idx = index.tree.query(query, k=k, distance_upper_bound=cfg.max_feature_dist, workers=-1)
    dist = dist.reshape(len(query), -1)
    idx = idx.reshape(len(query), -1)
    rows, cols = np.nonzero(np.isfinite(dist))
    j = idx[rows, cols].astype(np.int64)
    # P_j(twin) = P_q(block) -> twin = P_j^-1 P_q (block).
    g = _COMPOSE[_INVERSE[index.pose[j]], qpose[rows]].astype(np.int64)
    i = qrow[rows].astype(np.int64)
    far = np.abs(index.corners[j] - corners[i]).max(axis=1) >= cfg.min_distance
    return i[far], j[far], g[far]


def _matches(
    index: _Index, desc: np.ndarray, cfg: DenseConfig, queries: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twin blocks among the indexed ones: (source index (M,), twin index (M,), dihedral
    index (M,)) int64, where the twin's content is the source's under ``DIHEDRAL[g]``.
    ``queries`` (bool (n,), default all) selects the blocks that look for twins; every
    block can be found. Twins closer than ``min_distance`` are the same structure."""
    z = np.zeros(0, np.int64)
    q = np.arange(len(desc)) if queries is None else np.flatnonzero(queries)
    rows, j, g = _query(index, desc[q], index.corners[q], cfg)
    i = q[rows]
    if len(i) == 0:
        return z, z, z
    # The two poses of one block may find the same twin.
    key = np.unique(np.stack([i, j, g], axis=1), axis=0)
    return key[:, 0].astype(np.int64), key[:, 1].astype(np.int64), key[:, 2].astype(np.int64)


@dataclass
class _Candidate:
    g: int  # dihedral index
    shift: np.ndarray  # (2,) float64 working-scale t in x -> D x + t (pixel indices)
    xy: np.ndarray  # (K, 2) int64 working-scale top-left corners of the source blocks
    # (2, 2) working-scale linear part of a rotated / rescaled copy: x -> L x + shift.
    # None for a flip / quarter turn (``DIHEDRAL[g]``), whose shift is refined on the pixels.
    linear: np.ndarray | None = None


def _candidates(
    corners: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    gs: np.ndarray,
    cfg: DenseConfig,
) -> list[_Candidate]:
    """Transforms backed by a connected region of at least ``min_blocks`` source blocks,
    strongest first."""
    if len(src) < cfg.min_blocks:
        return []
    half = (cfg.block - 1) / 2
    shifts = _shifts(corners[src] + half, corners[dst] + half, gs)
    # Coarse vote: a copy's shifts scatter by up to the stride around the true one, so a
    # bin's support is its own votes plus its 8 neighbours'. Counting one bin alone split a
    # copy whose shift sits on a bin border into two halves, each under min_blocks: most
    # true copies never became candidates.
    q = max(1.0, 2 * cfg.shift_tolerance)
    keys = np.concatenate([gs[:, None], np.floor(shifts / q).astype(np.int64)], axis=1)
    uniq, inverse, own = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    # One integer per (pose, bin x, bin y), so neighbours are found by a sorted search;
    # nbr[u] lists the occupied neighbouring bins of bin u (-1: none there).
    span = int(np.abs(uniq[:, 1:]).max()) + 2
    code = (uniq[:, 0] * (2 * span + 1) + uniq[:, 1] + span) * (2 * span + 1) + uniq[:, 2] + span
    steps = [dx * (2 * span + 1) + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]
    other = code[:, None] + np.array(steps)[None, :]
    pos = np.minimum(np.searchsorted(code, other), len(code) - 1)
    nbr = np.where(code[pos] == other, pos, -1)
    counts = own + np.where(nbr >= 0, own[nbr], 0).sum(axis=1)
    order = np.argsort(-counts, kind="stable")
    # Matches grouped by bin, so a bin's neighbourhood is gathered without scanning every
    # match: the peak lies in the bin, and tolerance + 0.5 < q keeps its joiners within one
    # bin of it. Scanning all matches per bin made this loop most of the matcher's time.
    by_bin = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(own)])
    taken = np.zeros(len(src), bool)
    out: list[_Candidate] = []
    for u in order:
        if counts[u] < cfg.min_blocks:
            break
        members = by_bin[starts[u] : starts[u + 1]]
        members = members[~taken[members]]
        if len(members) == 0:
            continue
        g = int(uniq[u, 0])
        peak = np.median(shifts[members], axis=0)
        near = np.concatenate(
            [members] + [by_bin[starts[v] : starts[v + 1]] for v in nbr[u] if v >= 0]
        )
        near = near[~taken[near]]
        near = near[np.abs(shifts[near] - peak).max(axis=1) <= cfg.shift_tolerance + 0.5]
        members = np.sort(near)
        taken[members] = True
        # Keep one match per source block (its twins under this transform agree anyway).
        _, first = np.unique(src[members], return_index=True)
        members = members[first]
        if len(members) < cfg.min_blocks:
            continue
        region = _largest_region(corners[src[members]], cfg)
        members = members[region]
        if len(members) < cfg.min_blocks:
            continue
        out.append(_Candidate(g, np.median(shifts[members], axis=0), corners[src[members]]))
    # Rank by the connected region a transform explains, not by its raw votes: in a figure
    # full of look-alikes (dots, bands, glyphs) hundreds of bins gather more scattered
    # votes than a real copy, which is one compact region.
    out.sort(key=lambda c: -len(c.xy))
    return out[: cfg.max_candidates]


def _shifts(
    c_src: np.ndarray, c_dst: np.ndarray, gs: np.ndarray, turn: np.ndarray | None = None
) -> np.ndarray:
    """(M, 2) float64 shift t of each match, with twin centre = DIHEDRAL[g] @ turn @
    source centre + t (``turn``: (2, 2), the identity when None)."""
    mats = np.stack(DIHEDRAL).astype(np.float64)
    if turn is not None:
        mats = mats @ turn
    return c_dst - np.einsum("mij,mj->mi", mats[gs], c_src)


def _affine_candidates(
    c_src: np.ndarray,
    grid: np.ndarray,
    key: np.ndarray,
    c_dst: np.ndarray,
    gs: np.ndarray,
    turn: np.ndarray,
    cfg: DenseConfig,
) -> list[_Candidate]:
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
    shifts = _shifts(c_src, c_dst, gs, turn)
    drift = max(cfg.affine_drift, 1e-3)
    out: list[_Candidate] = []
    half = (cfg.block - 1) / 2
    for g in np.unique(gs):
        sel = np.flatnonzero(gs == g)
        if len(sel) < cfg.min_blocks:
            continue
        pts = np.concatenate([c_src[sel] / cfg.block, shifts[sel] / drift], axis=1)
        pairs = cKDTree(pts).query_pairs(1.0, p=np.inf, output_type="ndarray")
        n = len(sel)
        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        pose = mats[int(g)]
        for lab in np.flatnonzero(np.bincount(labels) >= cfg.min_blocks):
            m = sel[labels == lab]
            if len(np.unique(key[m])) < cfg.min_blocks:
                continue
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
                continue
            rot = fit[:, :2]
            scale = float(np.sqrt(abs(np.linalg.det(rot))))
            # A plain flip / turn with a shift is the translation vote's; a fit far from
            # the forger's few degrees and quarter of rescaling is chance.
            if plain and np.abs(rot - np.eye(2)).max() < 0.02:
                continue
            if not 0.7 <= scale <= 1.4:
                continue
            m = m[inl.ravel().astype(bool)]
            _, first = np.unique(key[m], return_index=True)
            m = m[first]
            if len(m) < cfg.min_blocks:
                continue
            m = m[_largest_region(grid[m], cfg)]
            if len(m) < cfg.min_blocks:
                continue
            xy = np.rint(c_src[m] - half).astype(np.int64)
            out.append(_Candidate(int(g), fit[:, 2].copy(), xy, rot @ pose))
    out.sort(key=lambda c: -len(c.xy))
    return out[: cfg.max_affine]


def _turned_blocks(
    gray: np.ndarray, cfg: DenseConfig, stride: int, angle: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Blocks of the working copy turned by ``angle`` degrees about its centre.

    Block descriptors stop matching beyond about 10 degrees of rotation; described on a
    turned copy of the figure, a copy turned by about ``angle`` finds its twins again.

    Returns:
        (centres (K, 2) float64 mapped back into the figure, corners (K, 2) int64 on the
        turned grid, descriptors (K, 16) float32, the (2, 2) rotation from the figure to
        the turned copy).
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
    corners, desc, _ = _blocks(turned, cfg, stride=stride, max_blocks=cfg.max_blocks)
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
    return back, corners, desc, m[:, :2].copy()


def _largest_region(corners: np.ndarray, cfg: DenseConfig) -> np.ndarray:
    """Indices of the blocks in the largest connected group (blocks touching or overlapping
    count as connected): a copy is one coherent region, chance matches are scattered.

    ``corners``: (K, 2) int64 (x, y) block corners, all on a common grid (the block stride).
    """
    n = len(corners)
    if n == 0:
        return np.zeros(0, np.int64)
    # On a grid of step ``step``, corners within ``block`` of each other (Chebyshev) are
    # exactly those whose r x r cell squares touch under 8-connectivity, so one raster
    # labelling replaces a pairwise search: this runs once per voted bin.
    step = max(1, int(np.gcd.reduce(corners.ravel())))
    r = max(1, cfg.block // step)
    cell = corners // step
    lo = cell.min(axis=0)
    cell = cell - lo
    w, h = (cell.max(axis=0) + r).tolist()
    raster = np.zeros((h, w), np.uint8)
    raster[cell[:, 1], cell[:, 0]] = 1
    raster = cv2.dilate(raster, np.ones((r, r), np.uint8), anchor=(r - 1, r - 1))
    _, labels = cv2.connectedComponents(raster, connectivity=8)
    lab = labels[cell[:, 1], cell[:, 0]]
    counts = np.bincount(lab)
    first = np.full(len(counts), n)
    np.minimum.at(first, lab, np.arange(n))
    # Most blocks wins; on a tie, the group holding the earliest block (deterministic).
    best = np.lexsort((first, -counts))[0]
    return np.flatnonzero(lab == best)


def _full_matrix(g: int, shift: np.ndarray, s: float) -> np.ndarray:
    """(2, 3) float64 full-resolution pixel-index map of a working-scale x -> D x + t."""
    d = DIHEDRAL[g].astype(np.float64)
    one = np.full(2, 0.5)
    # Pixel centres: x_full + 0.5 = (x_work + 0.5) / s.
    t = d @ one - one + (shift + one - d @ one) / s
    return np.hstack([d, t[:, None]])


def _footprint(
    corners: np.ndarray, block: int, s: float, shape: tuple[int, int], matrix: np.ndarray | None
) -> np.ndarray:
    """bool (H, W) full-resolution union of working-scale blocks, mapped by ``matrix``
    (full resolution) when given."""
    H, W = shape
    m = np.zeros((H, W), np.uint8)
    for x, y in corners:
        x0, y0 = int(np.floor(x / s)), int(np.floor(y / s))
        x1, y1 = int(np.ceil((x + block) / s)), int(np.ceil((y + block) / s))
        m[max(y0, 0) : min(y1, H), max(x0, 0) : min(x1, W)] = 1
    if matrix is not None:
        m = cv2.warpAffine(m, matrix, (W, H), flags=cv2.INTER_NEAREST)
    return m.astype(bool)


def _warp(
    gray: np.ndarray, matrix: np.ndarray, smooth: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """float32 (H, W) ``gray`` mapped by ``matrix`` (so ``out(T x) = gray(x)``) and the bool
    (H, W) map of where it is defined. ``smooth``: interpolate (rotations, rescaling), as
    the forger's software did; flips and quarter turns move whole pixels."""
    H, W = gray.shape
    out = cv2.warpAffine(
        gray,
        matrix,
        (W, H),
        flags=cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=-1.0,
    )
    return out, out >= 0


def _zncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-6 else 0.0


def _graphic_share(vals: np.ndarray) -> float:
    """Share of uint8 pixel values that are the most common value or saturated: text, ticks
    and bars are drawn in one flat colour on a flat background."""
    if vals.size == 0:
        return 1.0
    hist = np.bincount(vals.ravel(), minlength=256)
    mode = int(hist.argmax())
    sat = hist[:_SATURATED].sum() + hist[256 - _SATURATED :].sum()
    if mode < _SATURATED or mode >= 256 - _SATURATED:
        return float(sat / vals.size)
    return float((hist[mode] + sat) / vals.size)


def stroke_width(gray: np.ndarray, region: np.ndarray) -> float:
    """Median half-width in px of the ink of ``region`` (bool (H, W)) in ``gray`` (uint8
    (H, W)): the Otsu class that covers less of the region, measured by its distance to the
    other class.

    Text, ladder rungs and plot lines are strokes 1-3 px wide (half-width about 1), whatever
    their colour and whatever noise lies under them; bands, cells and tissue are blobs. The
    graphic share (:func:`_graphic_share`) misses text on a noisy background, this does not.
    """
    if region.sum() < 16:
        return 0.0
    y0, x0, y1, x1 = _bbox(region, 1)
    g, m = gray[y0:y1, x0:x1], region[y0:y1, x0:x1]
    vals = g[m].reshape(-1, 1)
    t, _ = cv2.threshold(vals, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = g <= t
    ink = (dark if dark[m].mean() <= 0.5 else ~dark) & m
    if not ink.any():
        return 0.0
    dist = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float(np.median(dist[ink]))


@functools.lru_cache(maxsize=8)
def _hp_gain(sigma: float) -> float:
    """Standard deviation that ``x - blur(x, sigma)`` keeps of unit white noise."""
    noise = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    hp = noise - cv2.GaussianBlur(noise, (0, 0), sigma)
    return float(hp[16:-16, 16:-16].std())


def _mad(vals: np.ndarray) -> float:
    """Robust standard deviation (scaled median absolute deviation) of a 1-D array."""
    return float(np.median(np.abs(vals - np.median(vals)))) * 1.4826 if vals.size else 0.0


def _periodic(
    grayf: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    vals: np.ndarray,
    shift: np.ndarray,
    min_zncc: float,
) -> bool:
    """Whether a translated region (pixels ``ys``, ``xs`` with values ``vals``) also
    matches at another multiple of the ``shift`` (x, y) (twice it, minus it, half of it):
    the mark of a regular pattern, not of a copy (a forger pasting twice at the same
    spacing is rare, and half-way between a source and its copy lies unrelated content)."""
    H, W = grayf.shape
    for k in (2.0, -1.0, 0.5):
        mx = np.rint(xs + k * shift[0]).astype(np.int64)
        my = np.rint(ys + k * shift[1]).astype(np.int64)
        ok = (mx >= 0) & (mx < W) & (my >= 0) & (my < H)
        if ok.mean() >= 0.9 and _zncc(vals[ok], grayf[my[ok], mx[ok]]) >= min_zncc:
            return True
    return False


def _texture(x: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Fine texture ``x - blur(x, sigma)`` of a float32 (h, w) map and the gradient
    magnitude of ``blur(x, sigma)`` (where the fine texture is an edge leaking through),
    both float32 (h, w), from one blur."""
    smooth = cv2.GaussianBlur(x, (0, 0), sigma)
    grad = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    return x - smooth, grad


def grain_sigma(grayf: np.ndarray, hp_sigma: float) -> float:
    """Per-pixel grain (grey levels, white-noise equivalent) of a float32 (H, W) figure.

    The fine texture ``x - blur(x)`` is measured on the calmest quarter of the pixels
    (lowest gradient), where edges and shading contribute little; a robust spread (MAD)
    keeps dust and glyphs from inflating it. 0.0 for a figure without grain (clean
    graphics), where the residual test cannot be made.
    """
    hp, grad = _texture(grayf, hp_sigma)
    sat = (grayf <= _SATURATED) | (grayf >= 255 - _SATURATED)
    usable = ~sat
    if usable.sum() < 256:
        return 0.0
    calm = usable & (grad <= np.quantile(grad[usable], 0.25))
    mad = _mad(hp[calm])
    return mad / _hp_gain(hp_sigma) if mad > 0.05 else 0.0


def _erode(mask: np.ndarray, px: int) -> np.ndarray:
    """bool (H, W) ``mask`` eroded by ``px`` pixels; the mask itself when that empties it."""
    if px <= 0:
        return mask
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    out = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
    return out if out.sum() >= 16 else mask


def _bbox(mask: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    H, W = mask.shape
    return (
        max(int(ys.min()) - pad, 0),
        max(int(xs.min()) - pad, 0),
        min(int(ys.max()) + pad + 1, H),
        min(int(xs.max()) + pad + 1, W),
    )


def _align_dihedral(
    cand: _Candidate, grayf: np.ndarray, core: np.ndarray, s: float
) -> tuple[np.ndarray, float] | None:
    """The full-resolution map (2, 3) of a flip / turn candidate, its shift searched to the
    pixel around the working-scale one, and the ZNCC of ``core`` (bool (H, W)) with its
    image; None where no shift keeps 90% of the core inside the figure."""
    H, W = grayf.shape
    base = _full_matrix(cand.g, cand.shift, s)
    # The working-scale shift is known to about a working pixel: search the full-scale one.
    r = int(np.ceil(1.0 / s))
    d = DIHEDRAL[cand.g].astype(np.float64)
    src_vals = grayf[core]
    ys, xs = np.nonzero(core)
    pts = np.stack([xs, ys]).astype(np.float64)
    best, best_z = None, -2.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            t = base[:, 2] + (dx, dy)
            mx, my = np.rint(d @ pts + t[:, None]).astype(np.int64)
            ok = (mx >= 0) & (mx < W) & (my >= 0) & (my < H)
            if ok.mean() < 0.9:
                continue
            z = _zncc(src_vals[ok], grayf[my[ok], mx[ok]])
            if z > best_z:
                best, best_z = np.rint(t), z
    if best is None:
        return None
    return np.hstack([d, best[:, None]]), best_z


def _align_affine(
    cand: _Candidate, grayf: np.ndarray, core: np.ndarray, s: float
) -> tuple[np.ndarray, float] | None:
    """The full-resolution map (2, 3) of a rotated / rescaled candidate, refined on the
    pixels, and the ZNCC of ``core`` (bool (H, W)) with its image; None where the map
    leaves the figure.

    The block fit is good to about a pixel; the residual test needs the copy's resampling
    reproduced to a fraction of one. A compass search over angle, scale and the position of
    the core's centre climbs the ZNCC of the core with its bilinear image: a similarity
    has four numbers, and unlike a gradient method (ECC) it cannot drift into a shear.
    """
    H, W = grayf.shape
    lin = cand.linear.astype(np.float64)
    d = DIHEDRAL[cand.g].astype(np.float64)
    one = np.full(2, 0.5)
    # Working pixel centres x_w + 0.5 = s (x_full + 0.5), as in _full_matrix.
    t = lin @ one - one + (cand.shift + one - lin @ one) / s
    rot = lin @ d.T  # the similarity that follows the flip / turn
    scale0 = float(np.sqrt(abs(np.linalg.det(rot))))
    angle0 = float(np.arctan2(rot[1, 0], rot[0, 0]))
    ys, xs = np.nonzero(core)
    pts = np.stack([xs, ys]).astype(np.float64)
    centre = pts.mean(axis=1)
    rel = d @ (pts - centre[:, None])
    vals = grayf[ys, xs]

    def score(p: np.ndarray) -> float:
        c, sn = np.cos(p[0]) * p[1], np.sin(p[0]) * p[1]
        mx = c * rel[0] - sn * rel[1] + p[2]
        my = sn * rel[0] + c * rel[1] + p[3]
        ok = (mx >= 0) & (mx <= W - 1) & (my >= 0) & (my <= H - 1)
        if ok.mean() < 0.9:
            return -2.0
        im = cv2.remap(
            grayf,
            mx[ok].astype(np.float32)[None],
            my[ok].astype(np.float32)[None],
            cv2.INTER_LINEAR,
        ).ravel()
        return _zncc(vals[ok], im)

    p0 = np.array([angle0, scale0, *(lin @ centre + t)])
    # The fit is off by about a pixel over the region; a search let wander further climbs
    # onto some other structure.
    reach = np.array([np.radians(3.0), 0.05 * scale0, 3.0, 3.0])
    steps = np.array([np.radians(1.0), 0.02 * scale0, 1.0, 1.0])
    p = p0
    best = score(p)
    for _ in range(100):
        moved = False
        for k in range(4):
            for sign in (1.0, -1.0):
                q = p.copy()
                q[k] += sign * steps[k]
                if abs(q[k] - p0[k]) > reach[k]:
                    continue
                z = score(q)
                if z > best:
                    p, best, moved = q, z, True
        if not moved:
            steps /= 2
            if steps[2] < 0.05:
                break
    if best <= -2.0:
        return None
    c, sn = np.cos(p[0]) * p[1], np.sin(p[0]) * p[1]
    full = np.array([[c, -sn], [sn, c]]) @ d
    return np.hstack([full, (p[2:] - full @ centre)[:, None]]), best


def _verify(
    cand: _Candidate,
    gray_full: np.ndarray,
    grayf: np.ndarray,
    s: float,
    cfg: DenseConfig,
    grain: float = 0.0,
) -> tuple[np.ndarray, Transform] | str:
    """Refine and check one candidate on the full-resolution pixels; the source+copy mask
    bool (H, W) and its Transform, or the name of the setting whose check it failed
    (``"min_zncc"``, ``"periodic"``, ``"max_residual"``...) when the pixels do not confirm
    a copy.

    Args:
        gray_full: uint8 (H, W) figure; grayf: the same as float32.
    """
    H, W = gray_full.shape
    src_fp = _footprint(cand.xy, cfg.block, s, (H, W), None)
    # Blocks match while only mostly inside a copy, so their union overshoots the copied
    # region by up to a few pixels; those border pixels are not copies and would pull an
    # exact copy's correlation under min_zncc. The checks run on the eroded core.
    core = _erode(src_fp, cfg.core_erode)
    if cand.linear is None:
        aligned = _align_dihedral(cand, grayf, core, s)
        if aligned is None or aligned[1] < cfg.min_zncc:
            return "min_zncc"
        matrix, best_z = aligned
        ys, xs = np.nonzero(core)
        if cand.g == 0 and _periodic(grayf, ys, xs, grayf[core], matrix[:, 2], cfg.min_zncc):
            return "periodic"  # ladder rungs, wells, ticks: they repeat at every multiple
    else:
        aligned = _align_affine(cand, grayf, core, s)
        if aligned is None or aligned[1] < cfg.min_affine_zncc:
            return "min_zncc"
        matrix, best_z = aligned
    warped, valid = _warp(grayf, matrix, smooth=cand.linear is not None)
    dst_fp = _footprint(cand.xy, cfg.block, s, (H, W), matrix)
    if (dst_fp & src_fp).sum() > cfg.max_self_overlap * src_fp.sum():
        return "self_overlap"  # a symmetric object matched with itself
    dst_core = cv2.warpAffine(core.astype(np.uint8), matrix, (W, H), flags=cv2.INTER_NEAREST)
    dst_core = dst_core.astype(bool)
    # Fine texture over the copy's footprint.
    pad = int(np.ceil(3 * cfg.hp_sigma)) + 1
    cy0, cx0, cy1, cx1 = _bbox(dst_fp, pad)
    roi = grayf[cy0:cy1, cx0:cx1]
    wroi = np.where(valid[cy0:cy1, cx0:cx1], warped[cy0:cy1, cx0:cx1], roi)
    hp_a, grad = _texture(roi, cfg.hp_sigma)
    hp_b, _ = _texture(wroi, cfg.hp_sigma)
    check = dst_core[cy0:cy1, cx0:cx1] & valid[cy0:cy1, cx0:cx1]
    # Only the grain between edges (low ``grad``): band and marker outlines are alike in
    # look-alikes and would dominate the correlation; the grain is what only a copy shares
    # with its source.
    if check.sum() < 16:
        return "min_grain"
    calm = check & (grad <= np.quantile(grad[check], cfg.grain_quantile))
    if calm.sum() < 16 or float(hp_a[calm].std()) < cfg.min_grain:
        return "min_grain"  # no grain to compare: identical flat pixels prove nothing
    hp_zncc = _zncc(hp_a[calm], hp_b[calm])
    if hp_zncc < cfg.min_hp_zncc:
        return "min_hp_zncc"
    graphic = max(_graphic_share(gray_full[dst_fp]), _graphic_share(gray_full[src_fp]))
    if graphic > cfg.max_flat:
        return "max_flat"
    mask = _localise(grayf, warped, valid, dst_fp, matrix, cfg, grain)
    if mask is None:
        return "localise"
    dst_mask, src_mask = mask
    if (dst_mask & src_mask).sum() > cfg.max_self_overlap * src_mask.sum():
        return "self_overlap"
    residual = _residual(grayf, warped, valid, dst_mask, grain, cfg)
    if residual > cfg.max_residual:
        return "max_residual"
    exact = False
    if grain > 0 and not np.isfinite(residual):
        # In a figure with grain, a copy that shows none of it shared is not proven, unless
        # its pixels equal the source's outright: a band's mottling can be too coarse to
        # pass for grain, yet two bands drawn apart never agree to the grey level.
        if cand.linear is not None:
            return "max_residual"  # resampled: no pixel equals its source exactly
        if _exact_share(grayf, warped, valid, dst_mask) < cfg.min_exact:
            return "min_exact"
        # Drawn graphics repeat pixel for pixel too (a scale bar and its label, 17-20% flat
        # or saturated): equality spares the stroke test only in regions of image content.
        exact = graphic <= cfg.max_flat / 2
    # Text and ladder rungs are thin strokes; where the residual test was made they are
    # already out (glyphs drawn one by one do not share grain), and a stroke test there
    # would also drop copies of fine structure (cell outlines, speckle). So does the
    # exactness test in image content (typeset labels drawn over grain agree on 60-70% of
    # their pixels, copies on 94-99%). Figures without grain (clean graphics) keep it.
    if (
        not np.isfinite(residual)
        and not exact
        and stroke_width(gray_full, dst_mask | src_mask) < cfg.min_stroke
    ):
        return "min_stroke"
    half = (cfg.block - 1) / 2
    sp = ((cand.xy + half + 0.5) / s - 0.5).astype(np.float32)
    tr = Transform(
        matrix=matrix,
        inliers=len(cand.xy),
        zncc=best_z,
        hp_zncc=hp_zncc,
        graphic=graphic,
        flipped=bool(np.linalg.det(matrix[:, :2]) < 0),
        residual=residual,
        src_points=sp,
        dst_points=(sp @ matrix[:, :2].T.astype(np.float32) + matrix[:, 2].astype(np.float32)),
    )
    return dst_mask | src_mask, tr


def _exact_share(
    grayf: np.ndarray, warped: np.ndarray, valid: np.ndarray, dst_mask: np.ndarray
) -> float:
    """Share of the copy's inner pixels (``dst_mask``, bool (H, W), less a 2 px rim) whose
    grey level equals the mapped source's up to one brightness map (gain and offset, fitted
    by least squares) and rounding: near 1 for an untouched flip, turn or translation, with
    or without a brightness change; a small share for two objects drawn apart in a figure
    with grain."""
    inner = _erode(dst_mask, 2) & valid
    if inner.sum() < 16:
        return 0.0
    a, b = grayf[inner].astype(np.float64), warped[inner].astype(np.float64)
    # Rounding after a brightness map leaves up to 0.5 grey level; a fit off by a little
    # more is allowed.
    best = float((np.abs(a - b) <= 0.75).mean())
    keep = np.ones(a.size, bool)
    for _ in range(3):
        # Refitted on the pixels the last fit explained: the few pixels of a mask that are
        # not copied (its rim, a feathered edge) would pull a plain least-squares fit.
        if keep.sum() < 16 or b[keep].std() < 1e-6:
            break
        gain, offset = np.polyfit(b[keep], a[keep], 1)
        err = np.abs(a - (gain * b + offset))
        best = max(best, float((err <= 0.75).mean()))
        keep = err <= 3.0
    return best


def _residual(
    grayf: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    dst_mask: np.ndarray,
    grain: float,
    cfg: DenseConfig,
) -> float:
    """Fine residual of a copy minus its mapped source, over what two independent grains
    would leave: about 0 for a copy (or the noise added after it), about 1 or more for a
    look-alike; NaN where the region carries no grain to compare.

    Look-alikes drawn one by one (bands of a loading control, ladder rungs, cells) share
    their outline, which leaks into any fine-texture correlation; what they do not share is
    the per-pixel grain, and copy minus source keeps only what differs. It is measured on
    the localised copy (``dst_mask``, bool (H, W)) shrunk by the blur's reach, so pixels
    around the copy do not dilute it, on its calmer pixels, and only where the neighbourhood
    shows grain: ink drawn over the grain (glyphs, rules) is flat, and identical glyphs
    would otherwise read as a copy.
    """
    if grain <= 0 or not dst_mask.any():
        return float("nan")
    reach = int(np.ceil(2 * cfg.hp_sigma))
    pad = int(np.ceil(3 * cfg.hp_sigma)) + 1
    y0, x0, y1, x1 = _bbox(dst_mask, pad)
    roi = grayf[y0:y1, x0:x1]
    ok = valid[y0:y1, x0:x1]
    wroi = np.where(ok, warped[y0:y1, x0:x1], roi)
    core = _erode(dst_mask[y0:y1, x0:x1], reach) & ok
    if core.sum() < 16:
        return float("nan")
    hp_a, grad = _texture(roi, cfg.hp_sigma)
    hp_b, _ = _texture(wroi, cfg.hp_sigma)
    calm = core & (grad <= np.quantile(grad[core], cfg.grain_quantile))
    gain = _hp_gain(cfg.hp_sigma)
    local = np.sqrt(np.maximum(cv2.blur(hp_a * hp_a, (3, 3)) - cv2.blur(hp_a, (3, 3)) ** 2, 0))
    # A fine texture larger than grain makes (3 sigma) is an outline leaking through.
    bound = 3.0 * grain * gain
    grained = calm & (local >= 0.5 * grain * gain)
    grained &= (np.abs(hp_a) <= bound) & (np.abs(hp_b) <= bound)
    if grained.sum() < 16 or _mad(hp_a[grained]) / gain < 0.5 * grain:
        return float("nan")
    diff = hp_a[grained] - hp_b[grained]
    return float(diff.std()) / (np.sqrt(2.0) * grain * gain)


def _localise(
    grayf: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    dst_fp: np.ndarray,
    matrix: np.ndarray,
    cfg: DenseConfig,
    grain: float = 0.0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(copy mask, source mask) bool (H, W): the copy's block footprint grown over nearby
    pixels that agree with the mapped source, and its preimage.

    Pixels agree by local correlation, or by a small absolute difference; that difference
    stays below what two independent grains (``grain``, grey levels) make, or the copy
    would grow over the plain background around it.
    """
    H, W = grayf.shape
    win = cfg.local_window
    margin = win + 2
    y0, x0, y1, x1 = _bbox(dst_fp, margin)
    a = grayf[y0:y1, x0:x1]
    b = np.where(valid[y0:y1, x0:x1], warped[y0:y1, x0:x1], 0.0).astype(np.float32)
    k = (win, win)
    ma, mb = cv2.blur(a, k), cv2.blur(b, k)
    va = np.maximum(cv2.blur(a * a, k) - ma * ma, 0.0)
    vb = np.maximum(cv2.blur(b * b, k) - mb * mb, 0.0)
    corr = (cv2.blur(a * b, k) - ma * mb) / np.sqrt(va * vb + 1e-6)
    diff = cv2.blur(np.abs(a - b), k)
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


@dataclass
class Verdict:
    """What became of one candidate transform (for diagnostics: ``detect(..., trace=[])``).

    ``g``: dihedral index; ``shift``: (2,) working-scale shift; ``blocks``: its source
    blocks; ``footprint``: bool (H, W) full-resolution union of its source blocks;
    ``outcome``: ``"found"`` or the name of the setting whose check rejected it.
    """

    g: int
    shift: np.ndarray
    blocks: int
    footprint: np.ndarray
    outcome: str


def _trace_entry(
    cand: _Candidate,
    s: float,
    shape: tuple[int, int],
    cfg: DenseConfig,
    res: tuple[np.ndarray, Transform] | str,
) -> Verdict:
    fp = _footprint(cand.xy, cfg.block, s, shape, None)
    outcome = res if isinstance(res, str) else "found"
    return Verdict(cand.g, cand.shift.copy(), len(cand.xy), fp, outcome)


def _turned_candidates(
    gray: np.ndarray,
    index: _Index,
    src: np.ndarray,
    dst: np.ndarray,
    gs: np.ndarray,
    stride: int,
    cfg: DenseConfig,
) -> list[_Candidate]:
    """Rotated / rescaled candidates from the figure's own matches and, when ``turn`` > 0,
    from blocks described on copies of the figure turned by -turn and +turn degrees;
    at most ``max_affine``, largest first."""
    if not cfg.affine or cfg.max_affine == 0:
        return []
    half = (cfg.block - 1) / 2
    corners = index.corners
    c_src = (corners[src] + half).astype(np.float64)
    c_dst = (corners[dst] + half).astype(np.float64)
    out = _affine_candidates(c_src, corners[src], src, c_dst, gs, np.eye(2), cfg)
    for angle in (-cfg.turn, cfg.turn) if cfg.turn > 0 else ():
        back, grid, desc, rot = _turned_blocks(gray, cfg, stride, angle)
        rows, j, g = _query(index, desc, back - half, cfg)
        c_twin = (corners[j] + half).astype(np.float64)
        out += _affine_candidates(back[rows], grid[rows], rows, c_twin, g, rot, cfg)
    out.sort(key=lambda c: -len(c.xy))
    return out[: cfg.max_affine]


def detect(
    image: np.ndarray, cfg: DenseConfig | None = None, trace: list[Verdict] | None = None
) -> KeypointResult:
    """Find copy-moved regions (translated, flipped, turned, rotated or rescaled) in one figure.

    Args:
        image: uint8 RGB (H, W, 3) (grey (H, W) and RGBA (H, W, 4) also accepted).
        cfg: settings; defaults when None.
        trace: a list that receives one :class:`Verdict` per candidate transform checked,
            in order (diagnostics: which check stops which candidate).

    Returns:
        :class:`forgeseg.matchers.sift.KeypointResult`: ``instances`` bool (N, H, W) at full
        size, one channel per source plus its copies; ``inliers`` the source blocks backing
        each instance; ``n_matches`` the block matches before voting; ``score`` the largest
        ``inliers``; ``transforms`` per instance the verified maps (full-resolution pixel
        indices); ``n_keypoints`` the blocks described; ``scale`` working size / full size.

    Raises:
        ValueError: when the image is not uint8 or not (H, W[, C]).
    """
    cfg = cfg or DenseConfig()
    gray_full = to_gray(image)
    H, W = gray_full.shape
    empty = KeypointResult(np.zeros((0, H, W), bool), [], 0, 0.0)
    if min(H, W) < 2 * cfg.block:
        return empty
    s = min(1.0, cfg.max_side / max(H, W))
    if s < 1.0:
        size = (max(1, round(W * s)), max(1, round(H * s)))
        gray = cv2.resize(gray_full, size, interpolation=cv2.INTER_AREA)
    else:
        gray = gray_full
    grayw = gray.astype(np.float32)
    means, bstd = _block_maps(grayw, cfg)
    x0, y0, stride = _grid(bstd, cfg, cfg.stride, cfg.max_blocks)
    every_pixel = False
    if cfg.dense_index and stride > 1:
        # Blocks on a grid meet a copy's blocks only when the shift is a multiple of the
        # stride; otherwise the twin is a pixel or more off and its descriptor differs.
        # Indexing every block (queries stay on the grid) gives each copy an exact twin.
        fx, fy, fine = _grid(bstd, cfg, 1, cfg.max_blocks * stride * stride)
        if fine == 1:
            x0, y0, every_pixel = fx, fy, True
    corners, desc = _describe(means, x0, y0, cfg)
    queries = (corners % stride == 0).all(axis=1) if every_pixel else None
    empty.n_keypoints, empty.scale = len(corners), s
    index = _index(corners, desc, cfg)
    src, dst, gs = _matches(index, desc, cfg, queries)
    empty.n_matches = len(src)
    cands = _candidates(corners, src, dst, gs, cfg)
    cands += _turned_candidates(grayw, index, src, dst, gs, stride, cfg)
    if not cands:
        return empty
    grayf = gray_full.astype(np.float32)
    grain = grain_sigma(grayf, cfg.hp_sigma)
    found: list[tuple[np.ndarray, Transform]] = []
    for cand in cands:
        res = _verify(cand, gray_full, grayf, s, cfg, grain)
        if trace is not None:
            trace.append(_trace_entry(cand, s, (H, W), cfg, res))
        if not isinstance(res, str):
            found.append(res)
    if not found:
        return empty
    return assemble_result(
        found,
        gray_full.shape,
        merge_overlap=cfg.merge_overlap,
        min_area=cfg.min_area,
        support=max,  # a transform and its inverse describe one copy: count its blocks once
        n_matches=len(src),
        n_keypoints=len(corners),
        scale=s,
    )
