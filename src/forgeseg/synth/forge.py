"""Copy-move forgery: copy a region of a figure and paste it elsewhere in the same figure.

What is copied mirrors what happens in papers: an object the renderer drew (a band, a lane,
a cell, a bar, a population), a rectangle, or a free-form lasso region; pasted one to three
times, inside its panel or into another panel, optionally flipped, rotated by 90 degrees or
a few degrees, rescaled, re-lit, blurred or feathered at the edge. Choosing the source lives
in :mod:`forgeseg.synth.regions`, transforming the patch in :mod:`forgeseg.synth.patch`;
this module places the copies and keeps the whole forgery within its size budget.

Invariants the tests and the training data rely on:
- only pixels under an instance's mask change, so the forged figure equals the authentic
  one outside the union of the masks;
- each mask channel marks the source region and all of its copies;
- boxes of sources and copies never overlap (with a margin), so no copy covers its own
  source or another instance;
- a source is never mostly text (labels, tick labels, scale bars) or flat background;
- the union covers 0.2% to 8% of the figure.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forgeseg.synth.canvas import Obj
from forgeseg.synth.patch import (
    Retouch,
    apply_geometry,
    geometry_names,
    identity,
    pick_geometry,
    retouch,
)
from forgeseg.synth.regions import (
    MIN_REGION,
    SOURCE_TRIES,
    Rect,
    Source,
    global_std,
    overlaps,
    panel_of,
    pick_source,
    plain_map,
)

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
_MIN_STD = 6.0  # gray levels of content a copied region must hold, at least
_CANDIDATES = 6  # valid copy positions compared before choosing the best-blending one
_MIN_CHANGE = 10.0  # mean absolute change (gray levels) a paste must make: no invisible labels
# Objects whose copies usually replace a sibling (a band over a band, a bar over a bar).
_ALIGNED = ("band", "lane", "bar", "marker", "cell")
_SIMPLE_SOURCE_TRIES = 60  # the fallback needs a source, however plain the figure


class PlacementError(RuntimeError):
    """No copy-move forgery fits the figure (it holds too little content to copy)."""


def _place(
    rng: np.random.Generator,
    img: np.ndarray,
    src: Source,
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
            p = panel_of((int(cy), int(cx), int(cy) + 1, int(cx) + 1), rects)
            ry0, rx0, ry1, rx1 = rects[p]
            if ry1 - ry0 < ph or rx1 - rx0 < pw:
                continue
            y = int(np.clip(round(cy - ph / 2 + rng.normal(0, 1)), ry0, ry1 - ph))
            x = int(np.clip(round(cx - pw / 2 + rng.normal(0, 1)), rx0, rx1 - pw))
        else:
            y = int(rng.integers(ry0, ry1 - ph + 1))
            x = int(rng.integers(rx0, rx1 - pw + 1))
        box = (y, x, y + ph, x + pw)
        if overlaps(box, used):
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


def _slots(rng: np.random.Generator, src: Source, objects: list[Obj]) -> list[tuple[float, float]]:
    """Centres of the source's siblings a copy may replace (none for most kinds of source)."""
    name = src.kind.split(":")[-1]
    if name in _ALIGNED and rng.random() < 0.7:
        return [
            ((o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2)
            for o in objects
            if o.name == name and not overlaps(o.box, [src.box])
        ]
    return []


def _copies(
    rng: np.random.Generator,
    out: np.ndarray,
    src: Source,
    look: Retouch,
    pmask: np.ndarray,
    rects: list[Rect],
    used: list[Rect],
    slots: list[tuple[float, float]],
    n_copies: int,
    min_change: float,
) -> list[Rect]:
    """Boxes for up to ``n_copies`` copies, stopping at the first that finds no room."""
    taken = [*used, src.box]
    copies: list[Rect] = []
    for _ in range(n_copies):
        box = _place(rng, out, src, look.patch, pmask, rects, taken, slots, min_change)
        if box is None:
            break
        copies.append(box)
        taken.append(box)
    return copies


def _paste(
    out: np.ndarray,
    mask_out: np.ndarray,
    src: Source,
    look: Retouch,
    pmask: np.ndarray,
    copies: list[Rect],
) -> None:
    """Blend the patch into ``out`` at every copy and mark source and copies in ``mask_out``."""
    a = look.alpha[:, :, None] if out.ndim == 3 else look.alpha
    for ty0, tx0, ty1, tx1 in copies:
        region = out[ty0:ty1, tx0:tx1].astype(np.float32)
        blended = region * (1 - a) + look.patch.reshape(region.shape) * a
        out[ty0:ty1, tx0:tx1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        mask_out[ty0:ty1, tx0:tx1] |= pmask
    y0, x0, y1, x1 = src.box
    mask_out[y0:y1, x0:x1] |= src.mask


def _meta(
    src: Source, copies: list[Rect], geom: dict[str, Any], look: Retouch, rects: list[Rect]
) -> dict[str, Any]:
    """One instance's meta, as recorded in ``Case.meta["instances"]``."""
    transforms = geometry_names(geom) + look.names
    return {
        "source": src.kind,
        "source_box": list(src.box),
        "copies": [list(c) for c in copies],
        "geometry": geom,
        "photometric": look.photometric,
        "blur": look.blur,
        "feather": look.feather,
        "exact": look.photometric is None
        and not look.blur
        and not look.feather
        and not geom["angle"]
        and geom["scale"] == 1.0,
        "cross_panel": any(panel_of(c, rects) != src.panel for c in copies),
        "transforms": transforms or ["none"],
    }


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
    placement was found. ``force_simple``: one exact rectangle copied once, the fallback.
    """
    n_copies = 1 if force_simple else int(rng.choice([1, 2, 3], p=[0.65, 0.25, 0.1]))
    src = pick_source(
        rng,
        out,
        rects,
        [] if force_simple else objects,
        max(area / (1 + n_copies), MIN_REGION),
        used,
        0.0 if force_simple else max(_MIN_STD, 0.35 * global_std(out)),
        plain,
        _SIMPLE_SOURCE_TRIES if force_simple else SOURCE_TRIES,
    )
    if src is None or src.mask.sum() < 3:
        return None
    y0, x0, y1, x1 = src.box
    geom = identity() if force_simple else pick_geometry(rng)
    patch = apply_geometry(out[y0:y1, x0:x1], geom).astype(np.float32)
    pmask = apply_geometry(src.mask, geom, is_mask=True)
    if pmask.sum() < 3:
        return None
    look = retouch(rng, patch, pmask, simple=force_simple)
    slots = _slots(rng, src, objects)
    min_change = 0.0 if force_simple else _MIN_CHANGE
    copies = _copies(rng, out, src, look, pmask, rects, used, slots, n_copies, min_change)
    if not copies:
        return None
    _paste(out, mask_out, src, look, pmask, copies)
    used.append(src.box)
    used.extend(copies)
    return _meta(src, copies, geom, look, rects)


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
