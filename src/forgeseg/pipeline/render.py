"""Pictures for people: prediction overlays, captioned thumbnails and contact sheets.

Conventions (see docs/ARCHITECTURE.md): figures are ``uint8`` RGB ``(H, W, 3)``; masks are
``bool`` ``(N, H, W)``, one channel per forgery instance (source and copies together).

- :func:`overlay` paints predicted instances as a translucent red fill (one shade per
  instance, all red-dominant) and true instances as green contours, leaving every other
  pixel of the figure untouched.
- :func:`label_tile` letterboxes a figure into a square thumbnail with a caption band.
- :func:`contact_sheet` lays tiles out on a grid with gutters.
- :func:`contact_sheet_by_kind` picks a few figures of every kind in a dataset and shows
  each beside its truth overlay; the ``eda`` stage writes it as a DVC image plot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from forgeseg.data.layout import Record

__all__ = [
    "PRED_COLORS",
    "TRUE_COLOR",
    "contact_sheet",
    "contact_sheet_by_kind",
    "label_tile",
    "overlay",
    "thumbnail",
]

# Red, orange, magenta, crimson, ...: distinct enough to tell instances apart, and every
# one keeps red as its strongest channel so "red means predicted" holds for all of them.
PRED_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (255, 140, 0),
    (230, 0, 200),
    (180, 0, 40),
    (255, 90, 110),
    (240, 200, 0),
)
TRUE_COLOR: tuple[int, int, int] = (0, 255, 0)

_BACKGROUND = 40  # gutters and letterbox padding: dark grey, distinct from white figures
_LETTERBOX_FILL = 64
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"{name} must be a uint8 array, got {dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"{name} must be RGB (H, W, 3), got shape {image.shape}; "
            "decode figures with forgeseg.core.imageio.read_image"
        )
    return image


def _check_masks(masks: np.ndarray | None, shape: tuple[int, int], name: str) -> np.ndarray:
    """Return ``masks`` as bool (N, H, W); a single (H, W) mask counts as one instance."""
    if masks is None:
        return np.zeros((0, *shape), bool)
    masks = np.asarray(masks)
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3 or masks.shape[1:] != shape:
        raise ValueError(f"{name} must be (N, {shape[0]}, {shape[1]}) masks, got {masks.shape}")
    return masks.astype(bool, copy=False)


def _contour_thickness(shape: tuple[int, int]) -> int:
    # One pixel on thumbnails, a few on 4k figures so the contour survives downscaling.
    return max(1, round(max(shape) / 400))


def overlay(
    image: np.ndarray,
    pred: np.ndarray | None,
    true: np.ndarray | None = None,
    *,
    alpha: float = 0.45,
) -> np.ndarray:
    """Paint predicted instances red (filled) and true instances green (contours).

    Args:
        image: uint8 (H, W, 3) RGB figure; never modified.
        pred: bool (N, H, W) predicted instances (or one (H, W) mask, or None). Instance
            ``i`` gets ``PRED_COLORS[i % len(PRED_COLORS)]`` blended at ``alpha``; where
            instances overlap the later one wins, so overlaps are not blended twice.
        true: bool (M, H, W) true instances (or None), drawn as green contours on top of
            the fill, thickness scaled to the figure size.
        alpha: opacity of the fill, in [0, 1].

    Returns:
        uint8 (H, W, 3): a new array, equal to ``image`` wherever neither a predicted
        pixel nor a true contour lies.
    """
    _check_image(image)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    shape = image.shape[:2]
    pred_m = _check_masks(pred, shape, "pred")
    true_m = _check_masks(true, shape, "true")
    out = image.copy()

    if pred_m.shape[0]:
        color_index = np.full(shape, -1, np.int16)
        for i, inst in enumerate(pred_m):
            color_index[inst] = i % len(PRED_COLORS)
        painted = color_index >= 0
        palette = np.asarray(PRED_COLORS, np.float32)
        colors = palette[color_index[painted]]
        blended = (1.0 - alpha) * image[painted].astype(np.float32) + alpha * colors
        out[painted] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)

    thickness = _contour_thickness(shape)
    for inst in true_m:
        if not inst.any():
            continue
        contours, _ = cv2.findContours(
            inst.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(out, contours, -1, TRUE_COLOR, thickness)
    return out


def thumbnail(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Resize ``image`` (H, W, 3) uint8 so its long side is ``size``; keep the aspect ratio.

    Returns the resized uint8 (h, w, 3) image and its ``(h, w)``. INTER_AREA because
    figures are mostly shrunk, and area averaging does not alias thin gel bands.
    """
    _check_image(image)
    if size < 1:
        raise ValueError(f"thumbnail size must be positive, got {size}")
    h, w = image.shape[:2]
    scale = size / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST
    return cv2.resize(image, (tw, th), interpolation=interp), (th, tw)


def _shrink_masks(masks: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """bool (N, H, W) -> bool (N, h, w); any covered source pixel keeps the target pixel set,
    so regions of 0.2% of a figure stay visible on a thumbnail."""
    h, w = hw
    out = np.zeros((masks.shape[0], h, w), bool)
    for i, inst in enumerate(masks):
        small = cv2.resize(inst.astype(np.uint8) * 255, (w, h), interpolation=cv2.INTER_AREA)
        out[i] = small > 0
    return out


def _band_layout(size: int, n_lines: int) -> tuple[float, int, int]:
    """Font scale, line height and band height for ``n_lines`` caption lines under a tile."""
    scale = float(np.clip(size / 480, 0.3, 0.9))
    (_, text_h), baseline = cv2.getTextSize("Ag", _FONT, scale, 1)
    line_h = text_h + baseline + 3
    return scale, line_h, n_lines * line_h + 4


def _fit_text(text: str, scale: float, width: int) -> tuple[str, float]:
    """Shrink the font, then cut the text with '..', until ``text`` fits in ``width`` px."""
    min_scale = 0.3
    while scale > min_scale and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width:
        scale = max(min_scale, scale - 0.05)
    while len(text) > 2 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width:
        text = text[:-3] + ".."
    return text, scale


def label_tile(image: np.ndarray, text: str, size: int) -> np.ndarray:
    """A ``size`` x ``size`` letterboxed thumbnail of ``image`` with a caption band below.

    Args:
        image: uint8 (H, W, 3) RGB figure.
        text: caption; ``\\n`` separates lines, each shrunk or cut to fit the tile width.
        size: side of the square thumbnail in pixels.

    Returns:
        uint8 (size + band, size, 3), ``band`` = caption lines x line height + 4 px. The
        figure is centred on a dark grey square; the caption is white on black.
    """
    small, (th, tw) = thumbnail(image, size)
    lines = text.split("\n") if text else []
    scale, line_h, band = _band_layout(size, max(1, len(lines)))
    tile = np.full((size + band, size, 3), _LETTERBOX_FILL, np.uint8)
    top, left = (size - th) // 2, (size - tw) // 2
    tile[top : top + th, left : left + tw] = small
    tile[size:] = 0
    for i, line in enumerate(lines):
        fitted, line_scale = _fit_text(line, scale, size - 6)
        baseline_y = size + 2 + (i + 1) * line_h - 4
        cv2.putText(
            tile, fitted, (3, baseline_y), _FONT, line_scale, (255, 255, 255), 1, cv2.LINE_AA
        )
    return tile


def contact_sheet(tiles: Sequence[np.ndarray], cols: int, *, gutter: int = 4) -> np.ndarray:
    """Lay ``tiles`` out row by row, ``cols`` per row, separated by ``gutter`` px.

    Args:
        tiles: uint8 (h_i, w_i, 3) images; every cell is as large as the largest tile and
            smaller tiles sit in its top-left corner.
        cols: tiles per row (the sheet is ``ceil(len(tiles) / cols)`` rows).
        gutter: dark grey space around and between cells, in pixels.

    Returns:
        uint8 (rows * cell_h + (rows + 1) * gutter, cols * cell_w + (cols + 1) * gutter, 3).
    """
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    if cols < 1:
        raise ValueError(f"cols must be at least 1, got {cols}")
    for i, t in enumerate(tiles):
        _check_image(t, f"tile {i}")
    cell_h = max(t.shape[0] for t in tiles)
    cell_w = max(t.shape[1] for t in tiles)
    rows = -(-len(tiles) // cols)
    sheet = np.full(
        (rows * cell_h + (rows + 1) * gutter, cols * cell_w + (cols + 1) * gutter, 3),
        _BACKGROUND,
        np.uint8,
    )
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        y = gutter + r * (cell_h + gutter)
        x = gutter + c * (cell_w + gutter)
        sheet[y : y + t.shape[0], x : x + t.shape[1]] = t
    return sheet


def _group_key(rec: Record) -> str:
    return rec.kind or rec.label


def _choose(records: Iterable[Record], per_kind: int, seed: int) -> dict[str, list[Record]]:
    """Per group (kind, or label when the kind is unknown): up to ``per_kind`` forged figures
    with a mask, then authentic ones until ``per_kind + 1`` slots are used."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        # A forged test figure's truth lives in test_solution.csv, not in a mask file: with
        # no mask its overlay would claim "0 instances", so it is left out.
        if rec.label == "authentic" or (rec.label == "forged" and rec.mask):
            groups[_group_key(rec)].append(rec)
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[Record]] = {}
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda r: r.uid)
        forged = [r for r in members if r.label == "forged"]
        authentic = [r for r in members if r.label == "authentic"]
        pick_f = [forged[i] for i in rng.permutation(len(forged))[:per_kind]]
        n_auth = per_kind + 1 - len(pick_f)
        pick_a = [authentic[i] for i in rng.permutation(len(authentic))[:n_auth]]
        chosen[key] = pick_f + pick_a
    return chosen


def _truth(rec: Record, shape: tuple[int, int]) -> np.ndarray:
    if not rec.mask:
        return np.zeros((0, *shape), bool)
    from forgeseg.core.imageio import read_mask

    return read_mask(rec.mask, shape=shape)


def _title_band(text: str, width: int) -> np.ndarray:
    scale, _, band = _band_layout(max(width // 3, 192), 1)
    fitted, scale = _fit_text(text, scale, width - 8)
    out = np.zeros((band + 6, width, 3), np.uint8)
    cv2.putText(out, fitted, (4, band), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def contact_sheet_by_kind(
    records: Iterable[Record], per_kind: int = 2, tile: int = 192, seed: int = 0
) -> np.ndarray:
    """A sheet with one row per kind of figure: each figure beside its truth overlay.

    Rows are the kinds present (the label when a record's kind is unknown, as on the
    real data), sorted by name. Each row holds up to ``per_kind`` forged figures and one
    authentic figure if the kind has one (more authentic ones fill a row with no forged
    figures), picked at random with ``seed``. Every figure appears as a pair of tiles: the
    figure, then the figure with each true instance filled red and outlined green,
    captioned with kind, label, uid and the forged share of the figure. Figures are read
    one at a time.

    Args:
        records: objects with the :class:`forgeseg.data.layout.Record` fields; ``unknown``
            labels (test figures without a solution) and forged figures without a mask
            file are skipped.
        per_kind: forged figures per row.
        tile: thumbnail side in pixels.
        seed: choice of figures.

    Returns:
        uint8 (H, W, 3) sheet, ``2 * (per_kind + 1)`` tiles wide, under a one-line title.
    """
    from forgeseg.core.imageio import read_image

    if per_kind < 1:
        raise ValueError(f"per_kind must be at least 1, got {per_kind}")
    chosen = _choose(records, per_kind, seed)
    cols = 2 * (per_kind + 1)
    tiles: list[np.ndarray] = []
    n_figures = 0
    for key, recs in chosen.items():
        row: list[np.ndarray] = []
        for rec in recs:
            image = read_image(rec.image)
            shape = image.shape[:2]
            truth = _truth(rec, shape)
            union = truth.any(axis=0) if truth.shape[0] else np.zeros(shape, bool)
            share = 100.0 * union.mean()
            small, hw = thumbnail(image, tile)
            del image  # large figures: keep only the thumbnail
            small_truth = _shrink_masks(truth, hw)
            # Fill and outline: regions of a few thumbnail pixels vanish under a fill alone.
            painted = overlay(small, small_truth, small_truth, alpha=0.6)
            head = f"{key} | {rec.label}"
            n_inst = int(sum(bool(m.any()) for m in truth))
            detail = f"{share:.2f}% in {n_inst} inst." if rec.label == "forged" else "no forgery"
            row.append(label_tile(small, f"{head}\n{rec.uid}", tile))
            row.append(label_tile(painted, f"truth: {detail}\n{shape[1]}x{shape[0]} px", tile))
            n_figures += 1
        if row:
            blank = np.full_like(row[0], _BACKGROUND)
            tiles.extend(row + [blank] * (cols - len(row)))
    if not tiles:
        empty = np.full((tile, tile, 3), _LETTERBOX_FILL, np.uint8)
        return label_tile(empty, "no labelled figures", tile)
    sheet = contact_sheet(tiles, cols)
    title = (
        f"{n_figures} figures, {len(chosen)} kinds (seed {seed}): "
        "each figure, then its true forged regions (red fill, green outline)"
    )
    return np.concatenate([_title_band(title, sheet.shape[1]), sheet], axis=0)
