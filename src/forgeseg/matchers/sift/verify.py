"""Step 4 of the SIFT matcher: pairs clustered by spatial coherence, each cluster fitted by
sequential RANSAC similarities, and every fit checked for plausibility and on the pixels."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

from forgeseg.config.matchers import SiftConfig
from forgeseg.core.masks import UnionFind
from forgeseg.core.pixels import graphic_share, zncc
from forgeseg.matchers.base import Transform
from forgeseg.matchers.sift.localise import hull_mask, localise

__all__ = ["clusters", "confirm", "plausible", "verify_group"]

# RANSAC rounds per cluster: a cluster may hold a copy and its inverse, or two copies.
_ROUNDS = 3


def clusters(p: np.ndarray, q: np.ndarray, radius: float, min_size: int) -> list[np.ndarray]:
    """Spatially coherent groups of the pairs with endpoints ``p``, ``q`` (M, 2): pair i and
    j are linked when both endpoints of one lie within ``radius`` (Chebyshev) of the
    endpoints of the other, in either order. Returns index arrays (int64) of the groups with
    at least ``min_size`` pairs, largest first (ties: lowest index first)."""
    m = len(p)
    if m < min_size:
        return []
    both = np.concatenate([np.hstack([p, q]), np.hstack([q, p])])
    tree = cKDTree(both)
    links = tree.query_pairs(radius, p=np.inf, output_type="ndarray")
    uf = UnionFind(m)
    for a, b in links % m:
        uf.union(a, b)
    groups = [np.asarray(g, np.int64) for g in uf.groups()]
    groups = [g for g in groups if len(g) >= min_size]
    return sorted(groups, key=len, reverse=True)


def plausible(matrix: np.ndarray, src: np.ndarray, dst: np.ndarray, cfg: SiftConfig) -> bool:
    """Bounded scale and shear, a real displacement, inliers spread in 2-D on both sides.

    ``matrix``: (2, 3) source -> copy; ``src``, ``dst``: (K, 2) inlier points.
    """
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


def _source_graphic(
    gray_full: np.ndarray, src: np.ndarray, pad: np.ndarray, cfg: SiftConfig
) -> float | None:
    """Graphic share over the hull of the source inliers (K, 2) grown by ``pad`` (a
    structuring element); None when their crop is empty."""
    h, w = gray_full.shape
    sx0, sy0 = np.maximum(np.floor(src.min(axis=0)).astype(int) - cfg.check_pad, 0)
    sx1, sy1 = np.minimum(np.ceil(src.max(axis=0)).astype(int) + cfg.check_pad + 1, (w, h))
    src_roi = gray_full[sy0:sy1, sx0:sx1]
    if not src_roi.size:
        return None
    src_check = cv2.dilate(hull_mask(src - (sx0, sy0), src_roi.shape).astype(np.uint8), pad)
    return graphic_share(src_roi[src_check.astype(bool)])


def confirm(
    gray_full: np.ndarray,
    matrix: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    cfg: SiftConfig,
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
    hull = hull_mask(dst - (x0, y0), roi.shape)
    pad = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.check_pad + 1,) * 2)
    check = cv2.dilate(hull.astype(np.uint8), pad).astype(bool) & valid
    corr = zncc(roi[check], warped[check], min_size=9)
    if corr < cfg.min_zncc:
        return None
    # Fine texture (noise, grain) is what a copy shares with its source and a look-alike
    # object rendered or photographed separately does not.
    warped = np.where(valid, warped, roi)
    hp_roi = roi - cv2.GaussianBlur(roi, (0, 0), cfg.hp_sigma)
    hp_warped = warped - cv2.GaussianBlur(warped, (0, 0), cfg.hp_sigma)
    hp_zncc = zncc(hp_roi[check], hp_warped[check], min_size=9)
    if hp_zncc < cfg.min_hp_zncc:
        return None
    graphic = graphic_share(gray_full[y0:y1, x0:x1][check])
    src_graphic = _source_graphic(gray_full, src, pad, cfg)
    if src_graphic is not None:
        graphic = max(graphic, src_graphic)
    if graphic > cfg.max_flat:
        return None
    return corr, hp_zncc, graphic


def _mirror(w: int) -> np.ndarray:
    """(3, 3) matrix of the horizontal mirror x -> w - 1 - x."""
    return np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _fit(
    p: np.ndarray, q: np.ndarray, pairs: np.ndarray, flip: bool, w: int, cfg: SiftConfig
) -> tuple[np.ndarray, np.ndarray] | None:
    """One robust similarity fit to the pairs ``pairs`` (indices into ``p``, ``q``):
    (matrix (2, 3) working scale, inlier flags (2n,) bool over both orders), or None.

    Each pair enters in both orders so a cluster need not be oriented first: the
    transform and its inverse each collect the pairs in their own order.
    """
    src = np.concatenate([p[pairs], q[pairs]]).astype(np.float32)
    dst = np.concatenate([q[pairs], p[pairs]]).astype(np.float32)
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
        return None
    if flip:
        matrix = (_mirror(w) @ np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    return matrix, mask.ravel().astype(bool)


def _checked(
    matrix: np.ndarray,
    ps: np.ndarray,
    qs: np.ndarray,
    flip: bool,
    gray_full: np.ndarray,
    grayf: np.ndarray,
    s: float,
    cfg: SiftConfig,
) -> tuple[np.ndarray, Transform] | None:
    """(mask at working scale, Transform) of a fit whose inliers ``ps`` -> ``qs`` (K, 2,
    working scale) pass the plausibility and pixel checks; None otherwise."""
    if len(ps) < cfg.min_inliers or not plausible(matrix, ps, qs, cfg):
        return None
    full = matrix.copy()
    full[:, 2] /= s
    checked = confirm(gray_full, full, ps / s, qs / s, cfg)
    if checked is None:
        return None
    corr, hp_zncc, graphic = checked
    region = localise(grayf, matrix, ps, qs, cfg)
    tr = Transform(
        matrix=full,
        support=len(ps),
        zncc=corr,
        hp_zncc=hp_zncc,
        graphic=graphic,
        flipped=flip,
        src_points=(ps / s).astype(np.float32),
        dst_points=(qs / s).astype(np.float32),
    )
    return region, tr


def verify_group(
    p: np.ndarray,
    q: np.ndarray,
    idx: np.ndarray,
    flip: bool,
    gray_full: np.ndarray,
    grayf: np.ndarray,
    s: float,
    cfg: SiftConfig,
    found: list[tuple[np.ndarray, Transform]],
) -> None:
    """Sequential robust similarity fits on one cluster of pairs; appends verified
    (mask (h, w) bool at working scale, Transform) to ``found``.

    p, q: (M, 2) working-scale pair endpoints; idx: the cluster's pair indices;
    gray_full: uint8 (H, W) full-size figure; grayf: float32 (h, w) working copy; s: its
    scale.
    """
    w = grayf.shape[1]
    remaining = idx
    for _ in range(_ROUNDS):
        if len(remaining) < cfg.min_inliers:
            return
        fit = _fit(p, q, remaining, flip, w, cfg)
        if fit is None:
            return
        matrix, mask = fit
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
        checked = _checked(matrix, ps, qs, flip, gray_full, grayf, s, cfg)
        if checked is not None:
            found.append(checked)
