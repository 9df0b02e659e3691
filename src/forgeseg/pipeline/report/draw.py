"""The report's pictures: a figure with both sides of each copy outlined and its matched
points joined, source and copy crops with the transform undone, and JPEG bytes that fit a
budget.

Figures are ``uint8`` RGB ``(H, W, 3)``; masks ``bool`` ``(H, W)`` at the figure's size.
Everything is drawn on downscaled thumbnails, so a page of many figures stays small.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import cv2
import numpy as np

from forgeseg.core.masks import bbox
from forgeseg.pipeline.render import TRUE_COLOR, thumbnail
from forgeseg.pipeline.report.collect import Copy, FigureReport

__all__ = [
    "COPY_COLOR",
    "LINE_COLOR",
    "REJECTED_COLOR",
    "SOURCE_COLOR",
    "copy_crops",
    "data_uri",
    "encode_jpeg",
    "figure_view",
]

SOURCE_COLOR = (0, 200, 255)  # cyan: the side a transform starts from
COPY_COLOR = (255, 40, 40)  # red: where it lands
LINE_COLOR = (255, 230, 0)  # yellow: matched points
REJECTED_COLOR = (200, 120, 255)  # violet: a candidate that was turned down
NETWORK_COLOR = (255, 0, 200)  # magenta: a network region (no transform)
_QUALITIES = (85, 70, 55, 40, 28)


def encode_jpeg(image: np.ndarray, max_bytes: int) -> bytes:
    """(h, w, 3) uint8 RGB -> JPEG bytes of at most ``max_bytes``: quality gives way
    first, then size (by 3/4 a step), so every figure keeps to its share of the page."""
    img = image
    while True:
        bgr = np.ascontiguousarray(img[:, :, ::-1])
        for q in _QUALITIES:
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q])
            if not ok:
                raise ValueError(f"JPEG encoding failed for an image of shape {img.shape}")
            if buf.size <= max_bytes or min(img.shape[:2]) <= 16:
                return buf.tobytes()
        h, w = img.shape[:2]
        img = cv2.resize(img, (max(1, w * 3 // 4), max(1, h * 3 // 4)), cv2.INTER_AREA)


def data_uri(jpeg: bytes) -> str:
    """JPEG bytes as a ``data:`` URI, so the page needs no other file."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _small(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    # INTER_AREA then > 0: a region of a few pixels stays visible on a thumbnail.
    small = cv2.resize(mask.astype(np.uint8) * 255, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)
    return small > 0


def _outline(canvas: np.ndarray, mask: np.ndarray, color: Sequence[int], width: int) -> None:
    small = _small(mask, canvas.shape[:2])
    if small.any():
        contours, _ = cv2.findContours(
            small.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        cv2.drawContours(canvas, contours, -1, tuple(int(c) for c in color), width, cv2.LINE_AA)


def _lines(canvas: np.ndarray, copy: Copy, f: float, max_lines: int) -> None:
    """Join up to ``max_lines`` matched point pairs, spread evenly over all of them."""
    src, dst = copy.transform.src_points, copy.transform.dst_points
    if max_lines == 0 or len(src) == 0:
        return
    pick = np.unique(np.linspace(0, len(src) - 1, min(max_lines, len(src))).round().astype(int))
    layer = canvas.copy()
    for i in pick:
        a = tuple(int(v) for v in np.rint((src[i] + 0.5) * f - 0.5))
        b = tuple(int(v) for v in np.rint((dst[i] + 0.5) * f - 0.5))
        cv2.line(layer, a, b, LINE_COLOR, 1, cv2.LINE_AA)
        cv2.circle(layer, a, 2, SOURCE_COLOR, -1, cv2.LINE_AA)
        cv2.circle(layer, b, 2, COPY_COLOR, -1, cv2.LINE_AA)
    # Half transparent: many parallel lines would otherwise hide the copy they point at.
    cv2.addWeighted(layer, 0.6, canvas, 0.4, 0, dst=canvas)


def figure_view(image: np.ndarray, rep: FigureReport, side: int, max_lines: int) -> np.ndarray:
    """A thumbnail (long side ``side``) of ``image`` (H, W, 3) uint8 with, per copy-move,
    its source outlined cyan and its copy red, joined by yellow lines between matched
    points; network regions magenta; a rejected candidate violet; truth green."""
    canvas, (th, _) = thumbnail(image, side)
    canvas = canvas.copy()
    f = th / image.shape[0]
    width = 2 if side >= 320 else 1
    if rep.truth is not None:
        for inst in rep.truth:
            _outline(canvas, inst, TRUE_COLOR, width)
    for finding in rep.findings:
        if not finding.copies:
            _outline(canvas, finding.mask, NETWORK_COLOR, width)
        for copy in finding.copies:
            _lines(canvas, copy, f, max_lines)
            _outline(canvas, copy.source, SOURCE_COLOR, width)
            _outline(canvas, copy.copy, COPY_COLOR, width)
    if rep.rejected is not None:
        _outline(canvas, rep.rejected.source, REJECTED_COLOR, width)
        if rep.rejected.copy is not None:
            _outline(canvas, rep.rejected.copy, REJECTED_COLOR, width)
    return canvas


def copy_crops(image: np.ndarray, copy: Copy, side: int) -> tuple[np.ndarray, ...]:
    """(source crop, copy with the transform undone, their difference x3), each uint8
    (h, w, 3) with long side ``side``; the source side is outlined on the first two.

    The copy crop samples the figure at T(x) for every x of the source crop (T: source to
    copy), so a true copy looks like its source pixel for pixel, whatever the flip, turn
    or scale; the difference is dark where they agree.
    """
    mask = copy.source if copy.source.any() else copy.copy
    ys, xs = np.nonzero(mask)
    pad = max(4, round(0.15 * max(np.ptp(ys) + 1, np.ptp(xs) + 1)))
    y0, x0, y1, x1 = bbox(mask, pad)
    t3 = np.vstack([copy.transform.matrix, [0.0, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    back = (t3 @ shift)[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    undone = cv2.warpAffine(image, back, (x1 - x0, y1 - y0), flags=flags)
    src = image[y0:y1, x0:x1]
    diff = np.abs(src.astype(np.int16) - undone.astype(np.int16)).mean(axis=2)
    diff = np.repeat(np.clip(diff * 3, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    out = []
    for i, crop in enumerate((src, undone, diff)):
        small, _ = thumbnail(np.ascontiguousarray(crop), side)
        small = small.copy()
        if i < 2:
            _outline(small, mask[y0:y1, x0:x1], SOURCE_COLOR, 1)
        out.append(small)
    return tuple(out)
