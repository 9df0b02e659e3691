"""Step 4 of the dense matcher: every block match votes for one transform x -> D x + t;
the bins that gather a connected region of source blocks become candidates."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forgeseg.config.matchers import DenseConfig
from forgeseg.matchers.dense.dihedral import DIHEDRAL

__all__ = ["Candidate", "largest_region", "shifts", "translation_candidates"]


@dataclass
class Candidate:
    """A transform backed by a region of source blocks, to be checked on the pixels."""

    g: int  # dihedral index
    shift: np.ndarray  # (2,) float64 working-scale t in x -> D x + t (pixel indices)
    xy: np.ndarray  # (K, 2) int64 working-scale top-left corners of the source blocks
    # (2, 2) working-scale linear part of a rotated / rescaled copy: x -> L x + shift.
    # None for a flip / quarter turn (``DIHEDRAL[g]``), whose shift is refined on the pixels.
    linear: np.ndarray | None = None


def shifts(
    c_src: np.ndarray, c_dst: np.ndarray, gs: np.ndarray, turn: np.ndarray | None = None
) -> np.ndarray:
    """(M, 2) float64 shift t of each match, with twin centre = DIHEDRAL[g] @ turn @
    source centre + t (``turn``: (2, 2), the identity when None)."""
    mats = np.stack(DIHEDRAL).astype(np.float64)
    if turn is not None:
        mats = mats @ turn
    return c_dst - np.einsum("mij,mj->mi", mats[gs], c_src)


@dataclass
class _Bins:
    """The coarse vote: occupied (pose, shift bin) keys and the matches in each."""

    keys: np.ndarray  # (U, 3) int64 (pose, bin x, bin y), sorted
    nbr: np.ndarray  # (U, 8) int64 occupied neighbouring bins (-1: none there)
    counts: np.ndarray  # (U,) votes of a bin and its neighbours
    by_bin: np.ndarray  # (M,) match indices grouped by bin
    starts: np.ndarray  # (U + 1,) where each bin's matches start in ``by_bin``

    def members(self, u: int) -> np.ndarray:
        return self.by_bin[self.starts[u] : self.starts[u + 1]]


def _vote(moves: np.ndarray, gs: np.ndarray, cfg: DenseConfig) -> _Bins:
    """Bin the matches' shifts (M, 2) per pose; a bin's support counts its neighbours."""
    # Coarse vote: a copy's shifts scatter by up to the stride around the true one, so a
    # bin's support is its own votes plus its 8 neighbours'. Counting one bin alone split a
    # copy whose shift sits on a bin border into two halves, each under min_blocks: most
    # true copies never became candidates.
    q = max(1.0, 2 * cfg.shift_tolerance)
    keys = np.concatenate([gs[:, None], np.floor(moves / q).astype(np.int64)], axis=1)
    uniq, inverse, own = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    # One integer per (pose, bin x, bin y), so neighbours are found by a sorted search.
    span = int(np.abs(uniq[:, 1:]).max()) + 2
    code = (uniq[:, 0] * (2 * span + 1) + uniq[:, 1] + span) * (2 * span + 1) + uniq[:, 2] + span
    steps = [dx * (2 * span + 1) + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]
    other = code[:, None] + np.array(steps)[None, :]
    pos = np.minimum(np.searchsorted(code, other), len(code) - 1)
    nbr = np.where(code[pos] == other, pos, -1)
    counts = own + np.where(nbr >= 0, own[nbr], 0).sum(axis=1)
    # Matches grouped by bin, so a bin's neighbourhood is gathered without scanning every
    # match: the peak lies in the bin, and tolerance + 0.5 < q keeps its joiners within one
    # bin of it. Scanning all matches per bin made this loop most of the matcher's time.
    by_bin = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(own)])
    return _Bins(uniq, nbr, counts, by_bin, starts)


def _gather(
    u: int, bins: _Bins, moves: np.ndarray, taken: np.ndarray, cfg: DenseConfig
) -> np.ndarray | None:
    """The untaken matches within ``shift_tolerance`` of bin ``u``'s peak shift, sorted and
    marked taken; None when the bin has no untaken match left."""
    members = bins.members(u)
    members = members[~taken[members]]
    if len(members) == 0:
        return None
    peak = np.median(moves[members], axis=0)
    near = np.concatenate([members] + [bins.members(v) for v in bins.nbr[u] if v >= 0])
    near = near[~taken[near]]
    near = near[np.abs(moves[near] - peak).max(axis=1) <= cfg.shift_tolerance + 0.5]
    members = np.sort(near)
    taken[members] = True
    return members


def translation_candidates(
    corners: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    gs: np.ndarray,
    cfg: DenseConfig,
) -> list[Candidate]:
    """Flip / quarter-turn transforms backed by a connected region of at least
    ``min_blocks`` source blocks, largest region first, at most ``max_candidates``.

    Args:
        corners: (n, 2) int64 top-left corners of the indexed blocks.
        src, dst, gs: (M,) int64 matches: source block, twin block, dihedral index.
    """
    if len(src) < cfg.min_blocks:
        return []
    half = (cfg.block - 1) / 2
    moves = shifts(corners[src] + half, corners[dst] + half, gs)
    bins = _vote(moves, gs, cfg)
    taken = np.zeros(len(src), bool)
    out: list[Candidate] = []
    for u in np.argsort(-bins.counts, kind="stable"):
        if bins.counts[u] < cfg.min_blocks:
            break
        members = _gather(u, bins, moves, taken, cfg)
        if members is None:
            continue
        # Keep one match per source block (its twins under this transform agree anyway).
        _, first = np.unique(src[members], return_index=True)
        members = members[first]
        if len(members) < cfg.min_blocks:
            continue
        members = members[largest_region(corners[src[members]], cfg)]
        if len(members) < cfg.min_blocks:
            continue
        g = int(bins.keys[u, 0])
        out.append(Candidate(g, np.median(moves[members], axis=0), corners[src[members]]))
    # Rank by the connected region a transform explains, not by its raw votes: in a figure
    # full of look-alikes (dots, bands, glyphs) hundreds of bins gather more scattered
    # votes than a real copy, which is one compact region.
    out.sort(key=lambda c: -len(c.xy))
    return out[: cfg.max_candidates]


def largest_region(corners: np.ndarray, cfg: DenseConfig) -> np.ndarray:
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
