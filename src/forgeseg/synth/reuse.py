"""Reuse between panels: the duplications of retracted papers' compound figures.

Four kinds (``REUSE_KINDS``), each possibly flipped, turned by 90 or 180 degrees, rescaled
0.8-1.6, cropped, re-lit, slightly blurred and JPEG-compressed on its way:

- ``duplicated_panel``: one panel shows (a crop of) another panel;
- ``overlapping_view``: two panels cut from one image with 20-80% overlap, maybe at
  different zoom;
- ``blot_lane``: a lane or a strip of bands of one blot reused in another blot panel;
- ``panel_part``: 10-50% of one panel pasted into another.

Reuse happens on the raw panels, before letters and scale bars are drawn on top, as an
author assembles a figure. The authentic twin has the same layout with every panel from
its own source. Each instance's mask marks both sides (for an overlapping view, the shared
field on both panels) and follows the geometry; it may cover much of the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from forgeseg.synth.canvas import Panel, blob_mask
from forgeseg.synth.compound import (
    PANEL_WEIGHTS,
    Figure,
    add_panel,
    cells,
    decorate,
    finish,
    grid,
    render_panel,
)
from forgeseg.synth.forge import PlacementError
from forgeseg.synth.kinds import render_single
from forgeseg.synth.reuse_look import (
    MAX_SCALE,
    Look,
    fit_scale,
    look_names,
    pick_look,
    pre_shape,
    retouch_patch,
    turn,
    warp,
)

__all__ = ["REUSE_KINDS", "ReuseFigure", "render_reuse"]

Rect = tuple[int, int, int, int]  # y0, x0, y1, x1 (end exclusive)

REUSE_KINDS = ("duplicated_panel", "overlapping_view", "blot_lane", "panel_part")
_KIND_P = np.array([0.3, 0.25, 0.25, 0.2])
_BLOTS = ("western_blot", "gel")
_FIELDS = ("fluorescence", "histology")  # one large field renders well at any size
# Panel kinds each reuse can happen between (charts and flow plots are redrawn, not reused).
_NEEDS = {
    "duplicated_panel": (*_BLOTS, *_FIELDS, "photo"),
    "overlapping_view": _FIELDS,
    "blot_lane": _BLOTS,
    "panel_part": (*_BLOTS, *_FIELDS, "photo"),
}


@dataclass
class ReuseFigure:
    """A compound figure with reuse between panels.

    ``authentic``: the figure with every panel from its own source (a :class:`Panel` of kind
    ``compound`` with layout and annotations); ``forged``: uint8 (H, W, 3), the same figure
    with the reuse; ``masks``: bool (N, H, W), N = 1 or 2; ``instances``: one meta dict per
    instance (``reuse`` names its kind); ``rects``: the panel rects (y0, x0, y1, x1).
    """

    authentic: Panel
    forged: np.ndarray
    masks: np.ndarray
    instances: list[dict[str, Any]]
    rects: list[Rect]


def _rand_box(rng: np.random.Generator, h: int, w: int, bh: int, bw: int) -> Rect:
    y, x = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
    return y, x, y + bh, x + bw


def _duplicate(rng, src: np.ndarray, dst: np.ndarray, look: Look):
    """Panel ``dst`` replaced by a turned, rescaled crop of ``src``: (src mask, dst mask)."""
    out_hw = dst.shape[:2]
    if look.rot90 % 2 and pre_shape(out_hw, look)[0] > src.shape[0] * MAX_SCALE:
        look.rot90 = 2  # a quarter turn of a wide panel cannot fill a wide panel
    fit_scale(look, out_hw, src.shape[:2])
    pre_h, pre_w = pre_shape(out_hw, look)
    ch, cw = max(1, min(round(pre_h), src.shape[0])), max(1, min(round(pre_w), src.shape[1]))
    box = _rand_box(rng, src.shape[0], src.shape[1], ch, cw)
    y0, x0, y1, x1 = box
    dst[:] = retouch_patch(warp(src[y0:y1, x0:x1], look, out_hw), look)
    smask = np.zeros(src.shape[:2], bool)
    smask[y0:y1, x0:x1] = True
    return smask, np.ones(out_hw, bool)


def _paste_region(rng, src, dst, look, box: Rect, region: np.ndarray, at: Rect | None = None):
    """Paste ``src``'s ``region`` (bool, inside ``box``) into ``dst`` through ``look``, at
    ``at`` or a random free spot; returns (src mask, dst mask) or None when it cannot fit."""
    y0, x0, y1, x1 = box
    ph, pw = turn(region, look).shape
    oh, ow = max(2, round(ph * look.scale)), max(2, round(pw * look.scale))
    if at is None:
        if oh > dst.shape[0] or ow > dst.shape[1]:
            return None
        at = _rand_box(rng, dst.shape[0], dst.shape[1], oh, ow)
    ty0, tx0, ty1, tx1 = at
    oh, ow = ty1 - ty0, tx1 - tx0
    patch = retouch_patch(warp(src[y0:y1, x0:x1], look, (oh, ow)), look)
    pmask = warp(region, look, (oh, ow), mask=True)
    dst[ty0:ty1, tx0:tx1][pmask] = patch[pmask]
    smask = np.zeros(src.shape[:2], bool)
    smask[y0:y1, x0:x1] = region
    dmask = np.zeros(dst.shape[:2], bool)
    dmask[ty0:ty1, tx0:tx1] = pmask
    return smask, dmask


def _part(rng, src: np.ndarray, dst: np.ndarray, look: Look):
    """10-50% of ``src`` pasted into ``dst`` (a rectangle or a lasso selection)."""
    h, w = src.shape[:2]
    frac = rng.uniform(0.1, 0.5)
    aspect = np.exp(rng.uniform(-0.5, 0.5))
    bh = int(np.clip(round(np.sqrt(frac * h * w / aspect)), 4, h))
    bw = int(np.clip(round(frac * h * w / bh), 4, w))
    room = dst.shape[:2]
    fit_scale(look, (bh, bw) if look.rot90 % 2 == 0 else (bw, bh), room)
    look.scale = round(
        min(look.scale, min(room[0] / bh, room[1] / bw, room[0] / bw, room[1] / bh)), 3
    )
    box = _rand_box(rng, h, w, bh, bw)
    region = blob_mask(rng, bh, bw) if rng.random() < 0.4 else np.ones((bh, bw), bool)
    return _paste_region(rng, src, dst, look, box, region)


def _lane_box(rng, panel: Panel) -> Rect:
    """A lane (a drawn lane object, or a vertical strip) or a horizontal strip of bands."""
    h, w = panel.image.shape[:2]
    lanes = [o.box for o in panel.objects if o.name == "lane"]
    if lanes and rng.random() < 0.6:
        return lanes[int(rng.integers(0, len(lanes)))]
    if rng.random() < 0.6:
        bw, bh = max(4, int(w * rng.uniform(0.08, 0.2))), max(8, int(h * rng.uniform(0.5, 0.95)))
    else:
        bw, bh = max(8, int(w * rng.uniform(0.4, 0.9))), max(4, int(h * rng.uniform(0.12, 0.3)))
    return _rand_box(rng, h, w, min(bh, h), min(bw, w))


def _lane(rng, src: Panel, dst: np.ndarray, look: Look):
    """A lane or strip of blot ``src`` reused somewhere in blot panel ``dst``."""
    box = _lane_box(rng, src)
    bh, bw = box[2] - box[0], box[3] - box[1]
    room = dst.shape[:2]
    look.scale = round(min(look.scale, room[0] / bh, room[1] / bw), 3)
    return _paste_region(rng, src.image, dst, look, box, np.ones((bh, bw), bool))


def _overlap(rng, kind: str, a_hw: tuple[int, int], b_hw: tuple[int, int], look: Look):
    """Panels A and B cut from one field with 20-80% overlap (B maybe zoomed, flipped or
    turned): (A image, B image, A mask, B mask, overlap share), or None if none fits."""
    ha, wa = a_hw
    fh, fw = (max(4, round(v)) for v in pre_shape(b_hw, look))
    for _ in range(60):
        dy = int(rng.integers(-int(fh * 0.8), max(1 - int(fh * 0.8), int(ha - fh * 0.2))))
        dx = int(rng.integers(-int(fw * 0.8), max(1 - int(fw * 0.8), int(wa - fw * 0.2))))
        iy = max(0, min(ha, dy + fh) - max(0, dy))
        ix = max(0, min(wa, dx + fw) - max(0, dx))
        share = iy * ix / min(ha * wa, fh * fw)
        if 0.2 <= share <= 0.8:
            break
    else:
        return None
    oy, ox = -min(0, dy), -min(0, dx)  # where A's field starts in the big one
    big = render_single(rng, kind, max(ha, dy + fh) + oy, max(wa, dx + fw) + ox).image
    shared = np.zeros(big.shape[:2], bool)
    shared[
        max(oy, dy + oy) : min(oy + ha, dy + oy + fh), max(ox, dx + ox) : min(ox + wa, dx + ox + fw)
    ] = True
    a_img = big[oy : oy + ha, ox : ox + wa].copy()
    b_field = (slice(dy + oy, dy + oy + fh), slice(dx + ox, dx + ox + fw))
    b_img = retouch_patch(warp(big[b_field], look, b_hw), look)
    a_mask = shared[oy : oy + ha, ox : ox + wa]
    b_mask = warp(shared[b_field], look, b_hw, mask=True)
    return a_img, b_img, a_mask, b_mask, round(share, 3)


def _plan(rng: np.random.Generator, n_cells: int) -> tuple[list[tuple[str, int, int]], list[str]]:
    """The reuses (kind, source cell, target cell) of a figure and the kind of every cell."""
    n_inst = 2 if n_cells >= 4 and rng.random() < 0.3 else 1
    order = [int(i) for i in rng.permutation(n_cells)]
    kinds: list[str | None] = [None] * n_cells
    pairs = []
    for i in range(n_inst):
        reuse = REUSE_KINDS[int(rng.choice(len(REUSE_KINDS), p=_KIND_P))]
        if reuse == "duplicated_panel" and n_cells < 4:
            reuse = "panel_part"  # a whole panel of two or three is most of the figure
        a, b = order[2 * i], order[2 * i + 1]
        kinds[a] = kinds[b] = str(rng.choice(_NEEDS[reuse]))
        pairs.append((reuse, a, b))
    names = list(PANEL_WEIGHTS)
    p = np.array([PANEL_WEIGHTS[k] for k in names])
    same = rng.random() < 0.6
    first = kinds[pairs[0][1]]
    rest = [first if same else str(rng.choice(names, p=p / p.sum())) for _ in range(n_cells)]
    return pairs, [k if k is not None else r for k, r in zip(kinds, rest, strict=True)]


def _bbox(mask: np.ndarray, rect: Rect) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [
        int(ys.min()) + rect[0],
        int(xs.min()) + rect[1],
        int(ys.max()) + 1 + rect[0],
        int(xs.max()) + 1 + rect[1],
    ]


def _reuse_one(
    rng, reuse: str, a: int, b: int, panels: list[Panel], forged: list[np.ndarray], kinds: list[str]
):
    """Apply one reuse from cell ``a`` to cell ``b`` in place: (A mask, B mask, look, extra)."""
    look = pick_look(rng)
    extra: dict[str, Any] = {}
    if reuse in ("overlapping_view", "blot_lane") and look.rot90 % 2:
        look.rot90 = 2
    if reuse == "overlapping_view":
        got = _overlap(rng, kinds[a], panels[a].image.shape[:2], forged[b].shape[:2], look)
        if got is None:
            return None
        a_img, forged[b], a_mask, b_mask, extra["overlap"] = got
        panels[a] = Panel(
            a_img, kinds[a], [], panels[a].hard_negatives, panels[a].gray, panels[a].annotations
        )
        forged[a] = a_img.copy()
        return a_mask, b_mask, look, extra
    if reuse == "duplicated_panel":
        got = _duplicate(rng, panels[a].image, forged[b], look)
    elif reuse == "blot_lane":
        got = _lane(rng, panels[a], forged[b], look)
    else:
        got = _part(rng, panels[a].image, forged[b], look)
    return None if got is None else (*got, look, extra)


def _meta(
    reuse: str, a: int, b: int, rects: list[Rect], masks, look: Look, extra
) -> dict[str, Any]:
    exact = look.scale == 1.0 and look.photometric is None and not look.blur and not look.jpeg
    return {
        "reuse": reuse,
        "source": f"panel:{a}",
        "source_panel": a,
        "target_panel": b,
        "source_box": _bbox(masks[0], rects[a]),
        "copies": [_bbox(masks[1], rects[b])],
        "geometry": {"flip": look.flip, "rot90": look.rot90, "angle": 0.0, "scale": look.scale},
        "photometric": look.photometric,
        "blur": look.blur,
        "feather": 0.0,
        "jpeg": look.jpeg,
        "exact": exact,
        "cross_panel": True,
        "transforms": look_names(look) or ["none"],
        **extra,
    }


def render_reuse(rng: np.random.Generator, h: int, w: int) -> ReuseFigure:
    """A compound (h, w) figure with one or two reuses between its panels, and its
    authentic twin. Raises :class:`PlacementError` when the grid has under two panels or a
    reuse finds no room (the caller draws another figure)."""
    rects = cells(*grid(rng, h, w), h, w)
    if len(rects) < 2:
        raise PlacementError(f"a {h}x{w} compound figure has under two panels to reuse")
    pairs, kinds = _plan(rng, len(rects))
    taken: dict[str, list[Rect]] = {}
    panels: list[Panel] = []
    for j, (y0, x0, y1, x1) in enumerate(rects):
        panel, kinds[j] = render_panel(rng, kinds[j], y1 - y0, x1 - x0, taken)
        panels.append(panel)
    forged = [p.image.copy() for p in panels]
    masks, metas = [], []
    for reuse, a, b in pairs:
        got = _reuse_one(rng, reuse, a, b, panels, forged, kinds)
        if got is None:
            raise PlacementError(f"no room for a {reuse} reuse in a {h}x{w} figure")
        a_mask, b_mask, look, extra = got
        m = np.zeros((h, w), bool)
        m[rects[a][0] : rects[a][2], rects[a][1] : rects[a][3]] |= a_mask
        m[rects[b][0] : rects[b][2], rects[b][1] : rects[b][3]] |= b_mask
        masks.append(m)
        metas.append(_meta(reuse, a, b, rects, (a_mask, b_mask), look, extra))
    fig = Figure(np.full((h, w, 3), 255, np.uint8), np.zeros((h, w), bool))
    out = fig.img.copy()
    bar_seed = int(rng.integers(0, 2**31))
    letter_scale = max(0.35, min(h, w) / 500)
    for j, rect in enumerate(rects):
        y0, x0, y1, x1 = rect
        ptext = fig.text[y0:y1, x0:x1]  # a view: marks land in ``fig.text``
        if panels[j].annotations is not None:
            ptext |= panels[j].annotations
        images = [panels[j].image, forged[j]]
        marks = decorate(rng, images, kinds[j], ptext, j, bar_seed, letter_scale)
        add_panel(fig, panels[j], kinds[j], rect, marks)
        out[y0:y1, x0:x1] = forged[j]
    return ReuseFigure(finish(fig), out, np.stack(masks), metas, rects)
