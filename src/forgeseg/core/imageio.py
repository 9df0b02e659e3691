"""Decode one figure or one mask, whatever odd form the file takes.

Real figures come as RGB, grayscale, RGBA, palette, 1-bit and 16-bit PNGs; masks as
``(N,H,W)``, ``(H,W)``, ``(1,H,W)`` or ``(H,W,N)`` arrays of 0/1. Every reader here returns
the project's in-memory form (``uint8 (H,W,3)`` figures, ``bool (N,H,W)`` masks) or raises
:class:`forgeseg.core.errors.DataError` naming the file, never a raw PIL or NumPy error.

Problem strings start with a short category and a colon (``"undecodable image: ..."``,
``"mask values not 0/1: ..."``) so that callers can count problems by kind.

Choices:

- Transparency is composited on white, as a figure is seen on a page: dropping the alpha
  channel instead would expose whatever colour hides under transparent pixels (often black),
  which no reader of the paper ever saw.
- 16-bit samples are scaled to 8 bit by a fixed ``round(v / 257)`` (65535 -> 255), not
  stretched per image, so two figures with the same samples decode to the same bytes.
- Figures above :data:`MAX_PIXELS` are refused before their pixels are decoded: the
  largest real figure is 3888 x 3888 (about 15 MP); a 50 MP limit leaves room while keeping
  one decoded figure (and its float copies downstream) far from exhausting memory.
- Degenerate figures are refused from the header too: a side under :data:`MIN_SIDE` (8 px)
  or a long side more than :data:`MAX_ASPECT` (20) times the short one. Real figures run
  from about 113x64 to 3888x3888 and generated ones have sides of 32 px or more and aspect
  ratios of at most 3.2, so only icons and broken exports (a 1-px strip) fall outside: the
  detectors would resize those into noise, and a 1x20000 strip slips under the pixel
  limit. The side limit is low on purpose: it stops degenerate files, it does not judge
  small figures, which the detectors upscale.
- Mask dtypes: uint8 0/1 (the competition's) is read silently. bool, other integer dtypes
  and floats whose values are exactly 0/1 are normalised with a note naming the file (see
  :func:`inspect_mask`; :func:`read_mask` logs it as a warning once per file); floats with
  any other value (0.5, NaN) are refused, since thresholding them would invent a mask.
- A mask channel that is all zeros beside marked ones is dropped with a note naming its
  index: it is no instance, and the score would count it as one the detector missed.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from forgeseg.core.errors import DataError

__all__ = [
    "MAX_ASPECT",
    "MAX_PIXELS",
    "MIN_SIDE",
    "MaskRead",
    "image_size",
    "inspect_mask",
    "read_image",
    "read_mask",
    "to_gray",
    "verify_image",
]

MAX_PIXELS = 50_000_000
MIN_SIDE = 8
MAX_ASPECT = 20.0

log = logging.getLogger(__name__)

_NPY_MAGIC = b"\x93NUMPY"
# Errors PIL raises on broken files: truncated streams (OSError), bad chunks (SyntaxError,
# ValueError), zlib failures, and its own bomb check (a subclass of Exception).
_PIL_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
)

PathLike = str | os.PathLike[str]


def _open(path: PathLike) -> Image.Image:
    """Open a figure lazily (header only); refuse it if too large or degenerate in size."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "missing file: no such image")
    try:
        with warnings.catch_warnings():
            # Figures between PIL's warning threshold and our limit are legitimate.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p)
    except Image.DecompressionBombError as exc:
        raise DataError(p, f"image too large: {exc} (limit {MAX_PIXELS:,} pixels)") from None
    except _PIL_ERRORS as exc:
        raise _undecodable(p, exc) from None
    try:
        _check_geometry(p, im.width, im.height)
    except DataError:
        im.close()
        raise
    return im


def _check_geometry(p: Path, width: int, height: int) -> None:
    size = f"{width}x{height} pixels (width x height)"
    if width * height > MAX_PIXELS:
        raise DataError(p, f"image too large: {size} exceeds the {MAX_PIXELS:,} pixel limit")
    if width == 0 or height == 0:
        raise DataError(p, "undecodable image: zero-sized image")
    short, long = min(width, height), max(width, height)
    if short < MIN_SIDE:
        raise DataError(
            p, f"image too small: {size}, the shorter side must be at least {MIN_SIDE} px"
        )
    if long > MAX_ASPECT * short:
        raise DataError(
            p,
            f"image too elongated: {size}, aspect ratio {long / short:.1f}:1 exceeds "
            f"the {MAX_ASPECT:g}:1 limit",
        )


def _undecodable(path: PathLike, exc: BaseException) -> DataError:
    problem = f"undecodable image: {exc}"
    if Path(path).name.startswith("._"):
        # Copies made on macOS leave these beside every figure; say so, the PIL error won't.
        problem += " (a '._' file is macOS AppleDouble metadata, not a figure)"
    return DataError(path, problem)


def image_size(path: PathLike) -> tuple[int, int]:
    """``(H, W)`` of a figure, read from its header without decoding pixels.

    Raises DataError for a missing or unreadable file, for figures above MAX_PIXELS and
    for degenerate sizes (a side under MIN_SIDE, an aspect ratio above MAX_ASPECT).
    """
    im = _open(path)
    try:
        return im.height, im.width
    finally:
        im.close()


def verify_image(path: PathLike) -> tuple[int, int]:
    """Decode every pixel of a figure (catching truncated files) and return its ``(H, W)``.

    Cheaper than :func:`read_image` because no colour conversion is done; used to validate
    a dataset.
    """
    im = _open(path)
    try:
        im.load()
        return im.height, im.width
    except _PIL_ERRORS as exc:
        raise _undecodable(path, exc) from None
    finally:
        im.close()


def read_image(path: PathLike) -> np.ndarray:
    """Decode a figure to ``uint8 (H, W, 3)`` RGB, whatever its mode.

    L/1/P/I;16/I/F/LA/RGBA/CMYK... are all converted (see the module docstring for alpha
    and 16-bit handling). Raises DataError for missing, undecodable, oversized or
    degenerate (too small, too elongated) files.
    """
    im = _open(path)
    try:
        im.load()
        return _to_rgb(im)
    except _PIL_ERRORS as exc:
        raise _undecodable(path, exc) from None
    finally:
        im.close()


def _to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8).copy()
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _gray_to_rgb(_scale_16bit(np.asarray(im)))
    if mode == "P":
        # A palette may carry transparency (tRNS); only then is RGBA needed.
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        mode = im.mode
        if mode == "RGB":
            return np.asarray(im, dtype=np.uint8).copy()
    if mode in ("1", "L"):
        return _gray_to_rgb(np.asarray(im.convert("L"), dtype=np.uint8))
    if mode in ("LA", "La", "PA"):
        la = np.asarray(im.convert("LA"), dtype=np.uint8)
        return _gray_to_rgb(_composite_white(la[..., :1], la[..., 1])[..., 0])
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
        return _composite_white(rgba[..., :3], rgba[..., 3])
    # CMYK, YCbCr, LAB, HSV...: PIL knows how to reach RGB.
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def _scale_16bit(values: np.ndarray) -> np.ndarray:
    """Integer or float samples in 0..65535 -> uint8 by ``round(v / 257)``; clipped outside."""
    v = np.clip(values.astype(np.float32), 0, 65535)
    return np.rint(v / 257.0).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _composite_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``color (H,W,C) uint8`` over white with ``alpha (H,W) uint8`` -> ``uint8 (H,W,C)``."""
    if alpha.min() == 255:
        return np.ascontiguousarray(color)
    a = alpha.astype(np.uint16)[:, :, None]
    out = (color.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


@dataclass(frozen=True)
class MaskRead:
    """A mask as :func:`read_mask` returns it, and what was normalised on the way.

    ``notes`` read ``"category: detail"`` (``"mask dtype not uint8: ..."``, ``"empty mask
    channel: ..."``) and do not name the file: the caller knows it.
    """

    masks: np.ndarray
    notes: tuple[str, ...] = ()


def read_mask(path: PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Load a ``.npy`` mask as ``bool (N, H, W)``, one channel per forgery instance.

    Accepted layouts: ``(N,H,W)``, ``(H,W)``, ``(1,H,W)``, ``(H,W,1)``, and ``(H,W,N)``
    when ``shape`` makes it unambiguous (``(N,H,W)`` wins a tie). Values must be 0/1; a
    dtype other than uint8 and an all-zero channel beside marked ones are accepted with a
    warning logged once per file (see :func:`inspect_mask`). An all-zero mask comes back
    with ``N == 0``, without a warning: callers decide whether that is wrong.

    Args:
        path: the ``.npy`` file (loaded with ``allow_pickle=False``, memory-mapped).
        shape: the figure's ``(H, W)``; when given, the mask must match it.

    Raises:
        DataError: missing file, not a ``.npy``, object/non-numeric dtype, a shape that
            is not a mask or does not match ``shape``, values other than 0/1.
    """
    result = inspect_mask(path, shape)
    for note in result.notes:
        _warn_once(str(path), note)
    return result.masks


def inspect_mask(path: PathLike, shape: tuple[int, int] | None = None) -> MaskRead:
    """:func:`read_mask` without logging: the mask and the notes about it.

    Dataset validation runs in worker processes whose logs go nowhere useful; it records
    the notes instead. Raises what :func:`read_mask` raises.
    """
    p = Path(path)
    arr = _load_npy(p)
    mask = _normalise_layout(p, arr, shape)
    _check_binary(p, mask)
    notes: list[str] = []
    if mask.dtype != np.uint8:
        notes.append(f"mask dtype not uint8: {mask.dtype} 0/1 values read as a 0/1 mask")
    mask = np.asarray(mask).astype(bool)
    keep = mask.any(axis=(1, 2))
    if keep.any() and not keep.all():
        empty = ", ".join(str(i) for i in np.flatnonzero(~keep))
        which = "channel" if (~keep).sum() == 1 else "channels"
        notes.append(
            f"empty mask channel: {which} {empty} of {keep.size} all zeros, dropped (no instance)"
        )
    if not keep.all():
        mask = mask[keep]
    return MaskRead(np.ascontiguousarray(mask), tuple(notes))


# Loaders read every mask once per epoch: one warning per file and note is enough.
_WARNED: set[tuple[str, str]] = set()


def _warn_once(path: str, note: str) -> None:
    if (path, note) not in _WARNED:
        _WARNED.add((path, note))
        log.warning("%s: %s", path, note)


def _load_npy(p: Path) -> np.ndarray:
    if not p.is_file():
        raise DataError(p, "missing file: no such mask")
    try:
        with p.open("rb") as fh:
            magic = fh.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise DataError(p, f"unreadable mask: {exc}") from None
    if magic != _NPY_MAGIC:
        raise DataError(p, "not a .npy file: missing the NumPy header")
    try:
        # mmap: validation of a large mask then reads it once, without a second copy.
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(p, f"unreadable mask: {exc}") from None
    if not isinstance(arr, np.ndarray):
        raise DataError(p, "not a .npy file: holds no single array")
    if arr.dtype.kind not in "biuf":
        raise DataError(p, f"mask dtype not numeric: {arr.dtype}")
    return arr


def _normalise_layout(p: Path, arr: np.ndarray, shape: tuple[int, int] | None) -> np.ndarray:
    """Any accepted layout -> ``(N, H, W)`` (a view where possible)."""
    want = None if shape is None else (int(shape[0]), int(shape[1]))
    if arr.ndim == 2:
        out = arr[None]
    elif arr.ndim == 3:
        if want is None:
            # Without a reference size only (H,W,1) is recognisable: a trailing singleton.
            hw1 = arr.shape[2] == 1 and arr.shape[0] != 1
            out = np.moveaxis(arr, 2, 0) if hw1 else arr
        elif tuple(arr.shape[1:]) == want:
            out = arr
        elif tuple(arr.shape[:2]) == want:
            out = np.moveaxis(arr, 2, 0)
        else:
            out = arr
    else:
        raise DataError(p, f"mask shape not a mask: {tuple(arr.shape)}, expected (N,H,W) or (H,W)")
    if want is not None and tuple(out.shape[1:]) != want:
        raise DataError(p, f"mask shape mismatch: mask is {tuple(arr.shape)}, figure is {want}")
    return out


def _check_binary(p: Path, mask: np.ndarray) -> None:
    if mask.size == 0 or mask.dtype == np.bool_:
        return
    if mask.dtype.kind in "iu":
        lo, hi = int(mask.min()), int(mask.max())
        if lo >= 0 and hi <= 1:
            return
        raise DataError(p, f"mask values not 0/1: found values from {lo} to {hi}")
    ok = (mask == 0) | (mask == 1)
    if not ok.all():
        bad = np.asarray(mask)[~ok]
        raise DataError(p, f"mask values not 0/1: {bad.size} values such as {bad.flat[0]!r}")


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 (H,W), (H,W,1), (H,W,3) RGB or (H,W,4) RGBA -> uint8 grey (H,W).

    The detectors work on grey levels; an RGBA array's alpha carries no content here.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {arr.dtype}")
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return cv2.cvtColor(np.ascontiguousarray(arr[:, :, :3]), cv2.COLOR_RGB2GRAY)
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr[:, :, 0]
    raise ValueError(f"expected an (H, W, 3) image, got shape {arr.shape}")
