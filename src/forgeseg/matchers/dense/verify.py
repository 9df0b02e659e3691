"""Steps 5-7 of the dense matcher: one candidate refined and checked on the
full-resolution pixels, ending in a copy's mask and :class:`Transform`, or the check that
rejected it."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from forgeseg.config.matchers import DenseConfig
from forgeseg.core.masks import bbox, erode
from forgeseg.core.pixels import graphic_share, zncc
from forgeseg.matchers.base import Transform
from forgeseg.matchers.dense.align import align_affine, align_dihedral, footprint, warp
from forgeseg.matchers.dense.evidence import (
    exact_share,
    periodic,
    residual,
    stroke_width,
    texture,
)
from forgeseg.matchers.dense.localise import localise
from forgeseg.matchers.dense.trace import Reason
from forgeseg.matchers.dense.vote import Candidate

__all__ = ["Checked", "verify"]


@dataclass(frozen=True)
class Checked:
    """What :func:`verify` made of one candidate: ``outcome`` :attr:`Reason.FOUND` with the
    source+copy ``mask`` (bool (H, W)) and its ``transform``, or the rejecting check and
    neither."""

    outcome: Reason
    mask: np.ndarray | None = None
    transform: Transform | None = None

    @property
    def finding(self) -> tuple[np.ndarray, Transform] | None:
        """(mask, transform) of a found copy; None for a rejected candidate."""
        if self.mask is None or self.transform is None:
            return None
        return self.mask, self.transform


def _align(
    cand: Candidate, grayf: np.ndarray, core: np.ndarray, s: float, cfg: DenseConfig
) -> tuple[np.ndarray, float] | None:
    """The refined full-resolution map and its ZNCC, or None when under the floor."""
    if cand.linear is None:
        aligned, floor = align_dihedral(cand, grayf, core, s), cfg.min_zncc
    else:
        # Interpolation costs a resampled copy a little correlation.
        aligned, floor = align_affine(cand, grayf, core, s), cfg.min_affine_zncc
    if aligned is None or aligned[1] < floor:
        return None
    return aligned


def _grain_zncc(
    grayf: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    core: np.ndarray,
    dst_fp: np.ndarray,
    matrix: np.ndarray,
    cfg: DenseConfig,
) -> float | None:
    """ZNCC of the fine grain of the copy's footprint and the mapped source, on its calmer
    pixels; None where there is no grain to compare (``min_grain``)."""
    H, W = grayf.shape
    dst_core = cv2.warpAffine(core.astype(np.uint8), matrix, (W, H), flags=cv2.INTER_NEAREST)
    dst_core = dst_core.astype(bool)
    pad = int(np.ceil(3 * cfg.hp_sigma)) + 1
    cy0, cx0, cy1, cx1 = bbox(dst_fp, pad)
    roi = grayf[cy0:cy1, cx0:cx1]
    wroi = np.where(valid[cy0:cy1, cx0:cx1], warped[cy0:cy1, cx0:cx1], roi)
    hp_a, grad = texture(roi, cfg.hp_sigma)
    hp_b, _ = texture(wroi, cfg.hp_sigma)
    check = dst_core[cy0:cy1, cx0:cx1] & valid[cy0:cy1, cx0:cx1]
    # Only the grain between edges (low ``grad``): band and marker outlines are alike in
    # look-alikes and would dominate the correlation; the grain is what only a copy shares
    # with its source.
    if check.sum() < 16:
        return None
    calm = check & (grad <= np.quantile(grad[check], cfg.grain_quantile))
    if calm.sum() < 16 or float(hp_a[calm].std()) < cfg.min_grain:
        return None  # no grain to compare: identical flat pixels prove nothing
    return zncc(hp_a[calm], hp_b[calm], input_mean=True)


def _provenance(
    cand: Candidate,
    gray_full: np.ndarray,
    grayf: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray],
    res: float,
    graphic: float,
    grain: float,
    cfg: DenseConfig,
) -> Reason | None:
    """The check (step 7) that finds the copy's pixels independent of its source, if any."""
    dst_mask, src_mask = masks
    if res > cfg.max_residual:
        return Reason.MAX_RESIDUAL
    exact = False
    if grain > 0 and not np.isfinite(res):
        # In a figure with grain, a copy that shows none of it shared is not proven, unless
        # its pixels equal the source's outright: a band's mottling can be too coarse to
        # pass for grain, yet two bands drawn apart never agree to the grey level.
        if cand.linear is not None:
            return Reason.MAX_RESIDUAL  # resampled: no pixel equals its source exactly
        if exact_share(grayf, warped, valid, dst_mask) < cfg.min_exact:
            return Reason.MIN_EXACT
        # Drawn graphics repeat pixel for pixel too (a scale bar and its label, 17-20% flat
        # or saturated): equality spares the stroke test only in regions of image content.
        exact = graphic <= cfg.max_flat / 2
    # Text and ladder rungs are thin strokes; where the residual test was made they are
    # already out (glyphs drawn one by one do not share grain), and a stroke test there
    # would also drop copies of fine structure (cell outlines, speckle). So does the
    # exactness test in image content (typeset labels drawn over grain agree on 60-70% of
    # their pixels, copies on 94-99%). Figures without grain (clean graphics) keep it.
    if (
        not np.isfinite(res)
        and not exact
        and stroke_width(gray_full, dst_mask | src_mask) < cfg.min_stroke
    ):
        return Reason.MIN_STROKE
    return None


def _transform(
    cand: Candidate,
    matrix: np.ndarray,
    scores: tuple[float, float, float, float],
    s: float,
    cfg: DenseConfig,
) -> Transform:
    """The verified transform; ``scores``: (ZNCC, grain ZNCC, graphic share, residual)."""
    best_z, hp_zncc, graphic, res = scores
    half = (cfg.block - 1) / 2
    sp = ((cand.xy + half + 0.5) / s - 0.5).astype(np.float32)
    return Transform(
        matrix=matrix,
        support=len(cand.xy),
        zncc=best_z,
        hp_zncc=hp_zncc,
        graphic=graphic,
        flipped=bool(np.linalg.det(matrix[:, :2]) < 0),
        residual=res,
        src_points=sp,
        dst_points=(sp @ matrix[:, :2].T.astype(np.float32) + matrix[:, 2].astype(np.float32)),
    )


def _mirror_of_itself(
    m: np.ndarray,
    grayf: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    cfg: DenseConfig,
) -> bool:
    """Is a mirrored copy (``m`` (2, 3) a reflection, full resolution; ``warped``, ``valid``
    the figure mapped by it, as :func:`~forgeseg.matchers.dense.align.warp` gives them) one
    mirror-symmetric object, its two halves matched across its axis (the dark rim of a
    round fundus photo, a dish, a symmetric cell)?

    Then the pixels along the mirror axis, between source and copy, are mirror images of
    each other too: the object goes on across the axis. Between a forger's flipped copy
    and its source lies other content, which the reflection does not map onto itself."""
    a = m[:, :2]
    if float(np.linalg.det(a)) >= 0 or not src.any() or not dst.any():
        return False
    ys, xs = np.nonzero(src | dst)
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    mid = (pts + pts @ a.T + m[:, 2]) / 2  # on the axis, for a reflection
    vals, vecs = np.linalg.eig(a)
    d = np.real(vecs[:, int(np.argmin(np.abs(vals - 1)))])
    d /= max(float(np.linalg.norm(d)), 1e-9)
    n = np.array([-d[1], d[0]])
    c = float(np.median(mid @ n))
    along = pts @ d
    H, W = grayf.shape
    # The axis runs between source and copy: inside the box of both.
    x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 1, [W, H])
    yy, xx = np.mgrid[y0:y1, x0:x1]
    grid = np.stack([xx, yy], axis=-1).astype(np.float64)
    band = np.abs(grid @ n - c) <= cfg.mirror_band
    band &= (grid @ d >= along.min()) & (grid @ d <= along.max())
    band &= valid[y0:y1, x0:x1]
    if band.sum() < 32:
        return False
    return zncc(grayf[y0:y1, x0:x1][band], warped[y0:y1, x0:x1][band]) >= cfg.min_zncc


def verify(
    cand: Candidate,
    gray_full: np.ndarray,
    grayf: np.ndarray,
    s: float,
    cfg: DenseConfig,
    grain: float = 0.0,
) -> Checked:
    """Refine and check one candidate on the full-resolution pixels.

    Args:
        cand: the candidate, at working scale ``s``.
        gray_full: uint8 (H, W) figure; grayf: the same as float32.
        grain: the figure's :func:`~forgeseg.matchers.dense.evidence.grain_sigma`.
    """
    H, W = gray_full.shape
    src_fp = footprint(cand.xy, cfg.block, s, (H, W), None)
    # Blocks match while only mostly inside a copy, so their union overshoots the copied
    # region by up to a few pixels; those border pixels are not copies and would pull an
    # exact copy's correlation under min_zncc. The checks run on the eroded core.
    core = erode(src_fp, cfg.core_erode)
    aligned = _align(cand, grayf, core, s, cfg)
    if aligned is None:
        return Checked(Reason.MIN_ZNCC)
    matrix, best_z = aligned
    if cand.linear is None and cand.g == 0:
        ys, xs = np.nonzero(core)
        if periodic(grayf, ys, xs, grayf[core], matrix[:, 2], cfg.min_zncc):
            return Checked(Reason.PERIODIC)  # ladder rungs, wells, ticks: they repeat
    warped, valid = warp(grayf, matrix, smooth=cand.linear is not None)
    dst_fp = footprint(cand.xy, cfg.block, s, (H, W), matrix)
    if (dst_fp & src_fp).sum() > cfg.max_self_overlap * src_fp.sum():
        return Checked(Reason.SELF_OVERLAP)  # a symmetric object matched with itself
    hp_zncc = _grain_zncc(grayf, warped, valid, core, dst_fp, matrix, cfg)
    if hp_zncc is None:
        return Checked(Reason.MIN_GRAIN)
    if hp_zncc < cfg.min_hp_zncc:
        return Checked(Reason.MIN_HP_ZNCC)
    graphic = max(graphic_share(gray_full[dst_fp]), graphic_share(gray_full[src_fp]))
    if graphic > cfg.max_flat:
        return Checked(Reason.MAX_FLAT)
    masks = localise(grayf, warped, valid, dst_fp, matrix, cfg, grain)
    if masks is None:
        return Checked(Reason.LOCALISE)
    dst_mask, src_mask = masks
    if (dst_mask & src_mask).sum() > cfg.max_self_overlap * src_mask.sum():
        return Checked(Reason.SELF_OVERLAP)
    if _mirror_of_itself(matrix, grayf, warped, valid, src_mask, dst_mask, cfg):
        return Checked(Reason.SELF_OVERLAP)
    res = residual(grayf, warped, valid, dst_mask, grain, cfg)
    reason = _provenance(cand, gray_full, grayf, warped, valid, masks, res, graphic, grain, cfg)
    if reason is not None:
        return Checked(reason)
    tr = _transform(cand, matrix, (best_z, hp_zncc, graphic, res), s, cfg)
    return Checked(Reason.FOUND, dst_mask | src_mask, tr)
