"""Microscopy: fluorescence (cells in 1-3 colour channels) and histology (stained tissue).

Cells are drawn as filled ellipses on float32 layers, then blurred and modulated by smooth
noise, so two cells with the same outline still differ pixel by pixel (near-identical but
distinct cells are a hard negative). Histology is composed in optical density with the
standard haematoxylin / eosin / DAB stain vectors (Ruifrok & Johnston) so colours look like
real brightfield slides.
"""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.synth.canvas import Obj, Panel, smooth_noise, to_uint8

__all__ = ["render_fluorescence", "render_histology"]

# Optical density per RGB channel of one unit of each stain.
_HEMATOXYLIN = np.array([0.65, 0.70, 0.29], np.float32)
_EOSIN = np.array([0.07, 0.99, 0.11], np.float32)
_DAB = np.array([0.27, 0.57, 0.78], np.float32)


def _ellipse_mask(
    h: int, w: int, cy: float, cx: float, ay: float, ax: float, angle: float
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """Box (y0, x0, y1, x1) clipped to (h, w) and bool mask of one filled ellipse, or None."""
    r = int(np.ceil(max(ay, ax))) + 2
    y0, x0 = max(int(cy) - r, 0), max(int(cx) - r, 0)
    y1, x1 = min(int(cy) + r + 1, h), min(int(cx) + r + 1, w)
    if y1 - y0 < 2 or x1 - x0 < 2:
        return None
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.ellipse(
        m,
        (round(cx - x0), round(cy - y0)),
        (max(1, round(ax)), max(1, round(ay))),
        angle,
        0,
        360,
        1,
        -1,
    )
    if m.sum() < 4:
        return None
    return (y0, x0, y1, x1), m.astype(bool)


def _centres(rng: np.random.Generator, h: int, w: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) float arrays of ``n`` cell centres: spread evenly, or grown in colonies."""
    cy_all = rng.uniform(0, h, n)
    cx_all = rng.uniform(0, w, n)
    if rng.random() < 0.5:
        # Clustered growth: cells crowd around a few colony centres.
        k = int(rng.integers(1, 5))
        centres = rng.uniform(0, 1, (k, 2)) * [h, w]
        pick = rng.integers(0, k, n)
        spread = rng.uniform(0.08, 0.25) * min(h, w)
        cy_all = np.clip(centres[pick, 0] + rng.normal(0, spread, n), 0, h - 1)
        cx_all = np.clip(centres[pick, 1] + rng.normal(0, spread, n), 0, w - 1)
    return cy_all, cx_all


def _draw_cell(
    rng: np.random.Generator,
    nuc: np.ndarray,
    cyt: np.ndarray | None,
    cy: float,
    cx: float,
    shape: tuple[float, float, float],
) -> Obj | None:
    """Draw one nucleus (and its cytoplasm into ``cyt``, unless None) with outline
    ``shape`` (ay, ax, angle); return the cell as an object."""
    h, w = nuc.shape
    ay, ax, ang = shape
    val = rng.uniform(0.5, 1.0)
    cv2.ellipse(
        nuc,
        (round(cx), round(cy)),
        (max(1, round(ax)), max(1, round(ay))),
        ang,
        0,
        360,
        val,
        -1,
        cv2.LINE_AA,
    )
    big = None
    if cyt is not None:
        cay, cax = ay * rng.uniform(1.8, 3.0), ax * rng.uniform(1.8, 3.0)
        cang = ang + rng.uniform(-30, 30)
        cv2.ellipse(
            cyt,
            (round(cx), round(cy)),
            (max(1, round(cax)), max(1, round(cay))),
            cang,
            0,
            360,
            rng.uniform(0.3, 0.8),
            -1,
            cv2.LINE_AA,
        )
        big = _ellipse_mask(h, w, cy, cx, cay + 1, cax + 1, cang)
    if big is None:
        big = _ellipse_mask(h, w, cy, cx, ay + 1.5, ax + 1.5, ang)
    return Obj(big[0], "cell", big[1]) if big is not None else None


def _cells(
    rng: np.random.Generator,
    h: int,
    w: int,
    r_nuc: float,
    n: int,
    cyto: bool,
) -> tuple[np.ndarray, np.ndarray, list[Obj], bool]:
    """Nucleus and cytoplasm layers float32 (h, w) in [0, 1], cell objects, twins drawn?"""
    nuc = np.zeros((h, w), np.float32)
    cyt = np.zeros((h, w), np.float32)
    objects: list[Obj] = []
    # A few cells share one outline (same axes and angle) but get their own texture.
    twin_shape = (r_nuc * rng.uniform(0.8, 1.2), r_nuc * rng.uniform(0.6, 1.0), rng.uniform(0, 180))
    twins = rng.random() < 0.5
    cy_all, cx_all = _centres(rng, h, w, n)
    for i in range(n):
        if twins and i % 7 == 0:
            shape = twin_shape
        else:
            ay = r_nuc * rng.uniform(0.7, 1.3)
            shape = (ay, ay * rng.uniform(0.6, 1.0), rng.uniform(0, 180))
        cell = _draw_cell(
            rng, nuc, cyt if cyto else None, float(cy_all[i]), float(cx_all[i]), shape
        )
        if cell is not None:
            objects.append(cell)
    return nuc, cyt, objects, twins


def render_fluorescence(rng: np.random.Generator, h: int, w: int) -> Panel:
    """Nuclei and cells on black in 1-3 colour channels: uint8 RGB (h, w, 3)."""
    side = min(h, w)
    r_nuc = max(2.0, side * rng.uniform(0.012, 0.05))
    n = int(np.clip(h * w / (r_nuc**2) * rng.uniform(0.01, 0.06), 3, 600))
    n_ch = int(rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3]))
    nuc, cyt, objects, twins = _cells(rng, h, w, r_nuc, n, cyto=n_ch >= 2)
    nuc = cv2.GaussianBlur(nuc, (0, 0), max(0.6, r_nuc / 5))
    nuc *= np.clip(1 + 0.35 * smooth_noise(rng, h, w, max(1.5, r_nuc / 2.5)), 0.2, 2)
    layers = [nuc]
    if n_ch >= 2:
        cyt = cv2.GaussianBlur(cyt, (0, 0), max(1.0, r_nuc / 2))
        cyt *= np.clip(1 + 0.6 * smooth_noise(rng, h, w, max(2.0, r_nuc / 1.5)), 0, 3)
        layers.append(cyt)
    if n_ch == 3:
        # Puncta (foci, vesicles): small bright dots inside cells.
        dots = (rng.random((h, w)) < 0.004).astype(np.float32) * (cyt > 0.15)
        layers.append(cv2.GaussianBlur(dots, (0, 0), max(0.7, r_nuc / 6)) * 6)
    # Channel colours: DAPI blue for nuclei, then green / red, or one gray/green channel.
    if n_ch == 1:
        palette = [np.array(rng.choice([[1, 1, 1], [0, 1, 0], [1, 0, 0], [0.3, 0.6, 1]]))]
    else:
        palette = [np.array([0.1, 0.25, 1.0]), np.array([0.1, 1.0, 0.1]), np.array([1.0, 0.1, 0.1])]
        if rng.random() < 0.3:
            palette[1], palette[2] = palette[2], palette[1]
    gains = rng.uniform(150, 320, n_ch)
    img = np.zeros((h, w, 3), np.float32)
    for layer, color, gain in zip(layers, palette, gains, strict=False):
        img += (gain * layer)[:, :, None] * color[None, None, :].astype(np.float32)
    haze = rng.uniform(2, 20) * (1 + 0.5 * smooth_noise(rng, h, w, side / 3))
    img += haze[:, :, None] * palette[0].astype(np.float32)[None, None, :]
    img += rng.normal(0, rng.uniform(1, 6), (h, w, 3)).astype(np.float32)
    negs = ["similar_cells"] if twins else []
    return Panel(to_uint8(img), "fluorescence", objects, negs)


def render_histology(rng: np.random.Generator, h: int, w: int) -> Panel:
    """H&E or IHC stained tissue with nuclei: uint8 RGB (h, w, 3)."""
    side = min(h, w)
    scale = rng.uniform(0.6, 1.6)
    # Eosin: fibrous stroma (anisotropic noise) with white gaps (lumens, fat, tears).
    stretch = rng.uniform(1.0, 4.0)
    fib = cv2.resize(smooth_noise(rng, max(2, int(h / stretch)), w, 3 * scale), (w, h))
    tissue = smooth_noise(rng, h, w, side * rng.uniform(0.08, 0.25))
    lumen = tissue < rng.uniform(-1.6, -0.4)
    eosin = np.clip(0.45 + 0.15 * fib + 0.1 * tissue, 0.05, 1.0)
    eosin[lumen] *= 0.08
    eosin = cv2.GaussianBlur(eosin, (0, 0), 0.8)
    r_nuc = max(1.5, side * rng.uniform(0.006, 0.02) * scale)
    n = int(np.clip(h * w / (r_nuc**2) * rng.uniform(0.02, 0.08), 5, 3000))
    nuc, _, objects, twins = _cells(rng, h, w, r_nuc, n, cyto=False)
    nuc[lumen] = 0
    nuc = cv2.GaussianBlur(nuc, (0, 0), max(0.5, r_nuc / 4))
    nuc *= np.clip(1 + 0.4 * smooth_noise(rng, h, w, max(1.2, r_nuc / 2)), 0.2, 2)
    hema = 0.08 * (1 - lumen) + 1.1 * nuc
    od = hema[:, :, None] * _HEMATOXYLIN + eosin[:, :, None] * _EOSIN * rng.uniform(0.4, 0.9)
    if rng.random() < 0.4:
        # IHC: DAB (brown) marks a subset of cells, counterstained with haematoxylin.
        pos = smooth_noise(rng, h, w, side * 0.1) > rng.uniform(0.0, 1.0)
        od = 0.6 * od + (pos * nuc * rng.uniform(0.4, 0.9) + 0.05 * pos)[:, :, None] * _DAB
    od = od * rng.uniform(0.8, 1.3)
    img = 255 * np.exp(-od) * rng.uniform(0.9, 1.0, 3).astype(np.float32)
    img += rng.normal(0, rng.uniform(1, 4), (h, w, 3)).astype(np.float32)
    # Histology nuclei are small; only larger ones make plausible copy targets.
    objects = [o for o in objects if (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) >= 30]
    negs = ["similar_cells"] if twins else []
    return Panel(to_uint8(img), "histology", objects, negs)
