"""Step 5 groundwork of the dense matcher: a candidate's map at full resolution, refined on
the pixels (to the pixel for flips / turns, by a compass search for rotated / rescaled
copies), and the footprints and images it maps."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from forgeseg.core.pixels import sample_bilinear, zncc
from forgeseg.matchers.dense.dihedral import DIHEDRAL
from forgeseg.matchers.dense.vote import Candidate

__all__ = ["align_affine", "align_dihedral", "footprint", "full_matrix", "warp"]


def full_matrix(g: int, shift: np.ndarray, s: float) -> np.ndarray:
    """(2, 3) float64 full-resolution pixel-index map of a working-scale x -> D x + t."""
    d = DIHEDRAL[g].astype(np.float64)
    one = np.full(2, 0.5)
    # Pixel centres: x_full + 0.5 = (x_work + 0.5) / s.
    t = d @ one - one + (shift + one - d @ one) / s
    return np.hstack([d, t[:, None]])


def footprint(
    corners: np.ndarray, block: int, s: float, shape: tuple[int, int], matrix: np.ndarray | None
) -> np.ndarray:
    """bool (H, W) full-resolution union of working-scale blocks (top-left corners (K, 2)),
    mapped by ``matrix`` ((2, 3), full resolution) when given."""
    H, W = shape
    m = np.zeros((H, W), np.uint8)
    for x, y in corners:
        x0, y0 = int(np.floor(x / s)), int(np.floor(y / s))
        x1, y1 = int(np.ceil((x + block) / s)), int(np.ceil((y + block) / s))
        m[max(y0, 0) : min(y1, H), max(x0, 0) : min(x1, W)] = 1
    if matrix is not None:
        m = cv2.warpAffine(m, matrix, (W, H), flags=cv2.INTER_NEAREST)
    return m.astype(bool)


def warp(
    gray: np.ndarray, matrix: np.ndarray, smooth: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """float32 (H, W) ``gray`` mapped by ``matrix`` (so ``out(T x) = gray(x)``) and the bool
    (H, W) map of where it is defined. ``smooth``: interpolate (rotations, rescaling), as
    the forger's software did; flips and quarter turns move whole pixels."""
    H, W = gray.shape
    out = cv2.warpAffine(
        gray,
        matrix,
        (W, H),
        flags=cv2.INTER_LINEAR if smooth else cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=-1.0,
    )
    return out, out >= 0


def align_dihedral(
    cand: Candidate, grayf: np.ndarray, core: np.ndarray, s: float
) -> tuple[np.ndarray, float] | None:
    """The full-resolution map (2, 3) of a flip / turn candidate, its shift searched to the
    pixel around the working-scale one, and the ZNCC of ``core`` (bool (H, W)) with its
    image in ``grayf`` (float32 (H, W)); None where no shift keeps 90% of the core inside
    the figure."""
    H, W = grayf.shape
    base = full_matrix(cand.g, cand.shift, s)
    # The working-scale shift is known to about a working pixel: search the full-scale one.
    r = int(np.ceil(1.0 / s))
    d = DIHEDRAL[cand.g].astype(np.float64)
    src_vals = grayf[core]
    ys, xs = np.nonzero(core)
    pts = np.stack([xs, ys]).astype(np.float64)
    best, best_z = None, -2.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            t = base[:, 2] + (dx, dy)
            mx, my = np.rint(d @ pts + t[:, None]).astype(np.int64)
            ok = (mx >= 0) & (mx < W) & (my >= 0) & (my < H)
            if ok.mean() < 0.9:
                continue
            z = zncc(src_vals[ok], grayf[my[ok], mx[ok]], input_mean=True)
            if z > best_z:
                best, best_z = np.rint(t), z
    if best is None:
        return None
    return np.hstack([d, best[:, None]]), best_z


def _similarity_scorer(
    grayf: np.ndarray, rel: np.ndarray, vals: np.ndarray
) -> Callable[[np.ndarray], float]:
    """score(p) for p = (angle, scale, centre x, centre y): the ZNCC of the core values
    ``vals`` (K,) with the bilinear image of the core's offsets ``rel`` (2, K) from its
    centre under that similarity; -2.0 when under 90% of the core stays in the figure."""
    H, W = grayf.shape

    def score(p: np.ndarray) -> float:
        c, sn = np.cos(p[0]) * p[1], np.sin(p[0]) * p[1]
        mx = c * rel[0] - sn * rel[1] + p[2]
        my = sn * rel[0] + c * rel[1] + p[3]
        ok = (mx >= 0) & (mx <= W - 1) & (my >= 0) & (my <= H - 1)
        if ok.mean() < 0.9:
            return -2.0
        im = sample_bilinear(grayf, mx[ok].astype(np.float32), my[ok].astype(np.float32))
        return zncc(vals[ok], im, input_mean=True)

    return score


def _compass_search(
    score: Callable[[np.ndarray], float], p0: np.ndarray, reach: np.ndarray, steps: np.ndarray
) -> tuple[np.ndarray, float]:
    """Coordinate ascent of ``score`` from ``p0`` (4,), never further than ``reach`` from
    it; each pass that improves nothing halves ``steps``. Returns (best p, its score)."""
    p = p0
    best = score(p)
    for _ in range(100):
        moved = False
        for k in range(4):
            for sign in (1.0, -1.0):
                q = p.copy()
                q[k] += sign * steps[k]
                if abs(q[k] - p0[k]) > reach[k]:
                    continue
                z = score(q)
                if z > best:
                    p, best, moved = q, z, True
        if not moved:
            steps /= 2
            if steps[2] < 0.05:
                break
    return p, best


def align_affine(
    cand: Candidate, grayf: np.ndarray, core: np.ndarray, s: float
) -> tuple[np.ndarray, float] | None:
    """The full-resolution map (2, 3) of a rotated / rescaled candidate, refined on the
    pixels, and the ZNCC of ``core`` (bool (H, W)) with its image in ``grayf`` (float32
    (H, W)); None where the map leaves the figure.

    The block fit is good to about a pixel; the residual test needs the copy's resampling
    reproduced to a fraction of one. A compass search over angle, scale and the position of
    the core's centre climbs the ZNCC of the core with its bilinear image: a similarity
    has four numbers, and unlike a gradient method (ECC) it cannot drift into a shear.
    """
    lin = cand.linear.astype(np.float64)
    d = DIHEDRAL[cand.g].astype(np.float64)
    one = np.full(2, 0.5)
    # Working pixel centres x_w + 0.5 = s (x_full + 0.5), as in full_matrix.
    t = lin @ one - one + (cand.shift + one - lin @ one) / s
    rot = lin @ d.T  # the similarity that follows the flip / turn
    scale0 = float(np.sqrt(abs(np.linalg.det(rot))))
    angle0 = float(np.arctan2(rot[1, 0], rot[0, 0]))
    ys, xs = np.nonzero(core)
    pts = np.stack([xs, ys]).astype(np.float64)
    centre = pts.mean(axis=1)
    score = _similarity_scorer(grayf, d @ (pts - centre[:, None]), grayf[ys, xs])
    p0 = np.array([angle0, scale0, *(lin @ centre + t)])
    # The fit is off by about a pixel over the region; a search let wander further climbs
    # onto some other structure.
    reach = np.array([np.radians(3.0), 0.05 * scale0, 3.0, 3.0])
    steps = np.array([np.radians(1.0), 0.02 * scale0, 1.0, 1.0])
    p, best = _compass_search(score, p0, reach, steps)
    if best <= -2.0:
        return None
    c, sn = np.cos(p[0]) * p[1], np.sin(p[0]) * p[1]
    full = np.array([[c, -sn], [sn, c]]) @ d
    return np.hstack([full, (p[2:] - full @ centre)[:, None]]), best
