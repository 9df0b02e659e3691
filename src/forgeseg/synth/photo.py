"""Macroscopy photos: crops of scikit-image's bundled sample images.

Only images that ship inside the scikit-image wheel are used (no download is ever tried);
they give real camera texture, which no procedural generator matches. Each is loaded once
per process and cached.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from forgeseg.synth.canvas import Obj, Panel, blob_mask, to_uint8

__all__ = ["PHOTO_SOURCES", "render_photo"]

# Bundled with scikit-image (checked to load offline); no pooch download involved.
PHOTO_SOURCES = (
    "coffee",
    "astronaut",
    "chelsea",
    "rocket",
    "coins",
    "camera",
    "brick",
    "grass",
    "gravel",
    "moon",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
)


@functools.cache
def _load(name: str) -> np.ndarray:
    """The bundled image ``name`` as uint8 RGB (H, W, 3)."""
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


def render_photo(rng: np.random.Generator, h: int, w: int) -> Panel:
    """A random crop of a bundled photo, resized to (h, w), jittered: uint8 RGB (h, w, 3)."""
    src = _load(str(rng.choice(PHOTO_SOURCES)))
    sh, sw = src.shape[:2]
    aspect = w / h
    ch = int(rng.uniform(0.35, 1.0) * sh)
    cw = int(ch * aspect)
    if cw > sw:
        cw = sw
        ch = max(2, int(cw / aspect))
    ch, cw = max(2, min(ch, sh)), max(2, min(cw, sw))
    y = int(rng.integers(0, sh - ch + 1))
    x = int(rng.integers(0, sw - cw + 1))
    crop = src[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    interp = cv2.INTER_AREA if ch > h else cv2.INTER_LINEAR
    img = cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=interp).astype(np.float32)
    gamma = rng.uniform(0.8, 1.25)
    img = 255 * (img / 255) ** gamma
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
    return Panel(to_uint8(img), "photo", objects)
