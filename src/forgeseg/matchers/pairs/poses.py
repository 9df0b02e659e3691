"""The 8 flips and quarter turns of a panel, and the map from a posed copy back to it.

A reused panel is often mirrored or turned. Keypoints that are not rotation invariant
(ALIKED) find it only on a posed copy of the panel; their locations are then mapped back to
the panel's own coordinates, so that the fitted transform says directly how one panel lies
on the other (a mirrored copy gives a transform with a negative determinant).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["IDENTITY", "MIRROR", "POSES", "Pose", "apply_pose", "unpose_matrix", "unpose_points"]


class Pose(NamedTuple):
    """Mirror left-right first (``flip``), then turn ``turns`` quarter turns counter-clockwise
    (``np.rot90``)."""

    flip: bool
    turns: int


POSES: tuple[Pose, ...] = tuple(Pose(f, k) for f in (False, True) for k in range(4))
IDENTITY = POSES[0]
MIRROR = Pose(True, 0)


def apply_pose(image: np.ndarray, pose: Pose) -> np.ndarray:
    """A posed, contiguous copy of an (h, w) or (h, w, C) array."""
    out = image[:, ::-1] if pose.flip else image
    return np.ascontiguousarray(np.rot90(out, pose.turns))


def unpose_matrix(pose: Pose, shape: tuple[int, int]) -> np.ndarray:
    """(2, 3) float64: maps pixel coordinates (x, y) of the posed copy of an (h, w) image
    to those of the image itself.

    Worked out by posing the images' own coordinate grids, so it can never disagree with
    :func:`apply_pose`.
    """
    h, w = shape
    if h < 2 or w < 2:
        raise ValueError(f"a posed image needs at least 2 x 2 pixels, got {h} x {w}")
    ys, xs = np.mgrid[0:h, 0:w].astype(np.int32)
    px, py = apply_pose(xs, pose), apply_pose(ys, pose)
    ph, pw = px.shape
    # Three corners of the posed copy and where they came from determine the map exactly.
    corners = [(0, 0), (pw - 1, 0), (0, ph - 1)]
    src = np.array([[x, y, 1.0] for x, y in corners])
    dst = np.array([[px[y, x], py[y, x]] for x, y in corners], np.float64)
    return np.linalg.solve(src, dst).T


def unpose_points(points: np.ndarray, pose: Pose, shape: tuple[int, int]) -> np.ndarray:
    """(K, 2) float32 points (x, y) of the posed copy of an (h, w) image, in the image's own
    coordinates."""
    if pose == IDENTITY or len(points) == 0:
        return points.astype(np.float32, copy=False)
    m = unpose_matrix(pose, shape)
    return (points.astype(np.float64) @ m[:, :2].T + m[:, 2]).astype(np.float32)
