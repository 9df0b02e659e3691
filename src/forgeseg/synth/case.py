"""One generated case: an authentic figure, its forged twin and the instance masks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from forgeseg.core.errors import ParamsError
from forgeseg.synth.canvas import Panel
from forgeseg.synth.compound import render_compound
from forgeseg.synth.forge import PlacementError, forge
from forgeseg.synth.kinds import ASPECT, SINGLE_KINDS, render_single
from forgeseg.synth.layout import StructureRow, single_layout, structure_rows
from forgeseg.synth.reuse import render_reuse

__all__ = ["KINDS", "KIND_WEIGHTS", "Case", "make_case"]

# Figures drawn for one forged case, at most. About one rendered figure in 1,500 is nearly
# all flat background (an empty fluorescence field, say) with nothing to copy.
_RENDER_TRIES = 5

KINDS: tuple[str, ...] = (*SINGLE_KINDS, "compound")
# Blots and gels are about half of the real data; compound figures are common in its test set.
KIND_WEIGHTS: dict[str, float] = {
    "western_blot": 0.24,
    "gel": 0.10,
    "fluorescence": 0.13,
    "histology": 0.09,
    "photo": 0.06,
    "flow_cytometry": 0.07,
    "chart": 0.08,
    "compound": 0.23,
}


@dataclass
class Case:
    """A generated case.

    ``forged``/``authentic``: uint8 (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA, same shape
    and mode; ``forged`` equals ``authentic`` outside the masks before post effects.
    ``masks``: bool (N, H, W), one channel per instance marking its source and all copies;
    N == 0 when not forged. ``meta``: kind, mode, channels, height, width, n_instances,
    forged_fraction, transforms, jpeg and noise (post effects of the forged figure),
    authentic_jpeg and authentic_noise (of the authentic one), hard_negatives, instances
    (per instance: source, source_box, copies, geometry, photometric, blur, feather, exact,
    cross_panel).
    ``structure``: the figure's panels, text, letters and scale bars, the same for the
    forged and the authentic figure: rows ``(kind, cls, x0, y0, x1, y1)`` as in
    ``structure.csv`` (see :mod:`forgeseg.synth.layout`).
    """

    forged: np.ndarray | None
    authentic: np.ndarray | None
    masks: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    structure: list[StructureRow] = field(default_factory=list)


def _size(rng: np.random.Generator, kind: str, min_side: int, max_side: int) -> tuple[int, int]:
    """(h, w): long side log-uniform in [min_side, max_side], kind-typical aspect ratio."""
    long_side = float(np.exp(rng.uniform(np.log(min_side), np.log(max_side))))
    lo, hi = ASPECT[kind]
    aspect = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))  # width / height
    if aspect >= 1:
        w, h = long_side, long_side / aspect
    else:
        h, w = long_side, long_side * aspect
    return (int(np.clip(round(h), min_side, max_side)), int(np.clip(round(w), min_side, max_side)))


def _to_mode(rgb: np.ndarray, mode: str) -> np.ndarray:
    """Per-pixel conversion of uint8 RGB (H, W, 3) to gray (H, W), RGB or RGBA (H, W, 4).

    Per-pixel, so it commutes with the copy-move: a copy stays an exact copy.
    """
    if mode == "L":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if mode == "RGBA":
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return rgb


def _jpeg(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Re-encode as JPEG at a random quality (alpha kept lossless)."""
    return _encode_jpeg(img, int(rng.integers(70, 96)))


def _encode_jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """``img`` (uint8 (H, W), (H, W, 3) or (H, W, 4)) through JPEG at ``quality``."""
    color = img[:, :, :3] if img.ndim == 3 else img
    bgr = color[:, :, ::-1] if color.ndim == 3 else color
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        return img
    dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if dec.ndim == 3:
        dec = dec[:, :, ::-1]
    if img.ndim == 3 and img.shape[2] == 4:
        dec = np.dstack([dec, img[:, :, 3]])
    return np.ascontiguousarray(dec)


def _check(kind: str | None, min_side: int, max_side: int, reuse_fraction: float) -> None:
    if not 0.0 <= reuse_fraction <= 1.0:
        raise ParamsError(f"synth reuse_fraction must lie in [0, 1], got {reuse_fraction}")
    if kind is not None and kind not in KINDS:
        raise ParamsError(f"synth kind {kind!r} is not one of {', '.join(KINDS)}")
    if min_side < 32:
        raise ParamsError(f"synth min_side must be at least 32 px, got {min_side}")
    if max_side < min_side:
        raise ParamsError(f"synth max_side ({max_side}) is smaller than min_side ({min_side})")


def make_case(
    rng: np.random.Generator,
    *,
    kind: str | None = None,
    forged: bool = True,
    with_authentic: bool = True,
    min_side: int = 100,
    max_side: int = 1024,
    post_effects: bool = True,
    reuse_fraction: float = 0.0,
) -> Case:
    """Generate one figure (and its forged twin when ``forged``), deterministic in ``rng``.

    ``kind``: one of :data:`KINDS`, or None to draw it with :data:`KIND_WEIGHTS`.
    ``forged=False`` gives an authentic figure only (``Case.forged`` is None, N == 0).
    ``with_authentic=False`` drops the authentic twin of a forged case (``authentic`` None).
    ``post_effects=False`` skips what happens to a finished figure, forged or authentic (JPEG
    recompression, global noise), so pixels under an exact copy equal the transformed source.
    ``reuse_fraction``: share of cases (of kind None or ``compound``) drawn as compound
    figures with reuse between panels (:mod:`forgeseg.synth.reuse`); their authentic
    figures (twins, or the whole case when ``forged=False``) have the same layouts with
    every panel from its own source. 0 draws nothing for it: the stream stays as before.
    A forged case whose figure holds nothing to copy is drawn again (a few times at most).
    Raises :class:`forgeseg.core.errors.ParamsError` for an unknown kind or bad sizes.
    """
    _check(kind, min_side, max_side, reuse_fraction)
    reuse = reuse_fraction > 0 and kind in (None, "compound") and rng.random() < reuse_fraction
    if reuse:
        kind = "compound"
    elif kind is None:
        names = list(KIND_WEIGHTS)
        p = np.array([KIND_WEIGHTS[k] for k in names])
        kind = str(rng.choice(names, p=p / p.sum()))
    args = (kind, min_side, max_side, forged, with_authentic, post_effects, bool(reuse))
    for _ in range(_RENDER_TRIES - 1):
        try:
            return _render_case(rng, *args)
        except PlacementError:
            # Draw another figure from the same stream: the case stays a function of rng,
            # and a training run of many thousand figures does not die on one empty field.
            continue
    return _render_case(rng, *args)


def _render_case(
    rng: np.random.Generator,
    kind: str,
    min_side: int,
    max_side: int,
    forged: bool,
    with_authentic: bool,
    post_effects: bool,
    reuse: bool = False,
) -> Case:
    h, w = _size(rng, kind, min_side, max_side)
    if reuse:
        fig = render_reuse(rng, h, w)
        done = (fig.forged, fig.masks, fig.instances)
        return _finish_case(
            rng, fig.authentic, fig.rects, kind, forged, with_authentic, post_effects, done
        )
    if kind == "compound":
        panel, rects = render_compound(rng, h, w)
    else:
        panel, rects = render_single(rng, kind, h, w), [(0, 0, h, w)]
    return _finish_case(rng, panel, rects, kind, forged, with_authentic, post_effects)


def _post_effects(rng: np.random.Generator, img: np.ndarray) -> tuple[np.ndarray, bool, float]:
    """What happens to a figure after it is made: JPEG recompression (30%), global noise
    (15%). Returns the figure, whether it was recompressed, and the noise sigma (0 if none).

    Authentic figures go through it as often as forged ones: were it the forged figures'
    alone, "recompressed or noisier" would tell a network forged from authentic, a cue that
    flags every authentic figure ever saved as JPEG.
    """
    jpeg, sigma = False, 0.0
    if rng.random() < 0.3:
        img, jpeg = _jpeg(rng, img), True
    if rng.random() < 0.15:
        sigma = round(float(rng.uniform(0.5, 2.0)), 2)
        noisy = img.astype(np.float32) + rng.normal(0, sigma, img.shape).astype(np.float32)
        if img.ndim == 3 and img.shape[2] == 4:
            noisy[:, :, 3] = img[:, :, 3]
        img = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return img, jpeg, sigma


def _finish_case(
    rng: np.random.Generator,
    panel: Panel,
    rects: list,
    kind: str,
    forged: bool,
    with_authentic: bool,
    post_effects: bool,
    done: tuple[np.ndarray, np.ndarray, list[dict[str, Any]]] | None = None,
) -> Case:
    """The case of a rendered figure; ``done``: its forged uint8 RGB figure, masks and
    instances when made with it (reuse between panels), else :func:`forge` makes them."""
    h, w = panel.image.shape[:2]
    rgb = panel.image
    layout = panel.layout if panel.layout is not None else single_layout(kind, h, w)
    structure = structure_rows(layout, panel.annotations)
    quality = 0
    if rng.random() < 0.25:
        # The figure itself was a JPEG once (authors paste JPEGs into figures): its blocking
        # is shared by authentic and forged, and a copy usually breaks the 8x8 grid.
        quality = int(rng.integers(70, 96))
        rgb = _encode_jpeg(rgb, quality)
    r = rng.random()
    mode = (
        ("L" if r < 0.6 else "RGBA" if r < 0.65 else "RGB")
        if panel.gray
        else ("L" if r < 0.06 else "RGBA" if r < 0.11 else "RGB")
    )
    authentic = _to_mode(rgb, mode)
    meta: dict[str, Any] = {
        "kind": kind,
        "mode": mode,
        "height": h,
        "width": w,
        "channels": 1 if authentic.ndim == 2 else authentic.shape[2],
        "hard_negatives": sorted(set(panel.hard_negatives)),
        "n_instances": 0,
        "forged_fraction": 0.0,
        "transforms": [],
        "jpeg": False,
        "noise": 0.0,
        "authentic_jpeg": False,
        "authentic_noise": 0.0,
        "instances": [],
    }
    if not forged:
        if post_effects:
            authentic, meta["authentic_jpeg"], meta["authentic_noise"] = _post_effects(
                rng, authentic
            )
        return Case(None, authentic, np.zeros((0, h, w), bool), meta, structure)
    if done is None:
        forged_rgb, masks, instances = forge(rng, rgb, rects, panel.objects, panel.annotations)
    else:
        forged_rgb, masks, instances = done
        if quality:
            # Compressed after the reuse: a copy no longer equals its source to the pixel.
            forged_rgb = _encode_jpeg(forged_rgb, quality)
            instances = [{**inst, "exact": False} for inst in instances]
    out = _to_mode(forged_rgb, mode)
    if post_effects:
        out, meta["jpeg"], meta["noise"] = _post_effects(rng, out)
        if with_authentic:
            # Drawn after the forged figure's, so forged figures are the same as before
            # authentic ones were treated alike.
            authentic, meta["authentic_jpeg"], meta["authentic_noise"] = _post_effects(
                rng, authentic
            )
    meta["n_instances"] = len(instances)
    meta["forged_fraction"] = round(float(masks.any(axis=0).mean()), 6)
    meta["transforms"] = sorted({t for inst in instances for t in inst["transforms"]})
    meta["instances"] = instances
    return Case(out, authentic if with_authentic else None, masks, meta, structure)
