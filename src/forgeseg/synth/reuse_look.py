"""The look of a patch reused between panels: flip, 90/180 degree turn, rescale 0.8-1.6,
re-lighting, slight blur and JPEG compression, drawn once and applied to the pixels and,
through the same flip, turn and resize, to the mask."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "MAX_SCALE",
    "MIN_SCALE",
    "Look",
    "fit_scale",
    "look_names",
    "pick_look",
    "pre_shape",
    "retouch_patch",
    "turn",
    "warp",
]

MIN_SCALE, MAX_SCALE = 0.8, 1.6


@dataclass
class Look:
    """The transform and retouching of one reuse, drawn once."""

    flip: str = "none"
    rot90: int = 0
    scale: float = 1.0
    photometric: dict[str, float] | None = None
    blur: float = 0.0
    jpeg: int = 0
    names: list[str] = field(default_factory=list)


def pick_look(rng: np.random.Generator, turns: bool = True) -> Look:
    look = Look()
    look.flip = str(rng.choice(["none", "h", "v"], p=[0.5, 0.3, 0.2]))
    if turns:
        look.rot90 = int(rng.choice([0, 2, 1, 3], p=[0.6, 0.25, 0.075, 0.075]))
    if rng.random() < 0.65:
        look.scale = round(float(np.exp(rng.uniform(np.log(MIN_SCALE), np.log(MAX_SCALE)))), 3)
    if rng.random() < 0.35:
        look.photometric = {
            "gain": round(float(rng.uniform(0.8, 1.2)), 3),
            "bias": round(float(rng.uniform(-20, 20)), 2),
        }
    if rng.random() < 0.2:
        look.blur = round(float(rng.uniform(0.5, 1.0)), 2)
    if rng.random() < 0.3:
        look.jpeg = int(rng.integers(60, 91))
    return look


def look_names(look: Look) -> list[str]:
    flips = {"h": "hflip", "v": "vflip"}
    return [
        n
        for n, on in (
            (flips.get(look.flip, ""), look.flip != "none"),
            ("rot90" if look.rot90 % 2 else "rot180", look.rot90 != 0),
            ("scale", look.scale != 1.0),
            ("brightness", look.photometric is not None),
            ("blur", look.blur > 0),
            ("jpeg", look.jpeg > 0),
        )
        if on
    ]


def turn(a: np.ndarray, look: Look) -> np.ndarray:
    if look.flip == "h":
        a = a[:, ::-1]
    elif look.flip == "v":
        a = a[::-1]
    return np.rot90(a, look.rot90) if look.rot90 else a


def warp(crop: np.ndarray, look: Look, out_hw: tuple[int, int], mask: bool = False):
    """``crop`` (uint8 (h, w, 3) or bool (h, w)) flipped, turned, then resized to out_hw."""
    a = turn(crop, look)
    oh, ow = out_hw
    if a.shape[:2] != (oh, ow):
        if mask:
            a = cv2.resize(a.astype(np.uint8), (ow, oh), interpolation=cv2.INTER_NEAREST) > 0
        else:
            shrink = oh * ow < a.shape[0] * a.shape[1]
            a = cv2.resize(
                a, (ow, oh), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
    return np.ascontiguousarray(a)


def retouch_patch(patch: np.ndarray, look: Look) -> np.ndarray:
    """Re-light, blur and JPEG-compress a uint8 (h, w, 3) patch as ``look`` says."""
    out = patch.astype(np.float32)
    if look.photometric is not None:
        out = out * look.photometric["gain"] + look.photometric["bias"]
    if look.blur:
        out = cv2.GaussianBlur(out, (0, 0), look.blur)
    out8 = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if look.jpeg and min(out8.shape[:2]) >= 8:
        ok, buf = cv2.imencode(
            ".jpg", out8[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, look.jpeg]
        )
        if ok:
            out8 = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    return out8


def pre_shape(out_hw: tuple[int, int], look: Look) -> tuple[float, float]:
    """(h, w) of the source crop that ``look`` turns and scales into ``out_hw``."""
    oh, ow = out_hw
    if look.rot90 % 2:
        oh, ow = ow, oh
    return oh / look.scale, ow / look.scale


def fit_scale(look: Look, out_hw: tuple[int, int], room: tuple[int, int]) -> None:
    """Raise ``look.scale`` until the source crop for ``out_hw`` fits in ``room`` (h, w)."""
    ch, cw = pre_shape(out_hw, look)
    need = max(ch / room[0], cw / room[1])
    if need > 1:
        look.scale = round(look.scale * need + 1e-3, 3)
