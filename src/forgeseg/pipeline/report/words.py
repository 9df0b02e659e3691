"""What a transform and a rejection mean, in the words an analyst reads.

A verified copy comes with a (2, 3) map from its source to the copy
(:class:`forgeseg.matchers.base.Transform`); :func:`decompose` splits its linear part into a
mirror, a turn and a scale, and :func:`describe` says it as ``"copy flipped left-right,
scaled 1.12"``. :data:`REJECTIONS` says in plain words what each check of the dense matcher
(:class:`forgeseg.matchers.dense.Reason`) found when it rejected a candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["REJECTIONS", "Motion", "decompose", "describe", "rejection"]

# Below these a turn or a rescaling is the interpolation of a fit, not something a forger
# did: a verified translation comes back with angles of a few tenths of a degree.
_MIN_ANGLE = 1.0  # degrees
_MIN_SCALE = 0.02  # relative
# Mirrors tried when the map reverses orientation; the one that leaves the smallest turn
# is named (an up-down flip is also a left-right flip turned 180 degrees).
_MIRRORS: tuple[tuple[str, np.ndarray], ...] = (
    ("left-right", np.diag([-1.0, 1.0])),
    ("up-down", np.diag([1.0, -1.0])),
)

# Dense-matcher checks (forgeseg.matchers.dense.Reason values) in plain words.
REJECTIONS: dict[str, str] = {
    "min_zncc": "the mapped source does not correlate with the copy",
    "periodic": "it also matches at other multiples of its shift: a regular pattern",
    "self_overlap": "the copy covers its own source: a symmetric object",
    "min_grain": "no fine grain to compare",
    "min_hp_zncc": "the fine grain of the two sides does not correlate",
    "max_flat": "mostly flat or saturated pixels: drawn graphics such as text or bars",
    "localise": "no agreeing pixels around the matched blocks",
    "max_residual": "copy minus source leaves two grains' worth: a look-alike drawn apart",
    "min_exact": "no shared grain, and the pixels are not equal either",
    "min_stroke": "thin strokes (text, rungs, plot lines) in a figure without grain",
    "min_support": "verified, but with less support than the calibrated floor",
    "min_area": "verified, but smaller than the area floor",
}


@dataclass(frozen=True)
class Motion:
    """A source-to-copy map split into what a person can picture.

    ``mirror``: ``"left-right"``, ``"up-down"`` or None, applied first; then a turn of
    ``angle`` degrees (positive: clockwise on screen, where y points down) and a uniform
    ``scale``; ``shift``: (dx, dy) px from the source's centre to the copy's.
    """

    mirror: str | None
    angle: float
    scale: float
    shift: tuple[float, float]


def _check_matrix(matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, np.float64)
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise ValueError(f"a transform must be a finite (2, 3) matrix, got shape {m.shape}")
    if abs(np.linalg.det(m[:, :2])) < 1e-9:
        raise ValueError("a transform's linear part is singular: it maps a region to a line")
    return m


def decompose(matrix: np.ndarray, centre: tuple[float, float] | None = None) -> Motion:
    """Split a (2, 3) source-to-copy map (pixel x, y) into mirror, turn, scale and shift.

    ``centre``: the source region's centre, whose image gives the shift (the origin when
    None). The linear part is read as ``rotation @ scale @ mirror``; a similarity (what
    both matchers fit) is exactly that, a general affine map is approximated by it.

    Raises:
        ValueError: for a matrix that is not a finite, invertible (2, 3) map.
    """
    m = _check_matrix(matrix)
    lin = m[:, :2]
    options = [(None, np.eye(2))] if np.linalg.det(lin) > 0 else list(_MIRRORS)
    best: tuple[float, str | None, float, float] | None = None
    for name, mirror in options:
        rot = lin @ mirror  # mirrors are their own inverse
        angle = math.degrees(math.atan2(rot[1, 0] - rot[0, 1], rot[0, 0] + rot[1, 1]))
        scale = math.sqrt(abs(np.linalg.det(rot)))
        if best is None or abs(angle) < abs(best[0]) - 1e-6:
            best = (angle, name, angle, scale)
    assert best is not None
    _, mirror_name, angle, scale = best
    c = np.zeros(2) if centre is None else np.asarray(centre, np.float64)
    d = lin @ c + m[:, 2] - c
    return Motion(mirror_name, angle, scale, (float(d[0]), float(d[1])))


def _turn_words(angle: float) -> str | None:
    a = round(angle, 1)
    if abs(a) < _MIN_ANGLE:
        return None
    if abs(abs(a) - 180.0) < _MIN_ANGLE:
        return "turned 180°"
    side = "clockwise" if a > 0 else "counter-clockwise"
    size = abs(a)
    text = "90°" if abs(size - 90.0) < _MIN_ANGLE else f"{size:.1f}°"
    return f"turned {text} {side}"


def _shift_words(shift: tuple[float, float]) -> str:
    dx, dy = shift
    parts = []
    if abs(dx) >= 0.5:
        parts.append(f"{abs(dx):.0f} px {'right' if dx > 0 else 'left'}")
    if abs(dy) >= 0.5:
        parts.append(f"{abs(dy):.0f} px {'down' if dy > 0 else 'up'}")
    return "moved " + " and ".join(parts) if parts else "in place"


def describe(matrix: np.ndarray, centre: tuple[float, float] | None = None) -> str:
    """The map in words: ``"copy flipped left-right, scaled 1.12"``; a plain translation
    is ``"copy moved 55 px right and 36 px down"``. With ``centre`` (the source region's
    centre) the words end with where the copy went."""
    mo = decompose(matrix, centre)
    parts = []
    if mo.mirror is not None:
        parts.append(f"flipped {mo.mirror}")
    turn = _turn_words(mo.angle)
    if turn is not None:
        parts.append(turn)
    if abs(mo.scale - 1.0) >= _MIN_SCALE:
        parts.append(f"scaled {mo.scale:.2f}")
    if not parts or centre is not None:
        parts.append(_shift_words(mo.shift))
    return "copy " + ", ".join(parts)


def rejection(reason: str) -> str:
    """Plain words for the check that rejected a candidate (its name when unknown)."""
    return REJECTIONS.get(str(reason), f"rejected by the {reason} check")
