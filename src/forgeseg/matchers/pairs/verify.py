"""Is a panel a reuse of another? A robust fit of the matches, then the pixels decide.

1. An affine transform from panel a to panel b is fitted to the matched keypoints by
   MAGSAC++ (``cv2.USAC_MAGSAC``), which needs no hand-set inlier threshold to be right:
   it marginalises over it. A reuse is rotated, mirrored (a negative determinant: the
   matches came from the mirrored pose), rescaled or cropped, so a full affine covers it.
2. It must be plausible: at least ``min_inliers`` distinct inliers (4th place: 20), a
   scale within 0.5-2 on each axis and little shear, and inliers spread in 2-D over the
   shared region rather than on a line or in one corner.
3. The pixels must agree: panel a warped onto panel b must correlate with it over their
   shared region (ZNCC), most of the region's textured pixels must agree locally, and the
   region must not be mostly flat or saturated. Two distinct panels with the same letter
   and scale bar in the same corner give many consistent matches on those glyphs, but
   their pixels agree only there: a small share of the shared region.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forgeseg.config.matchers import PairsConfig
from forgeseg.core.pixels import graphic_share, local_zncc, zncc

__all__ = ["Verified", "fit", "verify_pair"]

_MAX_ITERS = 2000
_CONFIDENCE = 0.999


@dataclass(frozen=True)
class Verified:
    """A verified reuse of panel a in panel b.

    Attributes:
        matrix: (2, 3) float64, panel a's pixels (x, y) -> panel b's, full resolution.
        src, dst: (K, 2) float32 the inliers in panel a and panel b.
        zncc: correlation of panel b's shared region with panel a mapped onto it.
        hp_zncc: the same for their fine texture (image minus its blur).
        agree: share of the region's textured pixels whose local correlation agrees.
        graphic: share of flat or saturated pixels in the region.
    """

    matrix: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    zncc: float
    hp_zncc: float
    agree: float
    graphic: float

    @property
    def flipped(self) -> bool:
        return float(np.linalg.det(self.matrix[:, :2])) < 0


def fit(
    pa: np.ndarray, pb: np.ndarray, threshold: float, cfg: PairsConfig
) -> tuple[np.ndarray, np.ndarray] | None:
    """MAGSAC++ affine from (K, 2) points ``pa`` to ``pb``: (matrix (2, 3) float64, inlier
    flags (K,) bool), or None without a plausible fit of ``cfg.min_inliers`` distinct
    inliers."""
    if len(pa) < max(cfg.min_inliers, 3):
        return None
    m, inl = cv2.estimateAffine2D(
        pa.astype(np.float32),
        pb.astype(np.float32),
        method=cv2.USAC_MAGSAC,
        ransacReprojThreshold=threshold,
        maxIters=_MAX_ITERS,
        confidence=_CONFIDENCE,
    )
    if m is None or inl is None:
        return None
    inl = inl.ravel().astype(bool)
    # Several keypoints at one location (SIFT's orientations) count once.
    distinct = len(np.unique(np.round(pa[inl]).astype(np.int64), axis=0))
    if distinct < cfg.min_inliers or not _plausible(m, cfg):
        return None
    return m.astype(np.float64), inl


def _plausible(m: np.ndarray, cfg: PairsConfig) -> bool:
    sv = np.linalg.svd(m[:, :2], compute_uv=False)
    if not (cfg.min_scale <= sv[1] and sv[0] <= cfg.max_scale):
        return False
    return bool(sv[0] <= cfg.max_anisotropy * sv[1])


def _spread_ok(dst: np.ndarray, region: np.ndarray, scale: float, cfg: PairsConfig) -> bool:
    """The inliers' smallest spread (std along their minor axis) against the region's size."""
    area = float(region.sum()) / (scale * scale)
    if area <= 0 or len(dst) < 3:
        return False
    minor = float(np.sqrt(max(np.linalg.eigvalsh(np.cov(dst.T.astype(np.float64)))[0], 0.0)))
    return minor >= cfg.min_spread * np.sqrt(area)


def _resize(gray: np.ndarray, s: float) -> np.ndarray:
    if s == 1.0:
        return gray
    h, w = gray.shape
    size = (max(2, round(w * s)), max(2, round(h * s)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def _scale(gray: np.ndarray, cfg: PairsConfig) -> float:
    return min(1.0, cfg.max_side / max(gray.shape))


def _pixels(
    m: np.ndarray,
    gray_a: np.ndarray,
    gray_b: np.ndarray,
    text_a: np.ndarray,
    text_b: np.ndarray,
    cfg: PairsConfig,
) -> tuple[np.ndarray, float, tuple[float, float, float, float]]:
    """Panel a warped onto panel b, compared at a working scale: (shared region (h, w)
    bool of b's working copy, that scale, (zncc, hp_zncc, agree, graphic))."""
    sa, sb = _scale(gray_a, cfg), _scale(gray_b, cfg)
    a, b = _resize(gray_a, sa), _resize(gray_b, sb)
    # Working a -> full a -> full b -> working b.
    mw = m.copy()
    mw[:, :2] = sb * m[:, :2] / sa
    mw[:, 2] = sb * m[:, 2]
    h, w = b.shape
    warped = cv2.warpAffine(a.astype(np.float32), mw, (w, h), flags=cv2.INTER_LINEAR)
    ones = np.full(a.shape, 255, np.uint8)
    region = cv2.warpAffine(ones, mw, (w, h), flags=cv2.INTER_NEAREST) > 0
    # Glyphs are legitimately alike on both sides: compare what lies outside them.
    glyphs = _resize(text_b.astype(np.uint8) * 255, sb) > 0
    glyphs |= cv2.warpAffine(text_a.astype(np.uint8) * 255, mw, (w, h)) > 0
    region &= ~cv2.dilate(glyphs.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    region = cv2.erode(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if region.sum() < 16:
        return region, sb, (0.0, 0.0, 0.0, 1.0)
    bf = b.astype(np.float32)
    corr = zncc(warped[region], bf[region])
    k = (0, 0)
    hp_a = warped - cv2.GaussianBlur(warped, k, cfg.hp_sigma)
    hp_b = bf - cv2.GaussianBlur(bf, k, cfg.hp_sigma)
    hp = zncc(hp_a[region], hp_b[region])
    local, std_b = local_zncc(bf, warped, cfg.local_window)
    textured = region & (std_b >= cfg.min_std)
    agree = float((local[textured] >= cfg.local_zncc).mean()) if textured.any() else 0.0
    return region, sb, (corr, hp, agree, graphic_share(b[region]))


def verify_pair(
    pa: np.ndarray,
    pb: np.ndarray,
    gray_a: np.ndarray,
    gray_b: np.ndarray,
    text_a: np.ndarray,
    text_b: np.ndarray,
    threshold: float,
    cfg: PairsConfig,
) -> Verified | None:
    """Verify the matches (K, 2) ``pa`` in uint8 (ha, wa) panel a -> ``pb`` in (hb, wb)
    panel b (full-resolution panel pixels) as one reuse, or None.

    ``text_a``, ``text_b`` are bool masks of each panel's text, letters and scale bars
    (all False when unknown); ``threshold`` is MAGSAC++'s reprojection error in panel b's
    pixels.
    """
    fitted = fit(pa, pb, threshold, cfg)
    if fitted is None:
        return None
    m, inl = fitted
    region, sb, (corr, hp, agree, graphic) = _pixels(m, gray_a, gray_b, text_a, text_b, cfg)
    if not _spread_ok(pb[inl], region, sb, cfg):
        return None
    if corr < cfg.min_zncc or agree < cfg.min_agree or graphic > cfg.max_flat:
        return None
    return Verified(
        m, pa[inl].astype(np.float32), pb[inl].astype(np.float32), corr, hp, agree, graphic
    )
