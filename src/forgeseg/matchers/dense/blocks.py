"""Step 2 of the dense matcher: overlapping blocks on a grid, each described by the means
of its 4x4 grid of cells, centred and scaled to unit norm."""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.config.matchers import DenseConfig
from forgeseg.matchers.dense.dihedral import GRID

__all__ = ["block_maps", "block_share", "blocks", "describe", "grid", "ramp_basis"]


def block_maps(gray: np.ndarray, cfg: DenseConfig) -> tuple[np.ndarray, np.ndarray]:
    """(cell means (h, w), block std (h, w)) float32 of a working copy (float32 (h, w)),
    indexed by a cell's or block's top-left pixel."""
    b = cfg.block
    cell = b // GRID
    # A light blur makes cell means tolerant of the up-to-half-stride misalignment between
    # a copy and the block grid, and of JPEG and noise.
    gray = cv2.GaussianBlur(gray, (0, 0), cfg.blur) if cfg.blur > 0 else gray
    # means[y, x] = mean of gray[y:y+cell, x:x+cell]: the cell grid of any block by indexing.
    means = cv2.blur(gray, (cell, cell), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    bm = cv2.blur(gray, (b, b), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    bsq = cv2.blur(gray * gray, (b, b), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    return means, np.sqrt(np.maximum(bsq - bm * bm, 0.0))


def block_share(mask: np.ndarray, shape: tuple[int, int], cfg: DenseConfig) -> np.ndarray:
    """float32 (h, w): the share of each ``block`` x ``block`` block of a working copy of
    size ``shape`` (h, w) that a full-resolution mask (bool (H, W)) covers, indexed by the
    block's top-left pixel as :func:`block_maps` indexes its maps."""
    h, w = shape
    frac = mask.astype(np.float32)
    if frac.shape != (h, w):
        # Area averaging keeps each working pixel's share of covered full-resolution pixels.
        frac = cv2.resize(frac, (w, h), interpolation=cv2.INTER_AREA)
    b = cfg.block
    return cv2.blur(frac, (b, b), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)


def grid(
    bstd: np.ndarray, cfg: DenseConfig, stride: int, cap: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Top-left corners (x (K,), y (K,)) of the non-flat blocks every ``stride`` px, the
    stride grown until at most ``cap`` remain, and that stride."""
    h, w = bstd.shape
    b = cfg.block
    while True:
        ys = np.arange(0, h - b + 1, stride)
        xs = np.arange(0, w - b + 1, stride)
        yy, xx = np.meshgrid(ys, xs, indexing="ij")
        keep = bstd[yy, xx] >= cfg.min_block_std
        if int(keep.sum()) <= cap:
            return xx[keep], yy[keep], stride
        stride += 1  # bounds time and memory on large textured figures


def ramp_basis() -> np.ndarray:
    """(2, 16) float32 orthonormal zero-mean linear ramps in x and y over the cell grid."""
    c = np.arange(GRID, dtype=np.float32) - (GRID - 1) / 2
    gx = np.tile(c, GRID)
    gy = np.repeat(c, GRID)
    return np.stack([gx / np.linalg.norm(gx), gy / np.linalg.norm(gy)])


def describe(
    means: np.ndarray, x0: np.ndarray, y0: np.ndarray, cfg: DenseConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(top-left corners (K, 2) int64 as (x, y), unit-norm descriptors (K, 16) float32) of
    the blocks at ``x0``, ``y0`` that have a usable descriptor."""
    off = np.arange(GRID) * (cfg.block // GRID)
    fy = y0[:, None, None] + off[None, :, None]
    fx = x0[:, None, None] + off[None, None, :]
    f = means[fy, fx].reshape(len(x0), GRID * GRID).astype(np.float32)
    f -= f.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(f, axis=1)
    # A block with texture but flat cell means (fine stripes) has no usable descriptor.
    ok = norm > 1e-3 * cfg.block
    f = f[ok] / norm[ok, None]
    # Smooth shading and the edge of a large object look alike everywhere: a block whose
    # descriptor is nearly a linear ramp matches hundreds of unrelated blocks.
    ramp = ramp_basis()
    structure = 1.0 - ((f @ ramp.T) ** 2).sum(axis=1)
    rich = structure >= cfg.min_structure
    f = f[rich]
    x0, y0 = x0[ok][rich], y0[ok][rich]
    return np.stack([x0, y0], axis=1).astype(np.int64), f


def blocks(
    gray: np.ndarray, cfg: DenseConfig, stride: int | None = None, max_blocks: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Descriptors of the non-flat blocks of a working copy.

    Args:
        gray: float32 (h, w) working copy.
        stride, max_blocks: the grid's step and block cap (default: the settings').

    Returns:
        (top-left corners (K, 2) int64 as (x, y), unit-norm descriptors (K, 16) float32,
        stride used).
    """
    means, bstd = block_maps(gray, cfg)
    stride = cfg.stride if stride is None else stride
    cap = cfg.max_blocks if max_blocks is None else max_blocks
    x0, y0, stride = grid(bstd, cfg, stride, cap)
    corners, desc = describe(means, x0, y0, cfg)
    return corners, desc, stride
