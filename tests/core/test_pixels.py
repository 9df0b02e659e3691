"""matchers.pixels: the correlation and graphic-share checks shared by the matchers and the
instance builder, each caller's precision kept exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from forgeseg.core.pixels import SATURATED, graphic_share, local_zncc, sample_bilinear, zncc


def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = (120 + 30 * rng.normal(0, 1, (40, 50))).astype(np.float32)
    b = (a + 15 * rng.normal(0, 1, a.shape)).astype(np.float32)
    return a, b


def test_zncc_is_invariant_to_brightness_and_contrast() -> None:
    a, _ = _pair()
    assert zncc(a, 2.5 * a + 40) == pytest.approx(1.0)
    assert zncc(a, -a) == pytest.approx(-1.0)
    assert zncc(a, np.full_like(a, 7.0)) == 0.0  # a flat sample correlates with nothing


def test_zncc_needs_enough_values_when_asked() -> None:
    a, b = _pair()
    assert zncc(a[:2, :4], b[:2, :4], min_size=9) == 0.0
    assert zncc(a[:3, :3], b[:3, :3], min_size=9) == zncc(a[:3, :3], b[:3, :3])


def test_zncc_precision_options_reproduce_each_callers_numbers() -> None:
    a, b = _pair(1)

    def ref(x: np.ndarray, y: np.ndarray) -> float:
        den = float(np.sqrt((x * x).sum() * (y * y).sum()))
        return float((x * y).sum() / den)

    x64, y64 = a.astype(np.float64), b.astype(np.float64)
    # SIFT: means and sums in float64.
    assert zncc(a, b) == ref(x64 - x64.mean(), y64 - y64.mean())
    # Dense: float32 means subtracted in float64.
    assert zncc(a, b, input_mean=True) == ref(x64 - a.mean(), y64 - b.mean())
    # Instances: float32 throughout.
    assert zncc(a, b, dtype=None) == ref(a - a.mean(), b - b.mean())
    # The three agree to float32 precision, not to the last bit.
    assert zncc(a, b, dtype=None) == pytest.approx(zncc(a, b), abs=1e-5)


def test_local_zncc_maps_agreement_and_texture() -> None:
    a, b = _pair(2)
    corr, std = local_zncc(a, a.copy(), 5)
    assert corr.shape == std.shape == a.shape and corr.dtype == np.float32
    assert corr[5:-5, 5:-5].min() > 0.99
    assert float(np.median(std)) == pytest.approx(30, rel=0.3)
    corr, _ = local_zncc(a, b, 5)
    assert 0.6 < float(np.median(corr)) < 0.99  # added noise lowers it
    # A flat map has no texture: its correlation is float32 rounding noise, its std ~0.
    _, std = local_zncc(np.full_like(a, 100.0), a, 5)
    assert std.max() < 0.1


def test_graphic_share_counts_the_flat_colour_and_saturated_pixels() -> None:
    assert graphic_share(np.zeros(0, np.uint8)) == 1.0
    text = np.full((20, 20), 255, np.uint8)
    text[5:8, 2:18] = 0  # black ink on white: all saturated, the mode counted once
    assert graphic_share(text) == 1.0
    grey = np.full((10, 10), 128, np.uint8)
    grey[0, :5] = 200
    grey[1, :5] = SATURATED - 1
    assert graphic_share(grey) == pytest.approx(0.95)
    rng = np.random.default_rng(3)
    noise = rng.integers(40, 200, (30, 30)).astype(np.uint8)
    assert graphic_share(noise) < 0.05


def test_sample_bilinear_takes_any_number_of_points() -> None:
    # cv2.remap refuses maps of 32767 or more columns: longer lists go in rows.
    a, _ = _pair(4)
    rng = np.random.default_rng(5)
    n = 70_000
    x = rng.uniform(0, a.shape[1] - 1, n).astype(np.float32)
    y = rng.uniform(0, a.shape[0] - 1, n).astype(np.float32)
    with pytest.raises(cv2.error):
        cv2.remap(a, x[None], y[None], cv2.INTER_LINEAR)
    got = sample_bilinear(a, x, y)
    assert got.shape == (n,) and got.dtype == np.float32
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, a.shape[1] - 1), np.minimum(y0 + 1, a.shape[0] - 1)
    fx, fy = x - x0, y - y0
    top = a[y0, x0] * (1 - fx) + a[y0, x1] * fx
    bottom = a[y1, x0] * (1 - fx) + a[y1, x1] * fx
    # OpenCV interpolates at 1/32 px: off by at most a 32nd of a step between pixels.
    err = np.abs(got - (top * (1 - fy) + bottom * fy))
    steps = max(np.abs(np.diff(a, axis=0)).max(), np.abs(np.diff(a, axis=1)).max())
    assert err.max() <= steps / 16 and err.mean() < 0.5
    # A list that fits one row is sampled exactly as that one row always was.
    short = cv2.remap(a, x[:30_000][None], y[:30_000][None], cv2.INTER_LINEAR).ravel()
    assert np.array_equal(sample_bilinear(a, x[:30_000], y[:30_000]), short)
    # On the pixel grid the samples are the pixels.
    assert np.array_equal(sample_bilinear(a, np.array([3.0]), np.array([7.0])), a[7:8, 3])
