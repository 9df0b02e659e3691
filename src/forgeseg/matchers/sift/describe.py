"""Steps 1-3 of the SIFT matcher: RootSIFT keypoints, g2NN self-matching (direct and
mirrored) and the spatial exclusion of a keypoint's own neighbourhood."""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.config.matchers import SiftConfig

__all__ = ["candidate_pairs", "g2nn", "mirror_descriptors", "off_mask", "root_sift"]

# Query rows per block of the descriptor similarity matrix: bounds its memory to a few MB.
_BLOCK = 512
# Neighbours fetched beyond ``knn + 1`` to make room for the spatially excluded ones.
_EXTRA_NN = 8


def root_sift(gray: np.ndarray, cfg: SiftConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RootSIFT of a uint8 (h, w) working copy: keypoint locations (K, 2) float32 (x, y),
    sizes (K,) float32, unit-norm descriptors (K, 128) float32."""
    sift = cv2.SIFT_create(
        nfeatures=cfg.n_features,
        contrastThreshold=cfg.contrast_threshold,
        edgeThreshold=cfg.edge_threshold,
    )
    kps, desc = sift.detectAndCompute(gray, None)
    if desc is None or len(kps) == 0:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros((0, 128), np.float32)
    pts = np.array([k.pt for k in kps], np.float32)
    sizes = np.array([k.size for k in kps], np.float32)
    # RootSIFT (Hellinger kernel): L1-normalise then square-root; distances then weigh the
    # many small bins of low-texture patches more evenly than plain SIFT.
    desc = desc.astype(np.float32)
    desc /= desc.sum(axis=1, keepdims=True) + 1e-7
    return pts, sizes, np.sqrt(desc)


def _top_neighbours(sim: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``kk`` most similar train descriptors of each query row of ``sim`` (B, T):
    (indices (B, kk) int64, similarities (B, kk) float32), most similar first."""
    # The kk-th largest similarity per row; a value partition is several times faster
    # than an index partition, and the indices are then recovered by comparison.
    kth = np.partition(sim, -kk, axis=1)[:, -kk]
    rows, cols = np.nonzero(sim >= kth[:, None])
    vals = sim[rows, cols]
    order = np.lexsort((-vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    top = rank < kk  # ties at the kk-th value may add a few: drop them
    rows, cols, vals, rank = rows[top], cols[top], vals[top], rank[top]
    nb = np.full((len(sim), kk), -1, np.int64)
    nv = np.full((len(sim), kk), -2.0, np.float32)
    nb[rows, rank] = cols
    nv[rows, rank] = vals
    return nb, nv


def _excluded(
    nb: np.ndarray,
    qpts: np.ndarray,
    qsizes: np.ndarray,
    tpts: np.ndarray,
    tsizes: np.ndarray,
    n_base: int,
    cfg: SiftConfig,
) -> np.ndarray:
    """bool (B, kk): neighbours that are missing, spatially too close to their query, or
    the mirror twin of a nearer neighbour."""
    tp = tpts[np.maximum(nb, 0)]
    d2 = ((tp - qpts[:, None, :]) ** 2).sum(axis=2)
    near = np.maximum(
        cfg.min_distance,
        cfg.min_distance_scales * np.maximum(qsizes[:, None], tsizes[np.maximum(nb, 0)]),
    )
    bad = (nb < 0) | (d2 < near * near)
    # A keypoint and its mirror image are one physical twin: only the nearer one counts,
    # or a roughly symmetric twin would fail the ratio test against itself.
    phys = nb % n_base
    for j in range(1, nb.shape[1]):
        bad[:, j] |= (phys[:, j : j + 1] == phys[:, :j]).any(axis=1)
    return bad


def _ratio_test(
    nb: np.ndarray, nv: np.ndarray, bad: np.ndarray, cfg: SiftConfig
) -> tuple[np.ndarray, np.ndarray]:
    """g2NN on one block of queries: (query row (M,), train index (M,)) of the kept
    neighbours, after the ``bad`` ones are moved out of the ranking."""
    nv = nv.copy()
    nv[bad] = -2.0
    order = np.argsort(bad, axis=1, kind="stable")
    nb = np.take_along_axis(nb, order, axis=1)[:, : cfg.knn + 1]
    nv = np.take_along_axis(nv, order, axis=1)[:, : cfg.knn + 1]
    valid = nv > -2.0
    dist = np.sqrt(np.maximum(2.0 - 2.0 * nv, 0.0))
    # A missing next neighbour means no evidence that the twin is distinctive.
    ok = valid[:, :-1] & valid[:, 1:]
    ok &= dist[:, :-1] < cfg.ratio * np.maximum(dist[:, 1:], 1e-9)
    keep = np.cumprod(ok, axis=1).astype(bool)  # stop at the first failed ratio
    r, c = np.nonzero(keep)
    return r, nb[r, c]


def g2nn(
    query: np.ndarray,
    qpts: np.ndarray,
    train: np.ndarray,
    tpts: np.ndarray,
    cfg: SiftConfig,
    qsizes: np.ndarray,
    tsizes: np.ndarray,
    n_base: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised 2-NN matches from ``query`` (K, 128) to ``train`` (T, 128) descriptors:
    (query index (M,), train index (M,)) int64.

    Candidates spatially closer to the query than the minimum distance are removed first
    (the keypoint itself, its other scales and orientations, its own mirror image): they
    would otherwise be the nearest neighbour and make every real twin fail the ratio test.
    Train index ``i`` and ``i + n_base`` are the same keypoint (direct and mirrored).
    Then for each query the neighbours d_1 <= d_2 <= ... are kept while
    d_i / d_(i+1) < ratio. Descriptors are RootSIFT (unit L2 norm), so d^2 = 2 - 2 <a, b>.
    """
    # Extra neighbours absorb the spatially excluded ones.
    kk = min(cfg.knn + 1 + _EXTRA_NN, len(train))
    if len(query) == 0 or kk < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    qi_all: list[np.ndarray] = []
    ti_all: list[np.ndarray] = []
    for lo in range(0, len(query), _BLOCK):
        part = slice(lo, lo + _BLOCK)
        nb, nv = _top_neighbours(query[part] @ train.T, kk)
        bad = _excluded(nb, qpts[part], qsizes[part], tpts, tsizes, n_base, cfg)
        r, t = _ratio_test(nb, nv, bad, cfg)
        qi_all.append(r + lo)
        ti_all.append(t)
    return np.concatenate(qi_all).astype(np.int64), np.concatenate(ti_all).astype(np.int64)


def mirror_descriptors(desc: np.ndarray) -> np.ndarray:
    """SIFT descriptors (K, 128) of the mirror images of the described patches.

    A SIFT descriptor is a 4x4 grid of 8-bin gradient-orientation histograms in the
    keypoint's frame (row-major grid, bins last). Mirroring the figure left-right reflects
    each patch about its own orientation axis: grid rows swap and a gradient at angle a
    goes to -a. Permuting the bins is exact up to OpenCV's interpolation (about 5 % of the
    descriptor norm) and saves a second SIFT pass over the mirrored figure.
    """
    d = desc.reshape(-1, 4, 4, 8)[:, ::-1, :, :]
    return np.ascontiguousarray(d[..., (-np.arange(8)) % 8].reshape(-1, 128))


def off_mask(pts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """bool (K,): which keypoints (K, 2) float32 (x, y) lie off ``mask`` (bool (h, w), the
    working copy's size), each judged at its rounded location."""
    h, w = mask.shape
    x = np.clip(np.rint(pts[:, 0]).astype(np.int64), 0, w - 1)
    y = np.clip(np.rint(pts[:, 1]).astype(np.int64), 0, h - 1)
    return ~mask[y, x]


def candidate_pairs(
    gray: np.ndarray, cfg: SiftConfig, text: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Matched keypoint pairs of a uint8 (h, w) working copy: endpoints P, Q (M, 2)
    float32, flipped flags (M,) bool, and the number of keypoints kept.

    A flipped pair's patches are mirror images of each other. Keypoints on ``text`` (bool
    (h, w), None: none) are dropped before matching: glyphs, letters and scale bars are
    repeated legitimately, and as nearest neighbours they would also fail the ratio test
    of the real twins around them.
    """
    pts, sizes, desc = root_sift(gray, cfg)
    if text is not None and len(pts):
        keep = off_mask(pts, text)
        pts, sizes, desc = pts[keep], sizes[keep], desc[keep]
    n = len(pts)
    tp, ts, td = pts, sizes, desc
    if cfg.flip and n >= 2:
        # Direct and mirrored twins compete in one ranking, so the ratio test sees both.
        tp, td = np.vstack([pts, pts]), np.vstack([desc, mirror_descriptors(desc)])
        ts = np.concatenate([sizes, sizes])
    qi, ti = g2nn(desc, pts, td, tp, cfg, sizes, ts, n)
    p, q, flipped = pts[qi], tp[ti], ti >= n
    if len(p) == 0:
        return p, q, flipped, n
    # A pair is found from both ends (and a mirrored one from both mirrored detections):
    # keep one per unordered pair of rounded locations.
    a, b = np.round(p).astype(np.int64), np.round(q).astype(np.int64)
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    lo, hi = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    key = np.hstack([lo, hi, flipped[:, None].astype(np.int64)])
    _, first = np.unique(key, axis=0, return_index=True)
    first = np.sort(first)
    return p[first], q[first], flipped[first], n
