"""What a forger copies: which pixels are content, and the choice of a source region.

A source is never mostly text (labels, tick labels, scale bars) or flat background:
forgers copy content, and a copied label would teach a model to flag the legitimately
repeated glyphs it must ignore. Boxes of sources and copies never overlap (with a margin),
so no copy covers its own source or another instance.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forgeseg.synth.canvas import Obj, blob_mask

__all__ = [
    "MIN_REGION",
    "SOURCE_TRIES",
    "Rect",
    "Source",
    "global_std",
    "overlaps",
    "panel_of",
    "pick_source",
    "plain_map",
]

_MARGIN = 2  # px kept free between any two boxes, so feathering never touches a neighbour
# Smallest copied region, in pixels (about 16x16): a band, a cell, a lane, the least a forger
# moves and an analyst sees. Figures here are drawn smaller than real ones (128-640 px against
# up to 3888) to keep CPU runs short; sized by the real 0.2-7% fraction alone, a copy in a
# 130 px figure would be 6x6 px, a dot no method (and no annotator) could find.
MIN_REGION = 256
_MAX_TEXT = 0.25  # share of a source's pixels that may be text or scale bar, at most
_MAX_PLAIN = 0.6  # share that may be text or flat background together, at most
_FLAT_STD = 2.5  # local std (gray levels, after denoising) below which a pixel is flat
_BG_TOL = 12.0  # gray levels from the panel's commonest value that still count as background
SOURCE_TRIES = 10  # positions tried for a drawn region before choosing another source

Rect = tuple[int, int, int, int]


@dataclass
class Source:
    """A region chosen to be copied: its box in the figure, the copied pixels in it."""

    box: Rect
    mask: np.ndarray  # bool (y1-y0, x1-x0)
    kind: str
    panel: int


def overlaps(box: Rect, used: list[Rect]) -> bool:
    """Whether ``box`` comes within the margin of any box in ``used``."""
    y0, x0, y1, x1 = box
    return any(
        y0 < b[2] + _MARGIN and b[0] < y1 + _MARGIN and x0 < b[3] + _MARGIN and b[1] < x1 + _MARGIN
        for b in used
    )


def panel_of(box: Rect, rects: list[Rect]) -> int:
    """Index of the panel in ``rects`` holding the centre of ``box`` (0 when none does)."""
    cy, cx = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for i, (y0, x0, y1, x1) in enumerate(rects):
        if y0 <= cy < y1 and x0 <= cx < x1:
            return i
    return 0


def _std(img: np.ndarray, box: Rect, mask: np.ndarray | None = None) -> float:
    """Standard deviation of ``img`` (uint8 (H, W[, C])) inside ``box`` (under ``mask``)."""
    region = img[box[0] : box[2], box[1] : box[3]].astype(np.float32)
    if mask is not None:
        region = region[mask]
    return float(region.std()) if region.size else 0.0


def plain_map(image: np.ndarray, rects: list[Rect], text: np.ndarray | None) -> np.ndarray:
    """Pixels a forger would not copy: uint8 (H, W), 2 for text or scale bar, 1 for flat
    background, 0 for content.

    ``image``: uint8 (H, W) or (H, W, C); ``text``: bool (H, W) or None. Background is
    flat (low local std once pixel noise is smoothed away) and close to the commonest gray
    level of its panel (white paper, dark fluorescence field, blank film); anything flat
    outside every panel (gutters) is background too. Flat objects in another colour (a
    bar of a chart) stay content.
    """
    gray = image if image.ndim == 2 else image[:, :, :3].mean(axis=2)
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.5)
    mean = cv2.boxFilter(g, -1, (7, 7))
    var = cv2.boxFilter(g * g, -1, (7, 7)) - mean * mean
    flat = var < _FLAT_STD**2
    near = np.ones(flat.shape, bool)  # outside every panel: flat means background
    for y0, x0, y1, x1 in rects:
        sub = g[y0:y1, x0:x1]
        hist = np.bincount(np.clip(sub[::2, ::2], 0, 255).astype(np.int64).ravel(), minlength=256)
        mode = float(np.argmax(hist))
        near[y0:y1, x0:x1] = np.abs(sub - mode) < _BG_TOL
    out = (flat & near).astype(np.uint8)
    if text is not None:
        out[text] = 2
    return out


def _too_plain(plain: np.ndarray, box: Rect, mask: np.ndarray) -> bool:
    """Whether the region ``mask`` (bool, box-sized) at ``box`` is mostly text or background."""
    region = plain[box[0] : box[2], box[1] : box[3]][mask]
    if region.size == 0:
        return True
    return bool((region == 2).mean() > _MAX_TEXT or (region > 0).mean() > _MAX_PLAIN)


def global_std(img: np.ndarray) -> float:
    """Pixel std of the whole figure, on a strided subsample (cheap, same for both twins)."""
    return float(img[::4, ::4].astype(np.float32).std())


def _fitting_objects(objects: list[Obj], area: float) -> np.ndarray:
    """Indices of the objects whose box area suits a region of about ``area`` px."""
    areas = np.array([(o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) for o in objects], float)
    # Objects a little under the floor still pass (a band is thin); a lone 8 px cell does not.
    return np.flatnonzero((areas > max(area / 6, MIN_REGION / 2)) & (areas < area * 4))


def _object_source(
    rng: np.random.Generator,
    o: Obj,
    shape: tuple[int, int],
    rects: list[Rect],
    used: list[Rect],
    plain: np.ndarray,
) -> Source | None:
    """Object ``o`` as a source, with a few px of padding, or None when it is not usable."""
    H, W = shape
    y0, x0, y1, x1 = o.box
    pad = int(rng.integers(0, 4))
    py0, px0 = max(0, y0 - pad), max(0, x0 - pad)
    py1, px1 = min(H, y1 + pad), min(W, x1 + pad)
    box = (py0, px0, py1, px1)
    if overlaps(box, used):
        return None
    if o.mask is not None and rng.random() < 0.6:
        m = np.zeros((py1 - py0, px1 - px0), np.uint8)
        m[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0] = o.mask
        if pad:
            m = cv2.dilate(m, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
        src = Source(box, m.astype(bool), f"object:{o.name}", panel_of(box, rects))
    else:
        # A rectangle drawn around the object: the usual selection for a band or lane.
        src = Source(
            box,
            np.ones((py1 - py0, px1 - px0), bool),
            f"object_box:{o.name}",
            panel_of(box, rects),
        )
    return None if _too_plain(plain, src.box, src.mask) else src


def _drawn_source(
    rng: np.random.Generator,
    img: np.ndarray,
    rects: list[Rect],
    area: float,
    used: list[Rect],
    min_std: float,
    plain: np.ndarray,
    tries: int,
) -> Source | None:
    """A rectangle or lasso region of about ``area`` px somewhere in a panel, or None."""
    sizes = np.array([(r[2] - r[0]) * (r[3] - r[1]) for r in rects], float)
    p = int(rng.choice(len(rects), p=sizes / sizes.sum()))
    ry0, rx0, ry1, rx1 = rects[p]
    aspect = float(np.exp(rng.uniform(np.log(0.4), np.log(2.5))))
    freeform = rng.random() < 0.5
    # A lasso region fills about 70% of its box; enlarge the box to keep the area.
    box_area = area / (0.7 if freeform else 1.0)
    bh = int(np.clip(np.sqrt(box_area / aspect), 2, (ry1 - ry0) * 0.45))
    bw = int(np.clip(box_area / max(bh, 1), 2, (rx1 - rx0) * 0.45))
    if bh < 2 or bw < 2:
        return None
    mask = blob_mask(rng, bh, bw) if freeform else np.ones((bh, bw), bool)
    for _ in range(tries):
        y = int(rng.integers(ry0, ry1 - bh + 1))
        x = int(rng.integers(rx0, rx1 - bw + 1))
        box = (y, x, y + bh, x + bw)
        if (
            not overlaps(box, used)
            and not _too_plain(plain, box, mask)
            and _std(img, box, mask) >= min_std
        ):
            return Source(box, mask, "freeform" if freeform else "rect", p)
    return None


def pick_source(
    rng: np.random.Generator,
    img: np.ndarray,
    rects: list[Rect],
    objects: list[Obj],
    area: float,
    used: list[Rect],
    min_std: float,
    plain: np.ndarray,
    tries: int = SOURCE_TRIES,
) -> Source | None:
    """Choose a region of about ``area`` px of ``img`` that overlaps nothing in ``used``.

    Regions must hold some content (pixel std above a floor, and not mostly text or flat
    background by ``plain``, see :func:`plain_map`): copying flat background onto flat
    background changes nothing and would teach a model to mark invisible regions.
    """
    if objects and rng.random() < 0.65:
        fit = _fitting_objects(objects, area)
        if fit.size:
            o = objects[int(rng.choice(fit))]
            return _object_source(rng, o, img.shape[:2], rects, used, plain)
    return _drawn_source(rng, img, rects, area, used, min_std, plain, tries)
