"""Is a panel a reuse of another? A robust fit of the matches, then the pixels decide.

1. An affine transform from panel a to panel b is fitted to the matched keypoints by
   MAGSAC++ (``cv2.USAC_MAGSAC``), which needs no hand-set inlier threshold to be right:
   it marginalises over it. A reuse is rotated, mirrored (a negative determinant: the
   matches came from the mirrored pose), rescaled or cropped, so a full affine covers it.
2. It must be plausible: at least ``min_inliers`` distinct inliers (4th place: 20), a
   scale within 0.5-2 on each axis and little shear, and inliers spread in 2-D over the
   shared region rather than on a line or in one corner.
3. The pixels must agree. Where most textured pixels of the overlap (panel a warped onto
   panel b) agree locally, the overlap is the shared region: a reused panel, overlapping
   fields of view. Otherwise the shared region is the part that agrees and holds the
   inliers (a pasted part, a lane); it must cover ``min_region_share`` of the smaller
   panel and ``min_region_px``, hold ``min_inside`` of the inliers, and must not sit at
   the same corner of both panels unturned and unscaled: two distinct panels with the
   same letter and scale bar there agree only on those glyphs. Either way the region must
   correlate (ZNCC), most of its textured pixels must agree, and it must not be mostly
   flat or saturated.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forgeseg.config.matchers import PairsConfig
from forgeseg.core.masks import fill_holes
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
        region: bool (h, w), the shared content on panel b's working copy: where panel a
            mapped onto b agrees with it and holds inliers.
        whole: the whole overlap agrees (a reused panel, overlapping fields of view), not
            only a part of it (a pasted part, a lane).
    """

    matrix: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    zncc: float
    hp_zncc: float
    agree: float
    graphic: float
    region: np.ndarray
    whole: bool

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


def _spread_ok(pts: np.ndarray, region: np.ndarray, cfg: PairsConfig) -> bool:
    """The inliers (K, 2), working px, spread in 2-D over the region: their std along their
    minor axis is at least ``min_spread`` of the region's own (a lane strip is narrow, so
    the region, not a square of its area, is the measure)."""
    ys, xs = np.nonzero(region)
    if len(pts) < 3 or len(xs) < 3:
        return False
    minor_pts = np.linalg.eigvalsh(np.cov(pts.T.astype(np.float64)))[0]
    minor_region = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(np.float64)))[0]
    return float(np.sqrt(max(minor_pts, 0.0))) >= cfg.min_spread * np.sqrt(max(minor_region, 1.0))


def _resize(gray: np.ndarray, s: float) -> np.ndarray:
    if s == 1.0:
        return gray
    h, w = gray.shape
    size = (max(2, round(w * s)), max(2, round(h * s)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def _scale(gray: np.ndarray, cfg: PairsConfig) -> float:
    return min(1.0, cfg.max_side / max(gray.shape))


@dataclass(frozen=True)
class _Compared:
    """Panel a warped onto panel b's working copy (h, w), scale ``scale`` of panel b.

    ``overlap``: bool, where panel a lands, glyphs excluded; ``warped``, ``b``: float32
    grey; ``local``: their local ZNCC; ``textured``: bool, b's local std >= ``min_std``.
    """

    overlap: np.ndarray
    warped: np.ndarray
    b: np.ndarray
    local: np.ndarray
    textured: np.ndarray
    scale: float


def _compare(
    m: np.ndarray,
    gray_a: np.ndarray,
    gray_b: np.ndarray,
    text_a: np.ndarray,
    text_b: np.ndarray,
    cfg: PairsConfig,
) -> _Compared:
    """Panel a warped onto panel b by ``m`` (full-resolution panel pixels), at a working
    scale of each."""
    sa, sb = _scale(gray_a, cfg), _scale(gray_b, cfg)
    a, b = _resize(gray_a, sa), _resize(gray_b, sb)
    # Working a -> full a -> full b -> working b.
    mw = m.copy()
    mw[:, :2] = sb * m[:, :2] / sa
    mw[:, 2] = sb * m[:, 2]
    h, w = b.shape
    warped = cv2.warpAffine(a.astype(np.float32), mw, (w, h), flags=cv2.INTER_LINEAR)
    ones = np.full(a.shape, 255, np.uint8)
    overlap = cv2.warpAffine(ones, mw, (w, h), flags=cv2.INTER_NEAREST) > 0
    # Glyphs are legitimately alike on both sides: compare what lies outside them.
    glyphs = _resize(text_b.astype(np.uint8) * 255, sb) > 0
    glyphs |= cv2.warpAffine(text_a.astype(np.uint8) * 255, mw, (w, h)) > 0
    overlap &= ~cv2.dilate(glyphs.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    overlap = cv2.erode(overlap.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    bf = b.astype(np.float32)
    local, std_b = local_zncc(bf, warped, cfg.local_window)
    return _Compared(overlap, warped, bf, local, std_b >= cfg.min_std, sb)


def _agreement(c: _Compared, pts: np.ndarray, cfg: PairsConfig) -> tuple[np.ndarray, bool]:
    """(bool (h, w), whole): the part of the overlap where the two panels agree and that holds
    inliers (K, 2, working px of b). A whole reused panel, or two overlapping fields of
    view, agree over most of the overlap: then it is the whole overlap, flat background
    included. A pasted part or a lane agrees only over the shared content, which is then
    the region verified and masked. ``whole``: the whole overlap agrees."""
    agree = c.overlap & c.textured & (c.local >= cfg.local_zncc)
    textured = c.overlap & c.textured
    if textured.any() and agree.sum() >= cfg.min_agree * textured.sum():
        return c.overlap, True
    # Smooth content agrees by chance in scattered windows beside a copy: open those away.
    # Flat pixels inside a copy carry no correlation: close over them, fill the holes.
    k_open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (cfg.local_window,) * 2)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.local_window + 1,) * 2)
    grown = cv2.morphologyEx(agree.astype(np.uint8), cv2.MORPH_OPEN, k_open)
    grown = cv2.morphologyEx(grown, cv2.MORPH_CLOSE, k)
    grown = fill_holes(grown.astype(bool)) & c.overlap
    _, labels = cv2.connectedComponents(grown.astype(np.uint8), connectivity=8)
    h, w = grown.shape
    xy = np.clip(np.round(pts).astype(np.int64), 0, [w - 1, h - 1])
    hit = np.unique(labels[xy[:, 1], xy[:, 0]])
    return np.isin(labels, hit[hit > 0]), False


def _layout_echo(m: np.ndarray, shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> bool:
    """Does ``m`` map panel a onto panel b unturned and unscaled, aligned at a corner?

    Panel letters and scale bars sit at the same corner of every panel; where the text
    mask misses them they agree there, a part of the two panels. A pasted part keeps its
    place and size in another panel too rarely to pay for that look-alike."""
    if not np.allclose(m[:, :2], np.eye(2), atol=0.03):
        return False
    (ha, wa), (hb, wb) = shape_a[:2], shape_b[:2]
    tol = 0.03 * max(ha, wa, hb, wb) + 2
    shifts = [(x, y) for x in (0, wb - wa) for y in (0, hb - ha)]
    return any(abs(m[0, 2] - x) <= tol and abs(m[1, 2] - y) <= tol for x, y in shifts)


def _region_ok(
    c: _Compared, region: np.ndarray, whole: bool, pts: np.ndarray, a_area: float, cfg: PairsConfig
) -> np.ndarray | None:
    """The inliers (K, 2, working px of b) inside a plausible shared region, as bool (K,),
    or None when the region is too small, holds too few of them (a part must hold the
    matches that found it; a whole overlap loses those on glyphs) or they lie on a line."""
    area = region.sum() / c.scale**2
    if area < max(cfg.min_region_share * min(a_area, c.b.size / c.scale**2), cfg.min_region_px):
        return None
    h, w = region.shape
    xy = np.clip(np.round(pts).astype(np.int64), 0, [w - 1, h - 1])
    inside = region[xy[:, 1], xy[:, 0]]
    if not whole and inside.mean() < cfg.min_inside:
        return None
    return inside if _spread_ok(pts[inside], region, cfg) else None


def _scores(
    c: _Compared, region: np.ndarray, cfg: PairsConfig
) -> tuple[float, float, float, float]:
    """(zncc, hp_zncc, agree, graphic) of panel a mapped onto b over the shared region."""
    corr = zncc(c.warped[region], c.b[region])
    k = (0, 0)
    hp_a = c.warped - cv2.GaussianBlur(c.warped, k, cfg.hp_sigma)
    hp_b = c.b - cv2.GaussianBlur(c.b, k, cfg.hp_sigma)
    hp = zncc(hp_a[region], hp_b[region])
    textured = region & c.textured
    agree = float((c.local[textured] >= cfg.local_zncc).mean()) if textured.any() else 0.0
    return corr, hp, agree, graphic_share(np.clip(c.b[region], 0, 255).astype(np.uint8))


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
    c = _compare(m, gray_a, gray_b, text_a, text_b, cfg)
    pts = pb[inl] * c.scale
    region, whole = _agreement(c, pts, cfg)
    echo = _layout_echo(m, gray_a.shape, gray_b.shape)
    if echo and not whole:
        return None
    inside = _region_ok(c, region, whole, pts, float(gray_a.size), cfg)
    if inside is None:
        return None
    corr, hp, agree, graphic = _scores(c, region, cfg)
    # A panel shown twice unchanged correlates all over; two dark panels whose only
    # texture is the same letter and scale bar in the same corner agree there and little
    # elsewhere, and still pass the share of textured pixels.
    floor = cfg.min_echo_zncc if echo else cfg.min_zncc
    if corr < floor or agree < cfg.min_agree or graphic > cfg.max_flat:
        return None
    keep = np.flatnonzero(inl)[inside]
    src, dst = pa[keep].astype(np.float32), pb[keep].astype(np.float32)
    return Verified(m, src, dst, corr, hp, agree, graphic, region, whole)
