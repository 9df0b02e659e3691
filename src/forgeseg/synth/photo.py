"""Macroscopy and microscopy photos: crops of scikit-image's bundled sample images.

Only images that ship inside the scikit-image wheel are used (no download is ever tried);
they give real camera texture, which no procedural generator matches. Each is loaded once
per process and cached.

Sources are restricted to pictures that could sit in a biomedical or materials paper, and
none may repeat itself: a self-similar texture (``grass`` and ``gravel`` are tiled, ``brick``
is a regular pattern) would put genuine duplicates into authentic figures, which copy-move
detectors then rightly flag. With so few sources, each crop is varied (quarter turns,
flips, false colour, gamma, contrast), and a figure that shows several photos takes them
from different sources or from crops that do not overlap (see ``taken``).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from forgeseg.synth.canvas import Obj, Panel, blob_mask, to_uint8

__all__ = ["PHOTO_SOURCES", "render_photo", "render_photo_from"]

# Bundled with scikit-image (checked to load offline); no pooch download involved.
# retina: fundus photograph; immunohistochemistry: DAB-stained tissue section; cell:
# phase-contrast micrograph; coins: specimens on a dark tray (macroscopy); moon: a
# cratered gray surface that reads as an SEM micrograph of a material.
PHOTO_SOURCES = ("retina", "immunohistochemistry", "cell", "coins", "moon")
_CROP_TRIES = 20
# False colours for gray sources: stained, fluorescent or plain gray renderings.
_TINTS = (
    (1.0, 1.0, 1.0),
    (1.0, 1.0, 1.0),
    (0.35, 1.0, 0.35),
    (1.0, 0.3, 0.25),
    (1.0, 0.85, 0.6),
    (0.55, 0.75, 1.0),
)

Box = tuple[int, int, int, int]


@functools.cache
def _load(name: str) -> np.ndarray:
    """The bundled image ``name`` as uint8 RGB (H, W, 3)."""
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


def _disjoint(box: Box, boxes: list[Box]) -> bool:
    y0, x0, y1, x1 = box
    return all(y1 <= b[0] or b[2] <= y0 or x1 <= b[1] or b[3] <= x0 for b in boxes)


def _crop_box(
    rng: np.random.Generator, shape: tuple[int, int], aspect: float, taken: list[Box]
) -> Box | None:
    """A crop ``(y0, x0, y1, x1)`` of a source of ``shape`` with width/height ``aspect`` (in
    source pixels, before any quarter turn) that overlaps none of ``taken``, or None."""
    sh, sw = shape
    for _ in range(_CROP_TRIES):
        # Later crops of a source get smaller, so there is room beside the earlier ones.
        ch = int(rng.uniform(0.3, 1.0 if not taken else 0.5) * sh)
        cw = int(ch * aspect)
        if cw > sw:
            cw = sw
            ch = int(cw / aspect)
        ch, cw = max(2, min(ch, sh)), max(2, min(cw, sw))
        y = int(rng.integers(0, sh - ch + 1))
        x = int(rng.integers(0, sw - cw + 1))
        box = (y, x, y + ch, x + cw)
        if _disjoint(box, taken):
            return box
    return None


def render_photo(rng: np.random.Generator, h: int, w: int) -> Panel:
    """A crop of a bundled photo resized to (h, w), varied and jittered: uint8 RGB (h, w, 3)."""
    panel = render_photo_from(rng, h, w, {})
    if panel is None:  # pragma: no cover - with nothing taken the first crop always fits
        raise RuntimeError("no crop fits in an empty set of photo sources")
    return panel


def render_photo_from(
    rng: np.random.Generator, h: int, w: int, taken: dict[str, list[Box]]
) -> Panel | None:
    """Like :func:`render_photo`, but the crop overlaps none of ``taken``.

    ``taken`` maps source names to crop boxes (source pixels) already shown in the same
    figure; the new crop is added to it. Returns None when no source has room left (the
    caller draws another kind of panel instead).
    """
    k = int(rng.integers(0, 4))  # quarter turns applied after cropping
    aspect = w / h if k % 2 == 0 else h / w
    order = [str(s) for s in rng.permutation(PHOTO_SOURCES)]
    # Untouched sources first: crops of different photos share nothing at all.
    order.sort(key=lambda s: len(taken.get(s, [])))
    for name in order:
        src = _load(name)
        box = _crop_box(rng, src.shape[:2], aspect, taken.get(name, []))
        if box is not None:
            break
    else:
        return None
    taken.setdefault(name, []).append(box)
    y0, x0, y1, x1 = box
    crop = np.rot90(src[y0:y1, x0:x1], k)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    ch = crop.shape[0]
    interp = cv2.INTER_AREA if ch > h else cv2.INTER_CUBIC
    img = cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=interp).astype(np.float32)
    img = np.clip(img, 0, 255)
    if name in ("cell", "coins", "moon"):
        img = img * np.array(_TINTS[int(rng.integers(0, len(_TINTS)))], np.float32)
    elif rng.random() < 0.3:
        # Colour balance of another camera or stain batch.
        img = img * rng.uniform(0.85, 1.1, 3).astype(np.float32)
    gamma = rng.uniform(0.75, 1.35)
    img = 255 * (img / 255) ** gamma
    lo, hi = rng.uniform(0, 20), rng.uniform(235, 255)
    img = lo + img * (hi - lo) / 255  # contrast stretch of another print or scan
    gray = img.mean(axis=2, keepdims=True)
    img = gray + (img - gray) * rng.uniform(0.7, 1.3)
    img += rng.normal(0, rng.uniform(0.5, 2.5), img.shape).astype(np.float32)
    # Photos have no natural object list: offer a few blob regions of varied sizes.
    objects = []
    for _ in range(4):
        bh = max(3, int(h * rng.uniform(0.05, 0.2)))
        bw = max(3, int(w * rng.uniform(0.05, 0.2)))
        oy, ox = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        objects.append(Obj((oy, ox, oy + bh, ox + bw), "blob", blob_mask(rng, bh, bw)))
    return Panel(to_uint8(img), "photo", objects, sources=[(name, box)])
