"""From evidence to an answer: instances or ``authentic``, and the calibration of that step.

Three detectors share one decision rule:

- ``network``: the pixel map is thresholded and grouped into source+copy instances; the
  figure is called forged when the network's evidence (image head and the best region's
  mean probability) passes a gate.
- ``keypoints``: SIFT self-matching with geometric verification; forged when at least one
  verified transform has enough inliers.
- ``hybrid``: keypoint instances when the geometry is verified (strong, precise evidence),
  otherwise the network's instances when its gate passes, otherwise ``authentic``.

An authentic figure given any mask scores 0, so each gate is calibrated on validation
figures to maximise oF1 rather than pixel accuracy (``../shared/METHODS.md`` section 3).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeseg.core.atomic import write_json
from forgeseg.core.config import from_mapping
from forgeseg.core.errors import DataError, ParamsError

if TYPE_CHECKING:  # only a type here; importing predict would pull torch into every caller
    from forgeseg.models.predictor import NetOutput

__all__ = [
    "METHODS",
    "Detection",
    "Evidence",
    "FigureTable",
    "Outcome",
    "PostprocessConfig",
    "calibrate",
    "decide",
    "load_postprocess",
    "net_instances",
    "outcome",
    "save_postprocess",
    "tabulate",
]

METHODS = ("authentic", "network", "keypoints", "hybrid")


@dataclass(frozen=True)
class PostprocessConfig:
    method: str = "hybrid"
    threshold: float = 0.5  # pixel probability that counts as forged
    gate: float = 0.5  # network evidence needed to call a figure forged
    kp_min_inliers: int = 0  # extra floor on verified inliers (0: the detector's own)
    min_area: int = 48  # smallest instance kept, in figure pixels
    # ... and as a share of the figure: real forged regions cover 0.2-7% of a figure
    # (COMPETITION.md), so a "copy" of a few dozen pixels is a glyph or a scale bar.
    min_area_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ParamsError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostprocessConfig:
        return from_mapping(cls, data, "post-processing")


@dataclass
class Evidence:
    """Everything the decision needs about one figure, computed once.

    Attributes:
        uid: figure id. image: (H,W,3) uint8. net: network output or None.
        kp: :class:`forgeseg.matchers.sift.KeypointResult` or None.
        truth: (M,H,W) bool true instances (M=0 authentic) or None when unknown.
    """

    uid: str
    image: np.ndarray
    net: NetOutput | None = None
    kp: Any = None
    truth: np.ndarray | None = None
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)


@dataclass
class Detection:
    """The answer for one figure: ``instances`` (N,H,W) bool, N=0 meaning authentic."""

    instances: np.ndarray
    score: float  # image-level confidence that the figure is forged, for ROC curves

    @property
    def forged(self) -> bool:
        return self.instances.shape[0] > 0


def _empty(shape: tuple[int, int]) -> np.ndarray:
    return np.zeros((0, *shape), bool)


def area_floor(shape: tuple[int, int], min_area: int, min_area_fraction: float) -> int:
    """Smallest instance kept in a figure of ``shape``: absolute and relative floors."""
    return max(int(min_area), int(np.ceil(min_area_fraction * shape[0] * shape[1])))


def net_instances(ev: Evidence, threshold: float, min_area: int) -> tuple[np.ndarray, float]:
    """Network instances at ``threshold`` and the network's evidence score.

    The score is the geometric mean of the image head and the best instance's mean pixel
    probability: both must agree before a figure is called forged. Cached per threshold.
    """
    from forgeseg.decision.instances import build_instances

    key = ("net", threshold, min_area)
    if key not in ev._cache:
        assert ev.net is not None
        inst = build_instances(ev.net.prob, ev.image, threshold=threshold, min_area=min_area)
        region = max((float(ev.net.prob[m].mean()) for m in inst), default=0.0)
        ev._cache[key] = (inst, float(np.sqrt(max(ev.net.image_score, 0.0) * region)))
    return ev._cache[key]


def kp_instances(ev: Evidence, min_inliers: int, min_area: int) -> np.ndarray:
    """Verified keypoint instances with at least ``min_inliers`` inliers."""
    from forgeseg.decision.instances import filter_small

    key = ("kp", min_inliers, min_area)
    if key not in ev._cache:
        shape = ev.image.shape[:2]
        if ev.kp is None or ev.kp.instances.shape[0] == 0:
            ev._cache[key] = _empty(shape)
        else:
            keep = [i for i, n in enumerate(ev.kp.inliers) if n >= min_inliers]
            inst = ev.kp.instances[keep] if keep else _empty(shape)
            ev._cache[key] = filter_small(inst, min_area) if inst.shape[0] else inst
    return ev._cache[key]


def decide(ev: Evidence, cfg: PostprocessConfig) -> Detection:
    """Apply one detector with its settings to one figure's evidence."""
    shape = ev.image.shape[:2]
    if cfg.method == "authentic":
        return Detection(_empty(shape), 0.0)
    floor = area_floor(shape, cfg.min_area, cfg.min_area_fraction)
    kp_inst = _empty(shape)
    kp_best = 0
    if cfg.method in ("keypoints", "hybrid"):
        kp_inst = kp_instances(ev, cfg.kp_min_inliers, floor)
        kp_best = max((n for n in (ev.kp.inliers if ev.kp is not None else [])), default=0)
    if cfg.method == "keypoints":
        return Detection(kp_inst, _kp_confidence(kp_best if kp_inst.shape[0] else 0))
    if cfg.method == "hybrid" and kp_inst.shape[0]:
        return Detection(kp_inst, 0.5 + 0.5 * _kp_confidence(kp_best))
    inst, score = net_instances(ev, cfg.threshold, floor)
    if score < cfg.gate or inst.shape[0] == 0:
        inst = _empty(shape)
    return Detection(inst, 0.5 * score if cfg.method == "hybrid" else score)


def _kp_confidence(inliers: int) -> float:
    return float(min(1.0, inliers / 50.0))


@dataclass
class FigureTable:
    """One figure's outcomes under every setting the calibration tries; a few hundred bytes.

    Evidence (figure, probability map, keypoint masks) is large; tables are what is kept
    while thousands of validation figures stream past. Index ``t`` runs over thresholds,
    ``k`` over keypoint inlier floors. ``px`` rows hold pixel (TP, FP, FN) of the union of
    predicted instances against the union of true ones.
    """

    uid: str
    truth_authentic: bool
    net_any: np.ndarray  # (T,) bool
    net_score: np.ndarray  # (T,) float
    net_of1: np.ndarray  # (T,) float: oF1 if the figure is called forged
    net_px: np.ndarray  # (T,3)
    kp_any: np.ndarray  # (K,) bool
    kp_of1: np.ndarray  # (K,)
    kp_px: np.ndarray  # (K,3)
    kp_best: int
    truth_area: int


def _px(pred: np.ndarray, truth_union: np.ndarray) -> np.ndarray:
    p = pred.any(axis=0) if pred.shape[0] else np.zeros_like(truth_union)
    tp = int(np.count_nonzero(p & truth_union))
    return np.array([tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(truth_union)) - tp])


def tabulate(
    ev: Evidence,
    thresholds: Sequence[float],
    kp_inliers: Sequence[int],
    min_area: int,
    min_area_fraction: float = 0.0,
) -> FigureTable:
    """Score one figure (its truth must be known) under every threshold and inlier floor."""
    from forgeseg.scoring.score import of1_image

    if ev.truth is None:
        raise ValueError(f"{ev.uid}: calibration needs the truth of every figure")
    truth_union = ev.truth.any(axis=0) if ev.truth.shape[0] else np.zeros(ev.image.shape[:2], bool)
    T, K = len(thresholds), len(kp_inliers)
    tab = FigureTable(
        ev.uid,
        ev.truth.shape[0] == 0,
        np.zeros(T, bool),
        np.zeros(T),
        np.zeros(T),
        np.zeros((T, 3), np.int64),
        np.zeros(K, bool),
        np.zeros(K),
        np.zeros((K, 3), np.int64),
        max(ev.kp.inliers, default=0) if ev.kp is not None else 0,
        int(truth_union.sum()),
    )
    min_area = area_floor(ev.image.shape[:2], min_area, min_area_fraction)
    if ev.net is not None:
        for j, t in enumerate(thresholds):
            inst, score = net_instances(ev, float(t), min_area)
            tab.net_any[j] = inst.shape[0] > 0
            tab.net_score[j] = score
            tab.net_of1[j] = of1_image(inst, ev.truth) if inst.shape[0] else 0.0
            tab.net_px[j] = _px(inst, truth_union)
    if ev.kp is not None:
        for j, k in enumerate(kp_inliers):
            inst = kp_instances(ev, int(k), min_area)
            tab.kp_any[j] = inst.shape[0] > 0
            tab.kp_of1[j] = of1_image(inst, ev.truth) if inst.shape[0] else 0.0
            tab.kp_px[j] = _px(inst, truth_union)
    ev._cache.clear()
    return tab


@dataclass
class Outcome:
    """What one setting does on a set of figures: per-figure arrays."""

    forged_pred: np.ndarray  # (F,) bool
    of1: np.ndarray  # (F,)
    px: np.ndarray  # (F,3) pixel TP, FP, FN
    score: np.ndarray  # (F,) image-level score for ROC
    truth_forged: np.ndarray  # (F,) bool


def outcome(
    tables: Sequence[FigureTable],
    cfg: PostprocessConfig,
    thresholds: Sequence[float],
    kp_inliers: Sequence[int],
) -> Outcome:
    """Per-figure results of ``cfg`` (whose threshold and inlier floor must be in the grids)."""
    n = len(tables)
    truth_auth = np.array([t.truth_authentic for t in tables], bool)
    truth_px = np.zeros((n, 3), np.int64)
    truth_px[:, 2] = [t.truth_area for t in tables]
    of1 = np.where(truth_auth, 1.0, 0.0)
    px = truth_px.copy()
    forged = np.zeros(n, bool)
    score = np.zeros(n)
    if cfg.method == "authentic":
        return Outcome(forged, of1, px, score, ~truth_auth)
    uses_net = cfg.method in ("network", "hybrid")
    uses_kp = cfg.method in ("keypoints", "hybrid")
    if uses_net:
        j = _index(thresholds, cfg.threshold, "threshold")
        s = np.array([t.net_score[j] for t in tables])
        fire = np.array([t.net_any[j] for t in tables]) & (s >= cfg.gate)
        of1 = np.where(fire, [t.net_of1[j] for t in tables], of1)
        px = np.where(fire[:, None], np.stack([t.net_px[j] for t in tables]), px)
        forged |= fire
        score = 0.5 * s if cfg.method == "hybrid" else s
    if uses_kp:
        k = _index(kp_inliers, cfg.kp_min_inliers, "kp_min_inliers")
        fire = np.array([t.kp_any[k] for t in tables])
        of1 = np.where(fire, [t.kp_of1[k] for t in tables], of1)
        px = np.where(fire[:, None], np.stack([t.kp_px[k] for t in tables]), px)
        forged |= fire
        conf = np.array([_kp_confidence(t.kp_best) for t in tables])
        kp_score = np.where(fire, 0.5 + 0.5 * conf, 0.0) if cfg.method == "hybrid" else conf * fire
        score = np.maximum(score, kp_score)
    return Outcome(forged, np.asarray(of1, float), px, score, ~truth_auth)


def _index(grid: Sequence[float], value: float, name: str) -> int:
    for i, g in enumerate(grid):
        if abs(float(g) - float(value)) < 1e-9:
            return i
    raise ValueError(f"{name}={value} is not in the calibration grid {list(grid)}")


def calibrate(
    tables: Sequence[FigureTable],
    method: str,
    *,
    thresholds: Sequence[float],
    gates: Sequence[float],
    kp_inliers: Sequence[int] = (0,),
    min_area: int = 48,
    min_area_fraction: float = 0.0,
) -> tuple[PostprocessConfig, float, list[dict[str, Any]]]:
    """Grid-search the settings of ``method`` that maximise mean oF1 over ``tables``.

    Returns:
        (best config, its mean oF1, sweep rows ``{threshold, gate, kp_min_inliers, of1}``).
    """
    if not tables:
        raise ValueError("calibration needs at least one figure")
    if method == "authentic":
        cfg = PostprocessConfig("authentic", min_area=min_area, min_area_fraction=min_area_fraction)
        return cfg, float(outcome(tables, cfg, thresholds, kp_inliers).of1.mean()), []
    uses_net = method in ("network", "hybrid")
    uses_kp = method in ("keypoints", "hybrid")
    ths = list(thresholds) if uses_net else [thresholds[0]]
    gts = list(gates) if uses_net else [0.5]
    kps = list(kp_inliers) if uses_kp else [kp_inliers[0]]
    rows: list[dict[str, Any]] = []
    best: tuple[float, int, PostprocessConfig] | None = None
    for t, g, k in itertools.product(ths, gts, kps):
        cfg = PostprocessConfig(method, float(t), float(g), int(k), min_area, min_area_fraction)
        out = outcome(tables, cfg, thresholds, kp_inliers)
        of1 = float(out.of1.mean())
        fired = int(out.forged_pred.sum())
        rows.append({"threshold": float(t), "gate": float(g), "kp_min_inliers": int(k), "of1": of1})
        # On a tie the setting that calls fewer figures forged wins: firings that gain
        # nothing on val can only cost on new figures, where every mask on an authentic
        # figure scores 0. Among those, the last (highest threshold, gate and inlier
        # floor) wins: the widest margin the val figures allow.
        tie = best is not None and abs(of1 - best[0]) <= 1e-12
        if best is None or of1 > best[0] + 1e-12 or (tie and fired <= best[1]):
            best = (of1, fired, cfg)
    assert best is not None
    return best[2], best[0], rows


def save_postprocess(path: str | os.PathLike[str], cfg: PostprocessConfig, **extra: Any) -> None:
    write_json(path, {**asdict(cfg), **extra})


def load_postprocess(path: str | os.PathLike[str]) -> PostprocessConfig:
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "calibrated post-processing not found (run `dvc repro evaluate`)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(p, f"not valid JSON ({exc})") from None
    known = set(PostprocessConfig.__dataclass_fields__)
    return PostprocessConfig.from_dict({k: v for k, v in data.items() if k in known})
