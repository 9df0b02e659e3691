"""Western blots and gels: lanes of bands on a film or gel background.

Blots are dark bands on a light film (chemiluminescence); gels are bright bands on a dark
background (ethidium or SYBR stain under UV). Both share the lane geometry, so one renderer
draws a "darkness" field and the two kinds differ in polarity, background and extras (wells,
ladders). Bands in a row are drawn one by one with their own noise, so neighbouring bands of
a loading control look alike without being copies: the hard negative that fooled detectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forgeseg.synth.canvas import Obj, Panel, draw_text, gradient, smooth_noise, to_uint8

__all__ = ["render_gel", "render_western_blot"]

_PROTEINS = (
    "GAPDH",
    "b-actin",
    "p-ERK",
    "ERK1/2",
    "AKT",
    "p-AKT",
    "Bax",
    "Bcl-2",
    "LC3B",
    "p53",
    "Caspase-3",
    "Tubulin",
    "mTOR",
    "p-STAT3",
    "Cyclin D1",
    "PARP",
    "Nrf2",
)


def _band(
    rng: np.random.Generator, bh: float, bw: float, smear: float, curve: float, edge: float
) -> np.ndarray:
    """One band's darkness profile, float32 ``(ph, pw)`` with peak about 1.

    Flat-topped across the lane (super-Gaussian of order ``edge``), Gaussian down the lane,
    with an exponential smear trailing below and a "smile" curvature ``curve``.
    """
    ph = int(np.ceil(bh * 3 + smear * 4)) + 2
    pw = int(np.ceil(bw * 1.3)) + 2
    yy = np.arange(ph, dtype=np.float32)[:, None] - bh * 1.5
    xx = (np.arange(pw, dtype=np.float32)[None, :] - pw / 2) / (bw / 2)
    yy = yy - curve * bh * xx**2
    across = np.exp(-(np.abs(xx) ** edge))
    down = np.exp(-0.5 * (yy / (bh / 2)) ** 2)
    if smear > 0:
        down = np.maximum(down, 0.35 * np.exp(-np.clip(yy, 0, None) / smear) * (yy > 0))
    return (across * down).astype(np.float32)


@dataclass
class _Grid:
    """Where lanes and rows of bands sit in the panel (x in px, rows from ``top`` down)."""

    x_lo: int  # left edge of the first lane
    pitch: float  # lane centre to lane centre
    lane_w: float
    n_lanes: int
    top: int
    row_h: float
    n_rows: int


def _grid(rng: np.random.Generator, h: int, w: int, gel: bool) -> tuple[int, _Grid]:
    """(label_w, lane grid): ``label_w`` is the width of the text column left of the blot
    (0 if none)."""
    label_w = int(w * rng.uniform(0.15, 0.25)) if (w >= 220 and rng.random() < 0.5) else 0
    x_lo = label_w + int(w * rng.uniform(0.02, 0.06))
    x_hi = w - int(w * rng.uniform(0.02, 0.06))
    n_lanes = int(rng.integers(3, 15))
    pitch = (x_hi - x_lo) / n_lanes
    lane_w = pitch * rng.uniform(0.55, 0.85)
    # Gels leave room at the top for the wells.
    top = int(h * (rng.uniform(0.12, 0.2) if gel else rng.uniform(0.04, 0.1)))
    n_rows = int(rng.integers(1, 5))
    row_h = (h - top - int(h * 0.04)) / n_rows
    return label_w, _Grid(x_lo, pitch, lane_w, n_lanes, top, row_h, n_rows)


def _stamp(
    dark: np.ndarray, prof: np.ndarray, y0: int, x0: int
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """Darken ``dark`` with ``prof`` placed at (y0, x0), clipped to the panel; return the
    box and part drawn, or None when under 2 px of it lies inside."""
    h, w = dark.shape
    ph, pw = prof.shape
    cy0, cx0, cy1, cx1 = max(y0, 0), max(x0, 0), min(y0 + ph, h), min(x0 + pw, w)
    if cy1 - cy0 < 2 or cx1 - cx0 < 2:
        return None
    sub = prof[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    np.maximum(dark[cy0:cy1, cx0:cx1], sub, out=dark[cy0:cy1, cx0:cx1])
    return (cy0, cx0, cy1, cx1), sub


def _draw_band(
    rng: np.random.Generator,
    dark: np.ndarray,
    g: _Grid,
    lane: int,
    y_center: float,
    bh: float,
    inten: float,
    curve: float,
) -> Obj | None:
    """Draw one band of ``lane`` with its own shape and noise; the band as an object."""
    bw = g.lane_w * rng.uniform(0.85, 1.05)
    smear = rng.uniform(0, bh * 1.5) if rng.random() < 0.4 else 0.0
    prof = _band(rng, bh * rng.uniform(0.8, 1.2), bw, smear, curve, rng.uniform(2, 6))
    texture = 1 + 0.15 * smooth_noise(rng, *prof.shape, max(2.0, bh / 2))
    prof = prof * texture * inten
    pw = prof.shape[1]
    cx = g.x_lo + g.pitch * (lane + 0.5) + rng.normal(0, g.pitch * 0.03)
    cy = y_center + rng.normal(0, bh * 0.15)
    y0, x0 = int(cy - bh * 1.5), int(cx - pw / 2)
    drawn = _stamp(dark, prof, y0, x0)
    if drawn is None:
        return None
    box, sub = drawn
    m = sub > 0.25 * max(float(sub.max()), 1e-3)
    return Obj(box, "band", m) if m.sum() >= 6 else None


def _row_bands(
    rng: np.random.Generator,
    dark: np.ndarray,
    g: _Grid,
    r: int,
    ladder: bool,
    objects: list[Obj],
    negs: list[str],
) -> float:
    """Draw the bands of row ``r``; return their height, which the ladder's steps follow."""
    y_center = g.top + g.row_h * (r + rng.uniform(0.35, 0.65))
    bh = max(1.5, min(g.row_h * rng.uniform(0.08, 0.25), g.lane_w * rng.uniform(0.2, 0.45)))
    loading_control = rng.random() < 0.35
    if loading_control:
        negs.append("similar_bands")
    base_int = rng.uniform(0.4, 1.2)
    curve = rng.uniform(-0.3, 0.5)
    for lane in range(g.n_lanes):
        if ladder and lane == 0:
            continue
        if not loading_control and rng.random() < 0.15:
            continue  # knock-down lanes without a band
        inten = base_int * (rng.uniform(0.9, 1.05) if loading_control else rng.uniform(0.1, 1.3))
        band = _draw_band(rng, dark, g, lane, y_center, bh, inten, curve)
        if band is not None:
            objects.append(band)
    return bh


def _ladder(rng: np.random.Generator, dark: np.ndarray, g: _Grid, r: int, bh: float) -> None:
    """A size ladder in the first lane of row ``r``: evenly spaced, identical thin bands."""
    cx = g.x_lo + g.pitch * 0.5
    n_steps = int(rng.integers(5, 11))
    for k in range(n_steps):
        cy = g.top + g.row_h * r + g.row_h * (k + 0.5) / n_steps
        prof = _band(rng, max(1.5, bh * 0.5), g.lane_w, 0.0, 0.0, 4.0) * 0.8
        ph, pw = prof.shape
        _stamp(dark, prof, int(cy - ph / 2), int(cx - pw / 2))


def _lane_objects(rng: np.random.Generator, g: _Grid, r: int) -> list[Obj]:
    """Some whole lanes of row ``r``: a common thing to duplicate (lane splicing)."""
    ly0 = int(g.top + g.row_h * r)
    ly1 = int(g.top + g.row_h * (r + 1))
    out = []
    for lane in range(g.n_lanes):
        lx0 = int(g.x_lo + g.pitch * lane + (g.pitch - g.lane_w) / 2)
        lx1 = int(lx0 + g.lane_w)
        if ly1 - ly0 >= 4 and lx1 - lx0 >= 3 and rng.random() < 0.3:
            out.append(Obj((ly0, lx0, ly1, lx1), "lane", None))
    return out


def _lanes(
    rng: np.random.Generator, h: int, w: int, gel: bool
) -> tuple[np.ndarray, list[Obj], list[str], int, _Grid]:
    """Render lane content: (darkness float32 (h, w) in ~[0, 1.4], objects, hard negatives,
    label_w, lane grid); ``label_w`` is the width of the text column left of the blot."""
    dark = np.zeros((h, w), np.float32)
    objects: list[Obj] = []
    negs: list[str] = []
    label_w, g = _grid(rng, h, w, gel)
    ladder = gel and rng.random() < 0.6
    for r in range(g.n_rows):
        bh = _row_bands(rng, dark, g, r, ladder, objects, negs)
        if ladder:
            _ladder(rng, dark, g, r, bh)
            negs.append("ladder")
        objects.extend(_lane_objects(rng, g, r))
    return dark, objects, negs, label_w, g


def _finish(
    rng: np.random.Generator,
    img: np.ndarray,
    h: int,
    w: int,
    label_w: int,
    ink: int,
    gel: bool,
    text: np.ndarray,
) -> np.ndarray:
    """Grain, dust and optional protein labels; return uint8 RGB (h, w, 3).

    ``text`` (bool (h, w)) receives the label boxes.
    """
    img = img + rng.normal(0, rng.uniform(0.8, 4.0), (h, w)).astype(np.float32)
    img = img + rng.uniform(1, 6) * smooth_noise(rng, h, w, rng.uniform(2, 8))
    out = to_uint8(img)
    if label_w:
        rows = int(rng.integers(1, 5))
        scale = max(0.3, min(0.8, h / 500))
        for r in range(rows):
            name = str(rng.choice(_PROTEINS))
            y = int(h * (0.15 + 0.8 * (r + 0.5) / rows))
            draw_text(out, name, (2, y), scale, (ink,), 1, text)
    rgb = np.repeat(out[:, :, None], 3, axis=2)
    if not gel and rng.random() < 0.15:
        # Colour scans of films pick up a faint tint.
        tint = rng.uniform(0.92, 1.0, 3).astype(np.float32)
        rgb = to_uint8(rgb.astype(np.float32) * tint)
    return rgb


def render_western_blot(rng: np.random.Generator, h: int, w: int) -> Panel:
    """Dark bands on light film: uint8 RGB (h, w, 3) (gray content) with bands and lanes."""
    dark, objects, negs, label_w, g = _lanes(rng, h, w, gel=False)
    x_lo, top, row_h, n_rows = g.x_lo, g.top, g.row_h, g.n_rows
    bg = rng.uniform(195, 245)
    film = bg + gradient(rng, h, w, rng.uniform(0, 18))
    depth = rng.uniform(150, 240)
    img = film - depth * dark
    floor = rng.uniform(0, 35)  # film saturation: the darkest bands clip flat
    img = np.maximum(img, floor)
    if n_rows > 1 and rng.random() < 0.5:
        # Strips cut per antibody and re-assembled: each its own exposure, white gaps between.
        gap = max(2, int(row_h * rng.uniform(0.04, 0.1)))
        for r in range(n_rows):
            ya, yb = int(top + row_h * r), int(top + row_h * (r + 1))
            img[ya:yb, x_lo:] = 255 - (255 - img[ya:yb, x_lo:]) * rng.uniform(0.8, 1.2)
            img[max(0, yb - gap // 2) : yb + gap - gap // 2, :] = 255
        img[: max(0, top - gap), x_lo:] = 255
        img[int(top + row_h * n_rows) :, :] = 255
        negs.append("strips")
    if rng.random() < 0.3:
        dust = (rng.random((h, w)) < 0.0004).astype(np.float32)
        img -= 80 * cv2.GaussianBlur(dust, (0, 0), 0.8) * 4
    text = np.zeros((h, w), bool)
    out = _finish(rng, img, h, w, label_w, 0, False, text)
    return Panel(out, "western_blot", objects, negs, gray=True, annotations=text)


def render_gel(rng: np.random.Generator, h: int, w: int) -> Panel:
    """Bright bands on a dark gel with wells at the top: uint8 RGB (h, w, 3)."""
    dark, objects, negs, label_w, g = _lanes(rng, h, w, gel=True)
    x_lo, pitch, n_lanes = g.x_lo, g.pitch, g.n_lanes
    bg = rng.uniform(5, 45)
    img = bg + gradient(rng, h, w, rng.uniform(0, 10)) + rng.uniform(150, 260) * dark
    img = np.minimum(img, 255)  # overexposed bands saturate
    # Regular wells: identical-looking slots, legitimately repeated.
    wy = int(h * 0.05)
    wh = max(2, int(h * 0.03))
    level = bg + rng.uniform(20, 60)
    for k in range(n_lanes):
        x0 = int(x_lo + pitch * k + pitch * 0.15)
        x1 = int(x_lo + pitch * (k + 0.85))
        if x1 > x0:
            cv2.rectangle(img, (x0, wy), (x1, wy + wh), float(level), max(1, h // 300))
    negs.append("regular_wells")
    inverted = rng.random() < 0.25
    text = np.zeros((h, w), bool)
    panel = _finish(rng, img, h, w, label_w, 230, True, text)
    if inverted:
        panel = 255 - panel  # many papers print gels inverted to save ink
    return Panel(panel, "gel", objects, negs, gray=True, annotations=text)
