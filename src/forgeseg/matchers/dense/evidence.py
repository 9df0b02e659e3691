"""Steps 5 and 7 of the dense matcher: what tells a copy from a look-alike on the pixels.

The figure's own grain (:func:`grain_sigma`), the fine residual of copy minus mapped
source over it (:func:`residual`), the share of exactly equal pixels where that cannot be
measured (:func:`exact_share`), the ink's stroke width (:func:`stroke_width`: text is
strokes) and the periodicity of a translation (:func:`periodic`: a regular pattern).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from forgeseg.config.matchers import DenseConfig
from forgeseg.core.masks import bbox, erode
from forgeseg.core.pixels import SATURATED, zncc

__all__ = [
    "exact_share",
    "grain_sigma",
    "hp_gain",
    "mad",
    "periodic",
    "residual",
    "stroke_width",
    "texture",
]


@functools.lru_cache(maxsize=8)
def hp_gain(sigma: float) -> float:
    """Standard deviation that ``x - blur(x, sigma)`` keeps of unit white noise."""
    noise = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    hp = noise - cv2.GaussianBlur(noise, (0, 0), sigma)
    return float(hp[16:-16, 16:-16].std())


def mad(vals: np.ndarray) -> float:
    """Robust standard deviation (scaled median absolute deviation) of a 1-D array."""
    return float(np.median(np.abs(vals - np.median(vals)))) * 1.4826 if vals.size else 0.0


def texture(x: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
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
    hp, grad = texture(grayf, hp_sigma)
    sat = (grayf <= SATURATED) | (grayf >= 255 - SATURATED)
    usable = ~sat
    if usable.sum() < 256:
        return 0.0
    calm = usable & (grad <= np.quantile(grad[usable], 0.25))
    spread = mad(hp[calm])
    return spread / hp_gain(hp_sigma) if spread > 0.05 else 0.0


def stroke_width(gray: np.ndarray, region: np.ndarray) -> float:
    """Median half-width in px of the ink of ``region`` (bool (H, W)) in ``gray`` (uint8
    (H, W)): the Otsu class that covers less of the region, measured by its distance to the
    other class.

    Text, ladder rungs and plot lines are strokes 1-3 px wide (half-width about 1), whatever
    their colour and whatever noise lies under them; bands, cells and tissue are blobs. The
    graphic share (:func:`forgeseg.core.pixels.graphic_share`) misses text on a noisy
    background, this does not.
    """
    if region.sum() < 16:
        return 0.0
    y0, x0, y1, x1 = bbox(region, 1)
    g, m = gray[y0:y1, x0:x1], region[y0:y1, x0:x1]
    vals = g[m].reshape(-1, 1)
    t, _ = cv2.threshold(vals, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = g <= t
    ink = (dark if dark[m].mean() <= 0.5 else ~dark) & m
    if not ink.any():
        return 0.0
    dist = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return float(np.median(dist[ink]))


def periodic(
    grayf: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    vals: np.ndarray,
    shift: np.ndarray,
    min_zncc: float,
) -> bool:
    """Whether a translated region (pixels ``ys``, ``xs`` (K,) with values ``vals`` in
    ``grayf``, float32 (H, W)) also matches at another multiple of the ``shift`` (x, y)
    (twice it, minus it, half of it): the mark of a regular pattern, not of a copy (a forger
    pasting twice at the same spacing is rare, and half-way between a source and its copy
    lies unrelated content)."""
    H, W = grayf.shape
    for k in (2.0, -1.0, 0.5):
        mx = np.rint(xs + k * shift[0]).astype(np.int64)
        my = np.rint(ys + k * shift[1]).astype(np.int64)
        ok = (mx >= 0) & (mx < W) & (my >= 0) & (my < H)
        if ok.mean() >= 0.9 and zncc(vals[ok], grayf[my[ok], mx[ok]], input_mean=True) >= min_zncc:
            return True
    return False


def exact_share(
    grayf: np.ndarray, warped: np.ndarray, valid: np.ndarray, dst_mask: np.ndarray
) -> float:
    """Share of the copy's inner pixels (``dst_mask``, bool (H, W), less a 2 px rim) whose
    grey level in ``grayf`` equals the mapped source's (``warped``, defined where
    ``valid``; all (H, W)) up to one brightness map (gain and offset, fitted by least
    squares) and rounding: near 1 for an untouched flip, turn or translation, with or
    without a brightness change; a small share for two objects drawn apart in a figure
    with grain."""
    inner = erode(dst_mask, 2) & valid
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


def residual(
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
    would otherwise read as a copy. ``grayf``, ``warped``, ``valid``: as for
    :func:`exact_share`; ``grain``: the figure's :func:`grain_sigma`.
    """
    if grain <= 0 or not dst_mask.any():
        return float("nan")
    reach = int(np.ceil(2 * cfg.hp_sigma))
    pad = int(np.ceil(3 * cfg.hp_sigma)) + 1
    y0, x0, y1, x1 = bbox(dst_mask, pad)
    roi = grayf[y0:y1, x0:x1]
    ok = valid[y0:y1, x0:x1]
    wroi = np.where(ok, warped[y0:y1, x0:x1], roi)
    core = erode(dst_mask[y0:y1, x0:x1], reach) & ok
    if core.sum() < 16:
        return float("nan")
    hp_a, grad = texture(roi, cfg.hp_sigma)
    hp_b, _ = texture(wroi, cfg.hp_sigma)
    calm = core & (grad <= np.quantile(grad[core], cfg.grain_quantile))
    gain = hp_gain(cfg.hp_sigma)
    local = np.sqrt(np.maximum(cv2.blur(hp_a * hp_a, (3, 3)) - cv2.blur(hp_a, (3, 3)) ** 2, 0))
    # A fine texture larger than grain makes (3 sigma) is an outline leaking through.
    bound = 3.0 * grain * gain
    grained = calm & (local >= 0.5 * grain * gain)
    grained &= (np.abs(hp_a) <= bound) & (np.abs(hp_b) <= bound)
    if grained.sum() < 16 or mad(hp_a[grained]) / gain < 0.5 * grain:
        return float("nan")
    diff = hp_a[grained] - hp_b[grained]
    return float(diff.std()) / (np.sqrt(2.0) * grain * gain)
