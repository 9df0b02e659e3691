"""Copy-move detection by SIFT self-matching with geometric verification.

The method of every top Kaggle entry (``../shared/METHODS.md`` section 2):

1. Work on a copy whose long side is at most ``max_side`` (tiny figures are upscaled so SIFT
   sees some structure); results are mapped back to full resolution.
2. RootSIFT keypoints, matched against the figure itself (k-NN, the trivial self match
   excluded) and against the horizontally mirrored figure (mirrored copies); the generalised
   ratio test (g2NN) keeps every neighbour that is clearly closer than the next one, so an
   object pasted several times keeps all its twins while look-alike bands and cells, whose
   neighbours are all about as far, are dropped.
3. Pairs closer than ``min_distance`` (or a few keypoint scales) are dropped: they are the
   same structure seen twice, not a copy.
4. Pairs are clustered by spatial coherence (both endpoints near those of another pair) and
   each cluster is verified by a RANSAC similarity fit (rotation, uniform scale,
   translation; mirrored pairs are fitted mirrored) with at least ``min_inliers`` inliers.
   A similarity rather than a full affine: forged copies are flipped, rotated and scaled,
   and its 2-point samples stay well constrained on the small clusters (5-20 pairs) that
   small pasted bands and cells give. (OpenCV offers MAGSAC++ only for the full affine.)
   A transform survives only if it is plausible (bounded scale, a real displacement,
   inliers spread in 2-D) and if the pixels agree: the source region mapped by the
   transform must correlate with the destination (ZNCC >= ``min_zncc``), and so must its
   fine texture (``min_hp_zncc``), which two independently rendered or photographed
   look-alike cells do not share. Regions dominated by flat or saturated pixels (text,
   tick labels, scale bars: legitimately identical pixels) are rejected (``max_flat``).
5. Each transform's destination region is grown by a local ZNCC map (image vs. image
   warped by the transform) near the inliers, its source is the preimage, and the
   instance is their union. Instances that overlap (one object pasted several times) are
   merged so that a source and all its copies form one channel.

The detector says nothing unless the evidence is strong: any mask on an authentic figure
scores 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy.spatial import cKDTree

from forgeseg.core.config import from_mapping
from forgeseg.core.errors import ParamsError
from forgeseg.core.imageio import to_gray
from forgeseg.decision.instances import fill_holes, filter_small, group_overlapping

__all__ = ["KeypointConfig", "KeypointResult", "Transform", "assemble_result", "detect"]

# Query rows per block of the descriptor similarity matrix: bounds its memory to a few MB.
_BLOCK = 512
# Grey levels this close to 0 or 255 count as saturated (drawn text, bars, clipped pixels).
_SATURATED = 5
# Neighbours fetched beyond ``knn + 1`` to make room for the spatially excluded ones.
_EXTRA_NN = 8


@dataclass(frozen=True)
class KeypointConfig:
    """Settings of :func:`detect`. Distances are in pixels of the working copy."""

    max_side: int = 1280  # long side of the working copy (larger figures are downscaled)
    min_side: int = 512  # figures whose long side is smaller are upscaled to this
    n_features: int = 5000  # SIFT keypoint cap
    contrast_threshold: float = 0.015  # low: blots and gels have faint, low-texture bands
    edge_threshold: float = 10.0
    knn: int = 6  # neighbours examined per keypoint by the g2NN test
    ratio: float = 0.75  # g2NN: keep neighbour i while d_i / d_(i+1) < ratio
    flip: bool = True  # also match against the mirrored figure
    min_distance: float = 12.0  # matched points closer than this are the same structure
    min_distance_scales: float = 2.0  # ... or closer than this many keypoint sizes
    cluster_radius: float = 0.06  # link radius of pair clustering, share of the long side
    min_inliers: int = 5  # RANSAC inliers (distinct pairs) a transform needs
    ransac_threshold: float = 3.0  # reprojection error of an inlier
    max_transforms: int = 12  # verified transforms kept per figure
    min_scale: float = 0.4  # singular values of the linear part must lie within these
    max_scale: float = 2.5
    max_anisotropy: float = 1.6  # ratio of singular values (a similarity has 1)
    min_spread: float = 4.0  # inliers' smallest standard deviation along an axis (px)
    min_zncc: float = 0.75  # correlation of the source region and its mapped copy
    min_hp_zncc: float = 0.3  # ... of their fine texture (image minus its blur)
    hp_sigma: float = 2.0  # blur removed before the fine-texture correlation
    check_pad: int = 6  # the correlations are taken over the inliers' hull grown by this
    max_flat: float = 0.15  # largest share of flat or saturated pixels (text, bars)
    local_window: int = 7  # window of the local ZNCC map that grows regions
    local_zncc: float = 0.6  # local correlation a grown pixel needs
    min_std: float = 2.0  # local grey-level std below which a pixel is flat
    grow_margin: float = 0.35  # growth allowed beyond the inliers' hull, share of its size
    min_area: int = 64  # smallest instance kept, in full-resolution pixels
    merge_overlap: float = 0.2  # overlap share at which instances merge
    seed: int = 0  # RANSAC sampling seed

    def __post_init__(self) -> None:
        ints_ge = {
            "max_side": 32,
            "min_side": 16,
            "n_features": 16,
            "knn": 1,
            "min_inliers": 4,
            "max_transforms": 1,
            "local_window": 3,
            "min_area": 0,
            "check_pad": 0,
        }
        for name, lo in ints_ge.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ParamsError(f"keypoints.{name} must be an integer >= {lo}; got {v!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ParamsError(f"keypoints.seed must be an integer; got {self.seed!r}")
        if not isinstance(self.flip, bool):
            raise ParamsError(f"keypoints.flip must be true or false; got {self.flip!r}")
        unit = ("ratio", "cluster_radius", "max_flat", "merge_overlap")
        for name in unit:
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not 0.0 < v <= 1.0:
                raise ParamsError(f"keypoints.{name} must be a number in (0, 1]; got {v!r}")
        corr = ("min_zncc", "min_hp_zncc", "local_zncc")
        for name in corr:
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or not -1.0 <= v <= 1.0:
                raise ParamsError(f"keypoints.{name} must be a number in [-1, 1]; got {v!r}")
        nonneg = (
            "contrast_threshold",
            "edge_threshold",
            "min_distance",
            "min_distance_scales",
            "ransac_threshold",
            "min_spread",
            "min_std",
            "grow_margin",
            "hp_sigma",
        )
        for name in nonneg:
            v = getattr(self, name)
            if not isinstance(v, int | float) or isinstance(v, bool) or v < 0:
                raise ParamsError(f"keypoints.{name} must be a number >= 0; got {v!r}")
        if not 0 < self.min_scale <= 1 <= self.max_scale:
            raise ParamsError(
                f"keypoints needs 0 < min_scale <= 1 <= max_scale; got {self.min_scale}, "
                f"{self.max_scale}"
            )
        if self.max_anisotropy < 1:
            raise ParamsError(f"keypoints.max_anisotropy must be >= 1; got {self.max_anisotropy}")
        if self.min_side > self.max_side:
            raise ParamsError(
                f"keypoints.min_side ({self.min_side}) exceeds max_side ({self.max_side})"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> KeypointConfig:
        """Build from a params mapping; unknown keys or bad values raise ``ParamsError``."""
        return from_mapping(cls, data, "keypoints")


@dataclass
class Transform:
    """One verified copy: ``matrix`` (2, 3) float64 maps source to copy, full-resolution
    pixel coordinates (x, y); ``inliers`` matched pairs agree with it; ``zncc`` is the
    correlation of the source region with its mapped copy, ``hp_zncc`` that of their fine
    texture; ``graphic`` the share of flat or saturated pixels around the inliers;
    ``flipped`` when mirrored."""

    matrix: np.ndarray
    inliers: int
    zncc: float
    hp_zncc: float
    graphic: float
    flipped: bool
    src_points: np.ndarray  # (K, 2) float32 inlier source points, full resolution
    dst_points: np.ndarray  # (K, 2) float32 inlier copy points, full resolution
    # Fine residual of copy minus mapped source over twice the figure's own grain: near 0
    # for a copy (it carries its source's grain), about 1 for an independent look-alike.
    # NaN where it was not measured (SIFT, or a figure without grain).
    residual: float = float("nan")


@dataclass
class KeypointResult:
    """What :func:`detect` found in one figure.

    Attributes:
        instances: bool (N, H, W), one channel per source plus its copies; N == 0: nothing.
        inliers: verified inliers per instance (summed over the instance's transforms).
        n_matches: candidate pairs after the ratio and distance tests, before verification.
        score: image-level evidence, the largest ``inliers`` (0.0 when N == 0).
        transforms: per instance, the verified transforms merged into it.
        n_keypoints: SIFT keypoints found in the working copy.
        scale: working copy size / full size.
    """

    instances: np.ndarray
    inliers: list[int]
    n_matches: int
    score: float
    transforms: list[list[Transform]] = field(default_factory=list)
    n_keypoints: int = 0
    scale: float = 1.0


def _sift(gray: np.ndarray, cfg: KeypointConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RootSIFT of ``gray``: points (K,2) float32, sizes (K,) float32, descriptors (K,128)."""
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


def _g2nn(
    query: np.ndarray,
    qpts: np.ndarray,
    train: np.ndarray,
    tpts: np.ndarray,
    cfg: KeypointConfig,
    qsizes: np.ndarray,
    tsizes: np.ndarray,
    n_base: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalised 2-NN matches from ``query`` to ``train`` descriptors: (qi, ti) int arrays.

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
        sim = query[lo : lo + _BLOCK] @ train.T
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
        # Drop spatial neighbours, then compact each row so valid neighbours come first.
        qp = qpts[lo : lo + _BLOCK]
        tp = tpts[np.maximum(nb, 0)]
        d2 = ((tp - qp[:, None, :]) ** 2).sum(axis=2)
        near = np.maximum(
            cfg.min_distance,
            cfg.min_distance_scales
            * np.maximum(qsizes[lo : lo + _BLOCK, None], tsizes[np.maximum(nb, 0)]),
        )
        bad = (nb < 0) | (d2 < near * near)
        # A keypoint and its mirror image are one physical twin: only the nearer one
        # counts, or a roughly symmetric twin would fail the ratio test against itself.
        phys = nb % n_base
        for j in range(1, kk):
            bad[:, j] |= (phys[:, j : j + 1] == phys[:, :j]).any(axis=1)
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
        qi_all.append(r + lo)
        ti_all.append(nb[r, c])
    return np.concatenate(qi_all).astype(np.int64), np.concatenate(ti_all).astype(np.int64)


def _mirror_descriptors(desc: np.ndarray) -> np.ndarray:
    """SIFT descriptors (K, 128) of the mirror images of the described patches.

    A SIFT descriptor is a 4x4 grid of 8-bin gradient-orientation histograms in the
    keypoint's frame (row-major grid, bins last). Mirroring the figure left-right reflects
    each patch about its own orientation axis: grid rows swap and a gradient at angle a
    goes to -a. Permuting the bins is exact up to OpenCV's interpolation (about 5 % of the
    descriptor norm) and saves a second SIFT pass over the mirrored figure.
    """
    d = desc.reshape(-1, 4, 4, 8)[:, ::-1, :, :]
    return np.ascontiguousarray(d[..., (-np.arange(8)) % 8].reshape(-1, 128))


def _candidate_pairs(
    gray: np.ndarray, cfg: KeypointConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Matched point pairs (P, Q) (M,2) float32, flipped flags (M,) bool, keypoint count.

    A flipped pair's patches are mirror images of each other.
    """
    pts, sizes, desc = _sift(gray, cfg)
    n = len(pts)
    tp, ts, td = pts, sizes, desc
    if cfg.flip and n >= 2:
        # Direct and mirrored twins compete in one ranking, so the ratio test sees both.
        tp, td = np.vstack([pts, pts]), np.vstack([desc, _mirror_descriptors(desc)])
        ts = np.concatenate([sizes, sizes])
    qi, ti = _g2nn(desc, pts, td, tp, cfg, sizes, ts, n)
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


def _clusters(p: np.ndarray, q: np.ndarray, radius: float, min_size: int) -> list[np.ndarray]:
    """Spatially coherent groups of pairs: pair i and j are linked when both endpoints of
    one lie within ``radius`` (Chebyshev) of the endpoints of the other, in either order.
    Returns index arrays of groups with at least ``min_size`` pairs, largest first."""
    m = len(p)
    if m < min_size:
        return []
    both = np.concatenate([np.hstack([p, q]), np.hstack([q, p])])
    tree = cKDTree(both)
    links = tree.query_pairs(radius, p=np.inf, output_type="ndarray")
    parent = np.arange(m)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    for a, b in links % m:
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(m)])
    groups = [np.nonzero(roots == r)[0] for r in np.unique(roots)]
    groups = [g for g in groups if len(g) >= min_size]
    return sorted(groups, key=len, reverse=True)


def _plausible(matrix: np.ndarray, src: np.ndarray, dst: np.ndarray, cfg: KeypointConfig) -> bool:
    """Bounded scale and shear, a real displacement, inliers spread in 2-D on both sides."""
    sv = np.linalg.svd(matrix[:, :2], compute_uv=False)
    if not (cfg.min_scale <= sv[1] and sv[0] <= cfg.max_scale):
        return False
    if sv[0] > cfg.max_anisotropy * max(sv[1], 1e-9):
        return False
    if float(np.median(np.linalg.norm(dst - src, axis=1))) < cfg.min_distance:
        return False
    for pts in (src, dst):
        # Smallest principal spread: collinear inliers (a row of tick labels) are rejected.
        ev = np.linalg.eigvalsh(np.cov(pts.T.astype(np.float64)))
        if float(np.sqrt(max(ev[0], 0.0))) < cfg.min_spread:
            return False
    return True


def _hull_mask(pts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    hull = cv2.convexHull(np.round(pts).astype(np.int32).reshape(-1, 1, 2))
    cv2.fillConvexPoly(m, hull, 1)
    return m.astype(bool)


def _local_stats(a: np.ndarray, b: np.ndarray, win: int) -> tuple[np.ndarray, np.ndarray]:
    """Local ZNCC of float32 maps a and b over ``win`` x ``win`` windows, and the local std
    of a; both (H, W) float32."""
    k = (win, win)
    ma = cv2.blur(a, k)
    mb = cv2.blur(b, k)
    va = np.maximum(cv2.blur(a * a, k) - ma * ma, 0.0)
    vb = np.maximum(cv2.blur(b * b, k) - mb * mb, 0.0)
    cov = cv2.blur(a * b, k) - ma * mb
    corr = cov / np.sqrt(va * vb + 1e-6)
    return corr, np.sqrt(va)


def _region_zncc(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    x = a[region].astype(np.float64)
    y = b[region].astype(np.float64)
    if x.size < 9:
        return 0.0
    x -= x.mean()
    y -= y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 1e-6 else 0.0


def _graphic_share(gray: np.ndarray, region: np.ndarray) -> float:
    """Share of the region's pixels that are its most common grey value or saturated.

    Text, tick labels and scale bars are drawn in one flat colour (often pure black or
    white) on a flat background; photographed, scanned or rendered-with-noise content is
    neither.
    """
    vals = gray[region].ravel()
    if vals.size == 0:
        return 1.0
    hist = np.bincount(vals, minlength=256)
    mode = int(hist.argmax())
    sat = hist[:_SATURATED].sum() + hist[256 - _SATURATED :].sum()
    # The mode may itself be saturated: do not count it twice.
    if mode < _SATURATED or mode >= 256 - _SATURATED:
        return float(sat / vals.size)
    return float((hist[mode] + sat) / vals.size)


def _confirm(
    gray_full: np.ndarray,
    matrix: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    cfg: KeypointConfig,
) -> tuple[float, float, float] | None:
    """Check a transform on the figure's own pixels: (ZNCC, fine-texture ZNCC, graphic share)
    or None when the pixels do not confirm a copy.

    Done at full resolution, on crops around the inliers: resampling to the working size
    smooths the grain a copy shares with its source and blurs flat text into gradients.

    Args:
        gray_full: uint8 (H, W) figure. matrix: (2, 3) source -> copy, full resolution.
        src, dst: (K, 2) inlier points, full resolution.
    """
    h, w = gray_full.shape
    margin = cfg.check_pad + int(np.ceil(3 * cfg.hp_sigma)) + 1
    x0, y0 = np.maximum(np.floor(dst.min(axis=0)).astype(int) - margin, 0)
    x1, y1 = np.minimum(np.ceil(dst.max(axis=0)).astype(int) + margin + 1, (w, h))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    roi = gray_full[y0:y1, x0:x1].astype(np.float32)
    shifted = matrix.astype(np.float64).copy()
    shifted[:, 2] -= (x0, y0)
    # warped(x) = gray(T^-1 x): over the copy lies the source mapped onto it.
    warped = cv2.warpAffine(
        gray_full.astype(np.float32),
        shifted,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=-1.0,
    )
    valid = warped >= 0
    hull = _hull_mask(dst - (x0, y0), roi.shape)
    pad = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.check_pad + 1,) * 2)
    check = cv2.dilate(hull.astype(np.uint8), pad).astype(bool) & valid
    zncc = _region_zncc(roi, warped, check)
    if zncc < cfg.min_zncc:
        return None
    # Fine texture (noise, grain) is what a copy shares with its source and a look-alike
    # object rendered or photographed separately does not.
    warped = np.where(valid, warped, roi)
    hp_roi = roi - cv2.GaussianBlur(roi, (0, 0), cfg.hp_sigma)
    hp_warped = warped - cv2.GaussianBlur(warped, (0, 0), cfg.hp_sigma)
    hp_zncc = _region_zncc(hp_roi, hp_warped, check)
    if hp_zncc < cfg.min_hp_zncc:
        return None
    graphic = _graphic_share(gray_full[y0:y1, x0:x1], check)
    sx0, sy0 = np.maximum(np.floor(src.min(axis=0)).astype(int) - cfg.check_pad, 0)
    sx1, sy1 = np.minimum(np.ceil(src.max(axis=0)).astype(int) + cfg.check_pad + 1, (w, h))
    src_roi = gray_full[sy0:sy1, sx0:sx1]
    if src_roi.size:
        src_check = cv2.dilate(_hull_mask(src - (sx0, sy0), src_roi.shape).astype(np.uint8), pad)
        graphic = max(graphic, _graphic_share(src_roi, src_check.astype(bool)))
    if graphic > cfg.max_flat:
        return None
    return zncc, hp_zncc, graphic


def _localise(
    grayf: np.ndarray,
    matrix: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    cfg: KeypointConfig,
) -> np.ndarray:
    """Source+copy mask (H, W) bool at working scale.

    Args:
        grayf: float32 (H, W) working copy. matrix: (2, 3) source -> copy, working scale.
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
    hull_dst = _hull_mask(dst, (h, w))
    hull_src = _hull_mask(src, (h, w))
    corr, std = _local_stats(
        grayf, np.where(valid, warped, 0.0).astype(np.float32), cfg.local_window
    )
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


def _working_scale(h: int, w: int, cfg: KeypointConfig) -> float:
    long_side = max(h, w)
    if long_side > cfg.max_side:
        return cfg.max_side / long_side
    if long_side < cfg.min_side:
        return cfg.min_side / long_side
    return 1.0


def detect(image: np.ndarray, cfg: KeypointConfig | None = None) -> KeypointResult:
    """Find copy-moved regions in one figure.

    Args:
        image: uint8 RGB (H, W, 3) (gray (H, W) also accepted).
        cfg: settings; defaults when None.

    Returns:
        :class:`KeypointResult` with ``instances`` bool (N, H, W) at the figure's full size.
    """
    cfg = cfg or KeypointConfig()
    gray_full = to_gray(image)
    H, W = gray_full.shape
    empty = KeypointResult(np.zeros((0, H, W), bool), [], 0, 0.0)
    if H < 8 or W < 8:
        return empty
    s = _working_scale(H, W, cfg)
    if s != 1.0:
        size = (max(1, round(W * s)), max(1, round(H * s)))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
        gray = cv2.resize(gray_full, size, interpolation=interp)
    else:
        gray = gray_full
    h, w = gray.shape
    p, q, flipped, n_kp = _candidate_pairs(gray, cfg)
    empty.n_matches, empty.n_keypoints, empty.scale = len(p), n_kp, s
    if len(p) < cfg.min_inliers:
        return empty

    grayf = gray.astype(np.float32)
    radius = cfg.cluster_radius * max(h, w)
    found: list[tuple[np.ndarray, Transform]] = []
    for group in _clusters(p, q, radius, cfg.min_inliers):
        # Mirrored and direct matches never share one transform; verify them apart.
        for flip in (False, True):
            idx = group[flipped[group] == flip]
            _verify_group(p, q, idx, flip, gray_full, grayf, s, cfg, found)
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
        support=sum,  # merged transforms are distinct copies: their inliers add up
        n_matches=len(p),
        n_keypoints=n_kp,
        scale=s,
    )


def assemble_result(
    found: Sequence[tuple[np.ndarray, Transform]],
    shape: tuple[int, int],
    *,
    merge_overlap: float,
    min_area: int,
    support: Callable[[Iterable[int]], int],
    n_matches: int,
    n_keypoints: int,
    scale: float,
) -> KeypointResult:
    """Verified (mask, transform) pairs -> one instance per group of overlapping masks.

    Masks may be on a working copy smaller than the figure; they are brought to ``shape``
    (H, W). Instances under ``min_area`` pixels are dropped with their transforms.
    ``support`` turns the inlier counts of an instance's transforms into its one count.
    """
    masks = np.stack([m for m, _ in found])
    groups = group_overlapping(masks, merge_overlap)
    inst = np.stack([masks[g].any(axis=0) for g in groups])
    if inst.shape[1:] != tuple(shape):
        h, w = shape
        up = inst.astype(np.uint8)
        inst = np.stack([cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) for m in up])
        inst = inst.astype(bool)
    areas = inst.reshape(len(inst), -1).sum(axis=1)
    keep = [i for i in range(len(groups)) if areas[i] >= min_area]
    inst = filter_small(inst, min_area)
    trs = [[found[j][1] for j in groups[i]] for i in keep]
    inliers = [int(support(t.inliers for t in tr)) for tr in trs]
    return KeypointResult(
        instances=inst,
        inliers=inliers,
        n_matches=n_matches,
        score=float(max(inliers, default=0)),
        transforms=trs,
        n_keypoints=n_keypoints,
        scale=scale,
    )


def _mirror(w: int) -> np.ndarray:
    """(3, 3) matrix of the horizontal mirror x -> w - 1 - x."""
    return np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _verify_group(
    p: np.ndarray,
    q: np.ndarray,
    idx: np.ndarray,
    flip: bool,
    gray_full: np.ndarray,
    grayf: np.ndarray,
    s: float,
    cfg: KeypointConfig,
    found: list[tuple[np.ndarray, Transform]],
) -> None:
    """Sequential robust similarity fits on one cluster of pairs; appends verified
    (mask at working scale, Transform).

    p, q: (M, 2) working-scale pair endpoints; idx: the cluster's pair indices;
    gray_full: uint8 (H, W) full-size figure; grayf: float32 working copy; s: its scale.
    """
    w = grayf.shape[1]
    mirror = _mirror(w)
    # Each pair enters in both orders so a cluster need not be oriented first: the
    # transform and its inverse each collect the pairs in their own order.
    remaining = idx
    for _ in range(3):
        if len(remaining) < cfg.min_inliers:
            return
        src = np.concatenate([p[remaining], q[remaining]]).astype(np.float32)
        dst = np.concatenate([q[remaining], p[remaining]]).astype(np.float32)
        if flip:
            # Mirrored copies: fit a similarity to the mirrored destination, then compose.
            dst = dst.copy()
            dst[:, 0] = (w - 1) - dst[:, 0]
        cv2.setRNGSeed(cfg.seed)  # RANSAC sampling draws from OpenCV's global RNG
        matrix, mask = cv2.estimateAffinePartial2D(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=cfg.ransac_threshold,
            maxIters=2000,
            confidence=0.999,
            refineIters=10,
        )
        if matrix is None or mask is None:
            return
        if flip:
            matrix = (mirror @ np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
        mask = mask.ravel().astype(bool)
        n = len(remaining)
        used = mask[:n] | mask[n:]
        if int(used.sum()) < cfg.min_inliers:
            return
        # Keep the orientation with more inliers; count distinct pairs.
        fwd = mask[:n].sum() >= mask[n:].sum()
        sel = mask[:n] if fwd else mask[n:]
        ps = (p if fwd else q)[remaining[sel]]
        qs = (q if fwd else p)[remaining[sel]]
        remaining = remaining[~used]
        if len(ps) < cfg.min_inliers or not _plausible(matrix, ps, qs, cfg):
            continue
        full = matrix.copy()
        full[:, 2] /= s
        checked = _confirm(gray_full, full, ps / s, qs / s, cfg)
        if checked is None:
            continue
        zncc, hp_zncc, graphic = checked
        region = _localise(grayf, matrix, ps, qs, cfg)
        found.append(
            (
                region,
                Transform(
                    matrix=full,
                    inliers=len(ps),
                    zncc=zncc,
                    hp_zncc=hp_zncc,
                    graphic=graphic,
                    flipped=flip,
                    src_points=(ps / s).astype(np.float32),
                    dst_points=(qs / s).astype(np.float32),
                ),
            )
        )
