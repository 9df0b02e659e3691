"""Pixel-level checks shared by the matchers and the instance builder.

A candidate copy is confirmed on the figure's own pixels: its region must correlate with
the mapped source (:func:`zncc`, :func:`local_zncc`) and must not be drawn graphics, whose
pixels are legitimately identical (:func:`graphic_share`). The callers have always
computed these with slightly different precision; the keyword arguments keep each one's
numbers exactly as they were.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["SATURATED", "graphic_share", "local_zncc", "sample_bilinear", "zncc"]

# Grey levels this close to 0 or 255 count as saturated (drawn text, bars, clipped pixels).
SATURATED = 5
# OpenCV's remap asserts every side of its maps and images is below SHRT_MAX (32767).
_REMAP_SIDE = 32766


def _centred(a: np.ndarray, dtype: type[np.floating] | None, input_mean: bool) -> np.ndarray:
    if dtype is None:
        return a - a.mean()
    if input_mean:
        return a.astype(dtype) - a.mean()
    x = a.astype(dtype)
    x -= x.mean()
    return x


def zncc(
    a: np.ndarray,
    b: np.ndarray,
    *,
    dtype: type[np.floating] | None = np.float64,
    input_mean: bool = False,
    min_size: int = 0,
) -> float:
    """Zero-mean normalised cross-correlation of two arrays of the same shape; 0.0 when
    either is (nearly) constant or they hold fewer than ``min_size`` values.

    Args:
        a, b: the two samples, any shape (pixel values under one region, or two patches).
        dtype: the precision the sums are taken in; None: the inputs' own (the instance
            builder correlates float32 patches in float32).
        input_mean: subtract the mean taken in the inputs' own precision rather than in
            ``dtype`` (the dense matcher's float32 means).
        min_size: fewer values than this carry no evidence.
    """
    if a.size < min_size:
        return 0.0
    x = _centred(a, dtype, input_mean)
    y = _centred(b, dtype, input_mean)
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 1e-6 else 0.0


def local_zncc(a: np.ndarray, b: np.ndarray, win: int) -> tuple[np.ndarray, np.ndarray]:
    """Local ZNCC of two float32 (H, W) maps over ``win`` x ``win`` windows, and the local
    standard deviation of ``a``; both float32 (H, W).

    The 1e-6 only keeps an exactly flat window from dividing by zero: in float32 the
    variance of a flat window is rounding noise and its correlation arbitrary, which is why
    callers also ask for texture (the returned std, or agreement by grey difference).
    """
    k = (win, win)
    ma = cv2.blur(a, k)
    mb = cv2.blur(b, k)
    va = np.maximum(cv2.blur(a * a, k) - ma * ma, 0.0)
    vb = np.maximum(cv2.blur(b * b, k) - mb * mb, 0.0)
    cov = cv2.blur(a * b, k) - ma * mb
    corr = cov / np.sqrt(va * vb + 1e-6)
    return corr, np.sqrt(va)


def graphic_share(vals: np.ndarray) -> float:
    """Share of uint8 pixel values (any shape) that are the most common value or
    saturated; 1.0 for no values.

    Text, tick labels and scale bars are drawn in one flat colour (often pure black or
    white) on a flat background; photographed, scanned or rendered-with-noise content is
    neither.
    """
    if vals.size == 0:
        return 1.0
    hist = np.bincount(vals.ravel(), minlength=256)
    mode = int(hist.argmax())
    sat = hist[:SATURATED].sum() + hist[256 - SATURATED :].sum()
    # The mode may itself be saturated: do not count it twice.
    if mode < SATURATED or mode >= 256 - SATURATED:
        return float(sat / vals.size)
    return float((hist[mode] + sat) / vals.size)


def sample_bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a float32 (H, W) image at the n points (``x``, ``y``), (n,) each,
    as float32 (n,); any n.

    ``cv2.remap`` takes the points as a map image, and every side of it must stay below
    32767: a single row of points stops there (the core of a rotated copy of 180 x 180
    pixels). Longer lists are laid out in rows of 32766 points, the last padded with the
    first point. OpenCV's vectorised and tiled loops round the last float bit differently
    for different layouts, so a list that fits one row keeps the single row it always had.
    """
    n = len(x)
    mx = np.asarray(x, np.float32)
    my = np.asarray(y, np.float32)
    if n <= _REMAP_SIDE:
        return cv2.remap(image, mx[None], my[None], cv2.INTER_LINEAR).ravel()
    rows = -(-n // _REMAP_SIDE)
    pad = rows * _REMAP_SIDE - n
    mx = np.concatenate([mx, np.full(pad, mx[0], np.float32)]).reshape(rows, _REMAP_SIDE)
    my = np.concatenate([my, np.full(pad, my[0], np.float32)]).reshape(rows, _REMAP_SIDE)
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR).ravel()[:n]
