"""Drawing primitives shared by the figure renderers.

Everything works on float32 or uint8 NumPy arrays and OpenCV calls so that a 1024 px figure
renders in tens of milliseconds; nothing here loops over pixels in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from forgeseg.synth.layout import Layout

__all__ = [
    "FONT",
    "Obj",
    "Panel",
    "blob_mask",
    "draw_scale_bar",
    "draw_text",
    "gradient",
    "mark",
    "smooth_noise",
    "to_uint8",
]

FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class Obj:
    """A copyable object found while rendering (a band, a cell, a bar, a population).

    ``box`` is ``(y0, x0, y1, x1)`` in panel pixels (end exclusive); ``mask`` is bool
    ``(y1-y0, x1-x0)`` marking the object's pixels inside the box, or None for "whole box".
    ``name`` says what it is (``"band"``, ``"lane"``, ``"cell"``...), recorded in the meta.
    """

    box: tuple[int, int, int, int]
    name: str
    mask: np.ndarray | None = None


@dataclass
class Panel:
    """One rendered panel: uint8 RGB ``(H, W, 3)`` plus what a forger could copy.

    ``hard_negatives`` names the legitimately repeated structures the renderer put in
    (``"similar_bands"``, ``"repeated_glyphs"``...), so evaluation can look at them.
    ``gray`` says the figure kind is naturally grayscale (blots, gels), which makes the
    final figure grayscale more often. ``annotations`` is bool ``(H, W)`` marking text and
    scale bars (None: there are none); a forger never copies those, so neither does the
    forgery. ``sources`` lists the photo crops used, as ``(name, (y0, x0, y1, x1))`` in the
    source photo's pixels, so a figure can be checked for reusing one photo twice.
    ``layout`` is the panel grid of a compound figure (None: one panel, the whole figure).
    """

    image: np.ndarray
    kind: str
    objects: list[Obj] = field(default_factory=list)
    hard_negatives: list[str] = field(default_factory=list)
    gray: bool = False
    annotations: np.ndarray | None = None
    sources: list[tuple[str, tuple[int, int, int, int]]] = field(default_factory=list)
    layout: Layout | None = None


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round and clip a float array (any shape) to uint8."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def smooth_noise(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-std smooth noise, float32 ``(h, w)``, correlation length ``scale`` px.

    Drawn at low resolution and upsampled: blurring full-size white noise with a large kernel
    costs far more and looks the same. The upsampling must stay bicubic: a nearest-neighbour
    enlargement shows as visible blocks in every texture built on this.
    """
    scale = max(scale, 1.0)
    sh, sw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    small = rng.standard_normal((sh, sw)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    std = float(big.std())
    return big / std if std > 1e-6 else big


def gradient(rng: np.random.Generator, h: int, w: int, amplitude: float) -> np.ndarray:
    """A random linear illumination gradient, float32 ``(h, w)`` in ``[-amplitude, amplitude]``."""
    angle = rng.uniform(0, 2 * np.pi)
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    return (amplitude * (np.cos(angle) * xx + np.sin(angle) * yy) / 1.42).astype(np.float32)


def blob_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A free-form blob filling most of an ``(h, w)`` box: bool ``(h, w)``, never empty.

    A thresholded smooth-noise field multiplied by an ellipse gives the irregular outline of
    a hand-drawn lasso selection.
    """
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    ell = 1.0 - (yy**2 + xx**2)
    field_ = ell + 0.35 * smooth_noise(rng, h, w, max(h, w) / 3)
    mask = field_ > 0.15
    if not mask.any():
        mask[h // 2, w // 2] = True
    return mask


def mark(record: np.ndarray | None, y0: int, x0: int, y1: int, x1: int) -> None:
    """Set ``record`` (bool (H, W), or None: do nothing) to True on a box, clipped to it."""
    if record is None:
        return
    h, w = record.shape[:2]
    y0, x0, y1, x1 = max(0, y0), max(0, x0), min(h, y1), min(w, x1)
    if y1 > y0 and x1 > x0:
        record[y0:y1, x0:x1] = True


def draw_text(
    img: np.ndarray,
    text: str,
    org: tuple[int, int],
    scale: float,
    color: tuple[int, ...],
    thickness: int = 1,
    record: np.ndarray | None = None,
) -> tuple[int, int]:
    """Draw ``text`` with its baseline-left corner at ``org`` (x, y); return its (w, h) in px.

    ``record`` (bool (H, W) like ``img``) gets the text's box set, padded by a pixel for the
    anti-aliased edge, so the forgery can keep away from labels.
    """
    cv2.putText(img, text, org, FONT, scale, color, thickness, cv2.LINE_AA)
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    x, y = org
    mark(record, y - th - thickness - 1, x - thickness - 1, y + base + 2, x + tw + thickness + 2)
    return tw, th


def draw_scale_bar(
    img: np.ndarray,
    rng: np.random.Generator,
    label: bool = True,
    record: np.ndarray | None = None,
    color: tuple[int, int, int] | None = None,
) -> None:
    """Draw a white (or black on light images) scale bar with a length label, in place.

    Every microscopy panel of a compound figure gets the same bar: identical pixels that are
    legitimately repeated, the classic false positive of copy-move detectors. ``record``
    (bool (H, W)) gets the bar and its label marked, as for :func:`draw_text`. ``color``:
    None picks black on light images, white on dark ones.
    """
    h, w = img.shape[:2]
    if color is None:
        color = (0, 0, 0) if float(img.mean()) > 128 else (255, 255, 255)
    length = max(8, int(w * rng.uniform(0.12, 0.25)))
    thick = max(2, h // 80)
    x1 = w - max(4, w // 25)
    y1 = h - max(4, h // 20)
    cv2.rectangle(img, (x1 - length, y1 - thick), (x1, y1), color, -1)
    mark(record, y1 - thick - 1, x1 - length - 1, y1 + 2, x1 + 2)
    if label and h >= 80:
        scale = max(0.3, h / 700)
        text = f"{int(rng.choice([10, 20, 50, 100, 200]))} um"
        tw = cv2.getTextSize(text, FONT, scale, 1)[0][0]
        org = (x1 - length // 2 - tw // 2, y1 - thick - 4)
        draw_text(img, text, org, scale, color, 1, record)
