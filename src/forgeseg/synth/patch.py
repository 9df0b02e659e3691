"""The copied patch: its geometric transform and the retouching a forger applies to it.

Flips and quarter turns are exact, so such a copy is pixel-identical to its source; small
rotations, rescaling, re-lighting, blur and feathering make a copy only similar, the hard
case for a matcher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

__all__ = ["Retouch", "apply_geometry", "geometry_names", "identity", "pick_geometry", "retouch"]


def identity() -> dict[str, Any]:
    """A fresh geometry that leaves a patch as it is (callers store and may edit it)."""
    return {"flip": "none", "rot90": 0, "angle": 0.0, "scale": 1.0}


def apply_geometry(
    patch: np.ndarray,
    geom: dict[str, Any],
    *,
    is_mask: bool = False,
) -> np.ndarray:
    """Apply an instance's geometric transform to a patch.

    ``patch``: uint8 (h, w) or (h, w, C), or bool (h, w) when ``is_mask``.
    ``geom``: ``{"flip": "none"|"h"|"v", "rot90": k, "angle": degrees, "scale": s}``, applied
    in that order. Flips and quarter turns are exact (pure re-indexing); angle/scale use
    bilinear resampling (nearest for masks) onto a box just large enough for the result.
    Returns an array of the same dtype and channel count; its (h, w) may differ.
    """
    out = patch
    if geom.get("flip") == "h":
        out = out[:, ::-1]
    elif geom.get("flip") == "v":
        out = out[::-1]
    k = int(geom.get("rot90", 0)) % 4
    if k:
        out = np.rot90(out, k)
    angle = float(geom.get("angle", 0.0))
    scale = float(geom.get("scale", 1.0))
    if angle != 0.0 or scale != 1.0:
        h, w = out.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        cos, sin = abs(m[0, 0]), abs(m[0, 1])
        nw = max(1, int(np.ceil(h * sin + w * cos)))
        nh = max(1, int(np.ceil(h * cos + w * sin)))
        m[0, 2] += nw / 2 - w / 2
        m[1, 2] += nh / 2 - h / 2
        src = np.ascontiguousarray(out.astype(np.uint8) if is_mask else out)
        interp = cv2.INTER_NEAREST if is_mask else cv2.INTER_LINEAR
        warped = cv2.warpAffine(
            src, m, (nw, nh), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        if warped.ndim == 2 and src.ndim == 3:
            warped = warped[:, :, None]
        out = warped.astype(bool) if is_mask else warped
    return np.ascontiguousarray(out)


def pick_geometry(rng: np.random.Generator) -> dict[str, Any]:
    """A random geometry: most copies are straight, the rest flipped, turned or rescaled."""
    geom = identity()
    r = rng.random()
    if r < 0.4:
        pass
    elif r < 0.55:
        geom["flip"] = "h"
    elif r < 0.63:
        geom["flip"] = "v"
    elif r < 0.7:
        geom["rot90"] = int(rng.integers(1, 4))
    elif r < 0.85:
        geom["angle"] = round(float(rng.choice([-1, 1]) * rng.uniform(2, 20)), 2)
    else:
        s = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
        geom["scale"] = round(s if abs(s - 1) > 0.03 else 1.08, 3)
    return geom


def geometry_names(geom: dict[str, Any]) -> list[str]:
    """The meta's transform names for ``geom`` (empty when it is the identity)."""
    return [
        t
        for t in (
            {"h": "hflip", "v": "vflip"}.get(geom["flip"]),
            "rot90" if geom["rot90"] else None,
            "rotate" if geom["angle"] else None,
            "scale" if geom["scale"] != 1.0 else None,
        )
        if t
    ]


@dataclass
class Retouch:
    """A patch ready to paste and the retouching that made it.

    ``patch``: float32 like the transformed patch; ``alpha``: float32 (h, w) blend weight,
    zero outside the patch mask; ``names``: transform names in the order applied.
    """

    patch: np.ndarray
    alpha: np.ndarray
    photometric: dict[str, float] | None = None
    blur: float = 0.0
    feather: float = 0.0
    names: list[str] = field(default_factory=list)


def retouch(
    rng: np.random.Generator, patch: np.ndarray, pmask: np.ndarray, *, simple: bool = False
) -> Retouch:
    """Maybe re-light, blur and feather ``patch`` (float32) under ``pmask`` (bool (h, w)).

    ``simple``: leave the patch untouched and draw nothing from ``rng``, for the fallback
    forgery that must always be placeable.
    """
    out = Retouch(patch, pmask.astype(np.float32))
    if simple:
        return out
    if rng.random() < 0.25:
        out.photometric = {
            "gain": round(float(rng.uniform(0.85, 1.15)), 3),
            "bias": round(float(rng.uniform(-15, 15)), 2),
        }
        out.patch = out.patch * out.photometric["gain"] + out.photometric["bias"]
        out.names.append("brightness")
    if rng.random() < 0.12:
        out.blur = round(float(rng.uniform(0.5, 1.2)), 2)
        out.patch = cv2.GaussianBlur(out.patch, (0, 0), out.blur).reshape(out.patch.shape)
        out.names.append("blur")
    if rng.random() < 0.3 and min(pmask.shape) >= 6:
        out.feather = round(float(rng.uniform(0.8, 2.0)), 2)
        # Blend only inside the mask, so pixels outside it stay authentic.
        out.alpha = out.alpha * cv2.GaussianBlur(out.alpha, (0, 0), out.feather)
        out.names.append("feather")
    return out
