"""The region two panels share, on both sides, as one instance in figure coordinates.

A reused panel, or two crops of one image, share the part of each panel that the other
covers: panel a's box mapped by the verified transform onto panel b, clipped to b's box,
and b's box mapped back onto a, clipped to a's. Both sides form one instance (the source
and its copy, as the competition marks them). 4th place used the hull of the inliers
instead (``detect.pairs.region: hull``): tighter when only part of a panel was reused,
short of the true region when the keypoints miss its flat margins.
"""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.panels.structure import Box

__all__ = ["agreed_region", "figure_matrix", "hull_region", "shared_region"]


def figure_matrix(m: np.ndarray, box_a: Box, box_b: Box) -> np.ndarray:
    """(2, 3) float64: the panel-to-panel map ``m`` (panel a's pixels -> panel b's) as a
    map of figure pixels."""
    out = m.astype(np.float64).copy()
    oa = np.array(box_a[:2], np.float64)
    ob = np.array(box_b[:2], np.float64)
    out[:, 2] = m[:, 2] + ob - m[:, :2] @ oa
    return out


def _invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(m.astype(np.float64))


def _box_mask(box: Box, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    out[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return out


def _mapped_box(m: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """bool (H, W): the figure-pixel box ``box`` mapped by the figure map ``m``."""
    x0, y0, x1, y1 = box
    # The centres of the box's corner pixels: OpenCV fills the pixels its outline touches.
    corners = np.array([[x0, y0], [x1 - 1, y0], [x1 - 1, y1 - 1], [x0, y1 - 1]], np.float64)
    mapped = corners @ m[:, :2].T + m[:, 2]
    canvas = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(canvas, np.round(mapped * 16).astype(np.int32), 1, shift=4)
    return canvas.astype(bool)


def shared_region(m: np.ndarray, box_a: Box, box_b: Box, shape: tuple[int, int]) -> np.ndarray:
    """bool (H, W): what panels a and b share under ``m`` (panel a's pixels -> panel b's),
    on both sides, in an (H, W) figure."""
    fig = figure_matrix(m, box_a, box_b)
    on_b = _mapped_box(fig, box_a, shape) & _box_mask(box_b, shape)
    on_a = _mapped_box(_invert(fig), box_b, shape) & _box_mask(box_a, shape)
    return on_a | on_b


def hull_region(
    src: np.ndarray, dst: np.ndarray, box_a: Box, box_b: Box, shape: tuple[int, int]
) -> np.ndarray:
    """bool (H, W): the convex hulls of the inliers (K, 2) ``src`` in panel a and ``dst``
    in panel b (panel pixels), in an (H, W) figure."""
    canvas = np.zeros(shape, np.uint8)
    for pts, box in ((src, box_a), (dst, box_b)):
        fig = np.round(pts + np.array(box[:2], np.float32)).astype(np.int32)
        cv2.fillConvexPoly(canvas, cv2.convexHull(fig), 1)
    return canvas.astype(bool) & (_box_mask(box_a, shape) | _box_mask(box_b, shape))


def agreed_region(
    region: np.ndarray, m: np.ndarray, box_a: Box, box_b: Box, shape: tuple[int, int]
) -> np.ndarray:
    """bool (H, W): the verified shared content, bool (h, w) on panel b's working copy, at
    full size on panel b and mapped back by ``m`` (panel a's pixels -> panel b's) onto
    panel a, in an (H, W) figure. Tight for a pasted part or a lane, where the warped box
    would cover the whole panel."""
    xa0, ya0, xa1, ya1 = box_a
    xb0, yb0, xb1, yb1 = box_b
    on_b = cv2.resize(
        region.astype(np.uint8), (xb1 - xb0, yb1 - yb0), interpolation=cv2.INTER_NEAREST
    )
    # out(x) = on_b(m x): the preimage of the shared content on panel a.
    flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    on_a = cv2.warpAffine(on_b, m.astype(np.float64), (xa1 - xa0, ya1 - ya0), flags=flags)
    out = np.zeros(shape, bool)
    out[yb0:yb1, xb0:xb1] |= on_b.astype(bool)
    out[ya0:ya1, xa0:xa1] |= on_a.astype(bool)
    return out
