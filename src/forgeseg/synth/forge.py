"""Copy-move forgery: copy a region of a figure and paste it elsewhere in the same figure.

What is copied mirrors what happens in papers: an object the renderer drew (a band, a lane,
a cell, a bar, a population), a rectangle, or a free-form lasso region; pasted one to three
times, inside its panel or into another panel, optionally flipped, rotated by 90 degrees or
a few degrees, rescaled, re-lit, blurred or feathered at the edge.

Invariants the tests and the training data rely on:
- only pixels under an instance's mask change, so the forged figure equals the authentic
  one outside the union of the masks;
- each mask channel marks the source region and all of its copies;
- boxes of sources and copies never overlap (with a margin), so no copy covers its own
  source or another instance;
- a source is never mostly text (labels, tick labels, scale bars) or flat background:
  forgers copy content, and a copied label would teach a model to flag the legitimately
  repeated glyphs it must ignore;
- the union covers 0.2% to 8% of the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from forgeseg.synth.canvas import Obj, blob_mask

__all__ = [
    "MAX_FRACTION",
    "MIN_FRACTION",
    "MIN_REGION",
    "PlacementError",
    "apply_geometry",
    "forge",
    "plain_map",
]

MIN_FRACTION = 0.002
MAX_FRACTION = 0.08
_MARGIN = 2  # px kept free between any two boxes, so feathering never touches a neighbour
# Smallest copied region, in pixels (about 16x16): a band, a cell, a lane, the least a forger
# moves and an analyst sees. Figures here are drawn smaller than real ones (128-640 px against
# up to 3888) to keep CPU runs short; sized by the real 0.2-7% fraction alone, a copy in a
# 130 px figure would be 6x6 px, a dot no method (and no annotator) could find.
MIN_REGION = 256
_MIN_STD = 6.0  # gray levels of content a copied region must hold, at least
_CANDIDATES = 6  # valid copy positions compared before choosing the best-blending one
_MIN_CHANGE = 10.0  # mean absolute change (gray levels) a paste must make: no invisible labels
# Objects whose copies usually replace a sibling (a band over a band, a bar over a bar).
_ALIGNED = ("band", "lane", "bar", "marker", "cell")
_MAX_TEXT = 0.25  # share of a source's pixels that may be text or scale bar, at most
_MAX_PLAIN = 0.6  # share that may be text or flat background together, at most
_FLAT_STD = 2.5  # local std (gray levels, after denoising) below which a pixel is flat
_BG_TOL = 12.0  # gray levels from the panel's commonest value that still count as background
_SOURCE_TRIES = 10
_SIMPLE_SOURCE_TRIES = 60

Rect = tuple[int, int, int, int]


class PlacementError(RuntimeError):
    """No copy-move forgery fits the figure (it holds too little content to copy)."""


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


@dataclass
class _Source:
    box: Rect
    mask: np.ndarray  # bool (y1-y0, x1-x0)
    kind: str
    panel: int


def _overlaps(box: Rect, used: list[Rect]) -> bool:
    y0, x0, y1, x1 = box
    return any(
        y0 < b[2] + _MARGIN and b[0] < y1 + _MARGIN and x0 < b[3] + _MARGIN and b[1] < x1 + _MARGIN
        for b in used
    )


def _panel_of(box: Rect, rects: list[Rect]) -> int:
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


def _global_std(img: np.ndarray) -> float:
    """Pixel std of the whole figure, on a strided subsample (cheap, same for both twins)."""
    return float(img[::4, ::4].astype(np.float32).std())


def _pick_source(
    rng: np.random.Generator,
    img: np.ndarray,
    rects: list[Rect],
    objects: list[Obj],
    area: float,
    used: list[Rect],
    min_std: float,
    plain: np.ndarray,
    tries: int = _SOURCE_TRIES,
) -> _Source | None:
    """Choose a region of about ``area`` px of ``img`` that overlaps nothing in ``used``.

    Regions must hold some content (pixel std above a floor, and not mostly text or flat
    background by ``plain``, see :func:`plain_map`): copying flat background onto flat
    background changes nothing and would teach a model to mark invisible regions.
    """
    H, W = img.shape[:2]
    if objects and rng.random() < 0.65:
        areas = np.array([(o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) for o in objects], float)
        # Objects a little under the floor still pass (a band is thin); a lone 8 px cell does not.
        fit = np.flatnonzero((areas > max(area / 6, MIN_REGION / 2)) & (areas < area * 4))
        if fit.size:
            o = objects[int(rng.choice(fit))]
            y0, x0, y1, x1 = o.box
            pad = int(rng.integers(0, 4))
            py0, px0 = max(0, y0 - pad), max(0, x0 - pad)
            py1, px1 = min(H, y1 + pad), min(W, x1 + pad)
            box = (py0, px0, py1, px1)
            if _overlaps(box, used):
                return None
            if o.mask is not None and rng.random() < 0.6:
                m = np.zeros((py1 - py0, px1 - px0), np.uint8)
                m[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0] = o.mask
                if pad:
                    m = cv2.dilate(m, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
                src = _Source(box, m.astype(bool), f"object:{o.name}", _panel_of(box, rects))
            else:
                # A rectangle drawn around the object: the usual selection for a band or lane.
                src = _Source(
                    box,
                    np.ones((py1 - py0, px1 - px0), bool),
                    f"object_box:{o.name}",
                    _panel_of(box, rects),
                )
            return None if _too_plain(plain, src.box, src.mask) else src
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
            not _overlaps(box, used)
            and not _too_plain(plain, box, mask)
            and _std(img, box, mask) >= min_std
        ):
            return _Source(box, mask, "freeform" if freeform else "rect", p)
    return None


def _pick_geometry(rng: np.random.Generator) -> dict[str, Any]:
    geom: dict[str, Any] = {"flip": "none", "rot90": 0, "angle": 0.0, "scale": 1.0}
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


def _place(
    rng: np.random.Generator,
    img: np.ndarray,
    src: _Source,
    patch: np.ndarray,
    pmask: np.ndarray,
    rects: list[Rect],
    used: list[Rect],
    slots: list[tuple[float, float]],
    min_change: float,
) -> Rect | None:
    """A free box for one copy of ``patch`` (float32, like ``img``) that visibly changes
    ``img`` under ``pmask``, or None after a bounded number of tries.

    ``slots``: centres (y, x) of objects like the source (other bands, bars...); a copy
    centred on one replaces that object, the way a duplicated band replaces a real one.
    """
    ph, pw = pmask.shape
    # Among a few valid spots keep the one whose content is closest to the patch: forgers
    # paste a band over a band and cells over cells, so the copy blends in.
    best, best_diff, found = None, np.inf, 0
    for _ in range(60):
        same = len(rects) == 1 or rng.random() < 0.65
        p = src.panel if same else int(rng.integers(0, len(rects)))
        ry0, rx0, ry1, rx1 = rects[p]
        if ry1 - ry0 < ph or rx1 - rx0 < pw:
            continue
        if slots and rng.random() < 0.8:
            cy, cx = slots[int(rng.integers(0, len(slots)))]
            p = _panel_of((int(cy), int(cx), int(cy) + 1, int(cx) + 1), rects)
            ry0, rx0, ry1, rx1 = rects[p]
            if ry1 - ry0 < ph or rx1 - rx0 < pw:
                continue
            y = int(np.clip(round(cy - ph / 2 + rng.normal(0, 1)), ry0, ry1 - ph))
            x = int(np.clip(round(cx - pw / 2 + rng.normal(0, 1)), rx0, rx1 - pw))
        else:
            y = int(rng.integers(ry0, ry1 - ph + 1))
            x = int(rng.integers(rx0, rx1 - pw + 1))
        box = (y, x, y + ph, x + pw)
        if _overlaps(box, used):
            continue
        region = img[y : y + ph, x : x + pw].astype(np.float32)
        diff = float(np.abs(region - patch.reshape(region.shape))[pmask].mean())
        if diff < min_change:
            continue
        found += 1
        if diff < best_diff:
            best, best_diff = box, diff
        if found >= _CANDIDATES:
            break
    return best


def _instance(
    rng: np.random.Generator,
    out: np.ndarray,
    mask_out: np.ndarray,
    rects: list[Rect],
    objects: list[Obj],
    area: float,
    used: list[Rect],
    force_simple: bool,
    plain: np.ndarray,
) -> dict[str, Any] | None:
    """Copy one region to 1-3 places in ``out`` (uint8 (H, W, C), modified in place).

    ``mask_out`` (bool (H, W)) receives the source and copies; ``plain`` is the figure's
    :func:`plain_map`. Returns the instance's meta, or None (with nothing modified) when no
    placement was found.
    """
    n_copies = 1 if force_simple else int(rng.choice([1, 2, 3], p=[0.65, 0.25, 0.1]))
    src = _pick_source(
        rng,
        out,
        rects,
        [] if force_simple else objects,
        max(area / (1 + n_copies), MIN_REGION),
        used,
        0.0 if force_simple else max(_MIN_STD, 0.35 * _global_std(out)),
        plain,
        _SIMPLE_SOURCE_TRIES if force_simple else _SOURCE_TRIES,
    )
    if src is None or src.mask.sum() < 3:
        return None
    y0, x0, y1, x1 = src.box
    geom = (
        {"flip": "none", "rot90": 0, "angle": 0.0, "scale": 1.0}
        if force_simple
        else _pick_geometry(rng)
    )
    patch = apply_geometry(out[y0:y1, x0:x1], geom).astype(np.float32)
    pmask = apply_geometry(src.mask, geom, is_mask=True)
    if pmask.sum() < 3:
        return None
    transforms = [
        t
        for t in (
            {"h": "hflip", "v": "vflip"}.get(geom["flip"]),
            "rot90" if geom["rot90"] else None,
            "rotate" if geom["angle"] else None,
            "scale" if geom["scale"] != 1.0 else None,
        )
        if t
    ]
    photometric = None
    if not force_simple and rng.random() < 0.25:
        photometric = {
            "gain": round(float(rng.uniform(0.85, 1.15)), 3),
            "bias": round(float(rng.uniform(-15, 15)), 2),
        }
        patch = patch * photometric["gain"] + photometric["bias"]
        transforms.append("brightness")
    blur = 0.0
    if not force_simple and rng.random() < 0.12:
        blur = round(float(rng.uniform(0.5, 1.2)), 2)
        patch = cv2.GaussianBlur(patch, (0, 0), blur).reshape(patch.shape)
        transforms.append("blur")
    feather = 0.0
    alpha = pmask.astype(np.float32)
    if not force_simple and rng.random() < 0.3 and min(pmask.shape) >= 6:
        feather = round(float(rng.uniform(0.8, 2.0)), 2)
        # Blend only inside the mask, so pixels outside it stay authentic.
        alpha = alpha * cv2.GaussianBlur(alpha, (0, 0), feather)
        transforms.append("feather")
    name = src.kind.split(":")[-1]
    slots = []
    if name in _ALIGNED and rng.random() < 0.7:
        slots = [
            ((o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2)
            for o in objects
            if o.name == name and not _overlaps(o.box, [src.box])
        ]
    taken = [*used, src.box]
    copies: list[Rect] = []
    for _ in range(n_copies):
        box = _place(
            rng, out, src, patch, pmask, rects, taken, slots, 0.0 if force_simple else _MIN_CHANGE
        )
        if box is None:
            if not copies:
                return None
            break
        copies.append(box)
        taken.append(box)
    a = alpha[:, :, None] if out.ndim == 3 else alpha
    for ty0, tx0, ty1, tx1 in copies:
        region = out[ty0:ty1, tx0:tx1].astype(np.float32)
        blended = region * (1 - a) + patch.reshape(region.shape) * a
        out[ty0:ty1, tx0:tx1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        mask_out[ty0:ty1, tx0:tx1] |= pmask
    mask_out[y0:y1, x0:x1] |= src.mask
    used.append(src.box)
    used.extend(copies)
    cross = any(_panel_of(c, rects) != src.panel for c in copies)
    return {
        "source": src.kind,
        "source_box": list(src.box),
        "copies": [list(c) for c in copies],
        "geometry": geom,
        "photometric": photometric,
        "blur": blur,
        "feather": feather,
        "exact": photometric is None
        and not blur
        and not feather
        and not geom["angle"]
        and geom["scale"] == 1.0,
        "cross_panel": cross,
        "transforms": transforms or ["none"],
    }


def forge(
    rng: np.random.Generator,
    image: np.ndarray,
    rects: list[Rect],
    objects: list[Obj],
    text: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Forge a copy of ``image`` (uint8 (H, W) or (H, W, C)); the input is not modified.

    ``rects``: panel boxes (y0, x0, y1, x1); ``objects``: copyable objects in figure pixels;
    ``text``: bool (H, W) marking text and scale bars, never chosen as a source.
    Returns (forged uint8 like ``image``, masks bool (N, H, W) with 1 <= N <= 3, per-instance
    meta dicts). The union of the masks covers MIN_FRACTION..MAX_FRACTION of the figure.
    Raises :class:`PlacementError` when no forgery fits (a figure that is nearly all flat
    background, say).
    """
    H, W = image.shape[:2]
    total = H * W
    plain = plain_map(image, rects, text)
    for attempt in range(40):
        # After many failures fall back to one plain rectangle copied once: always placeable.
        simple = attempt >= 30
        n_inst = 1 if simple else int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
        frac = 0.01 if simple else float(np.exp(rng.uniform(np.log(0.004), np.log(0.05))))
        out = image.copy()
        used: list[Rect] = []
        masks, metas = [], []
        for _ in range(n_inst):
            m = np.zeros((H, W), bool)
            meta = None
            for _ in range(6):
                meta = _instance(
                    rng, out, m, rects, objects, frac * total / n_inst, used, simple, plain
                )
                if meta is not None:
                    break
            if meta is not None:
                masks.append(m)
                metas.append(meta)
        if not masks:
            continue
        stack = np.stack(masks)
        union = float(stack.any(axis=0).sum()) / total
        if MIN_FRACTION <= union <= MAX_FRACTION:
            return out, stack, metas
    raise PlacementError(f"could not place a copy-move forgery in a {H}x{W} figure")
