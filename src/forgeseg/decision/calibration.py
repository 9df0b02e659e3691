"""Calibration: score every val figure once under every setting, then pick the best.

Evidence (figure, probability map, geometric masks) is large; a :class:`FigureTable` per
figure keeps only its outcomes under every threshold and support floor, so thousands of
validation figures stream past. :func:`calibrate` grid-searches the settings of a method
on those tables by mean oF1; ``models/postprocess.json`` holds what it chose.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeseg.config.sections import DetectConfig
from forgeseg.core.atomic import write_json
from forgeseg.core.errors import DataError
from forgeseg.decision.evidence import Evidence

if TYPE_CHECKING:
    from forgeseg.decision.learned import LearnedDecision
from forgeseg.decision.rules import (
    DecisionConfig,
    area_floor,
    geometric_confidence,
    geometric_instances,
    net_instances,
)

__all__ = [
    "CALIBRATED",
    "DECISION_NAME",
    "FigureTable",
    "Outcome",
    "calibrate",
    "load_calibration",
    "outcome",
    "save_calibration",
    "tabulate",
]

# The settings calibration chooses; everything else comes from params.yaml.
CALIBRATED = ("threshold", "gate", "min_support", "accept")
# The learned decision's trees, beside models/postprocess.json (the decision stage writes it).
DECISION_NAME = "decision.npz"


@dataclass
class FigureTable:
    """One figure's outcomes under every setting the calibration tries; a few hundred bytes.

    Evidence (figure, probability map, geometric masks) is large; tables are what is kept
    while thousands of validation figures stream past. Index ``t`` runs over thresholds,
    ``k`` over support floors. ``px`` rows hold pixel (TP, FP, FN) of the union of
    predicted instances against the union of true ones.
    """

    uid: str
    truth_authentic: bool
    net_any: np.ndarray  # (T,) bool
    net_score: np.ndarray  # (T,) float
    net_of1: np.ndarray  # (T,) float: oF1 if the figure is called forged
    net_px: np.ndarray  # (T,3)
    geo_any: np.ndarray  # (K,) bool
    geo_of1: np.ndarray  # (K,)
    geo_px: np.ndarray  # (K,3)
    geo_best: int
    truth_area: int
    learn_any: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (A,)
    learn_of1: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (A,)
    learn_px: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))  # (A,3)
    learn_score: float = 0.0  # the best candidate's score


def _px(pred: np.ndarray, truth_union: np.ndarray) -> np.ndarray:
    p = pred.any(axis=0) if pred.shape[0] else np.zeros_like(truth_union)
    tp = int(np.count_nonzero(p & truth_union))
    return np.array([tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(truth_union)) - tp])


def tabulate(
    ev: Evidence,
    thresholds: Sequence[float],
    min_support: Sequence[int],
    min_area: int,
    min_area_fraction: float = DetectConfig.min_area_fraction,
    *,
    learned: LearnedDecision | None = None,
    accepts: Sequence[float] = (),
) -> FigureTable:
    """Score one figure (its truth must be known) under every threshold and support floor,
    and every accept score of the ``learned`` decision when one is given."""
    from forgeseg.scoring.score import of1_image

    if ev.truth is None:
        raise ValueError(f"{ev.uid}: calibration needs the truth of every figure")
    truth_union = ev.truth.any(axis=0) if ev.truth.shape[0] else np.zeros(ev.image.shape[:2], bool)
    T, K = len(thresholds), len(min_support)
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
        max(ev.geometry.support, default=0) if ev.geometry is not None else 0,
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
    if ev.geometry is not None:
        for j, k in enumerate(min_support):
            inst = geometric_instances(ev, int(k), min_area)
            tab.geo_any[j] = inst.shape[0] > 0
            tab.geo_of1[j] = of1_image(inst, ev.truth) if inst.shape[0] else 0.0
            tab.geo_px[j] = _px(inst, truth_union)
    if learned is not None and accepts:
        _tabulate_learned(tab, ev, learned, accepts, min_area, truth_union)
    ev._cache.clear()
    return tab


def _tabulate_learned(
    tab: FigureTable,
    ev: Evidence,
    learned: LearnedDecision,
    accepts: Sequence[float],
    min_area: int,
    truth_union: np.ndarray,
) -> None:
    from forgeseg.scoring.score import of1_image

    assert ev.truth is not None
    tab.learn_any = np.zeros(len(accepts), bool)
    tab.learn_of1 = np.zeros(len(accepts))
    tab.learn_px = np.zeros((len(accepts), 3), np.int64)
    score = 0.0  # the figure's best candidate: the same whatever the accept level
    for j, a in enumerate(accepts):
        inst, score = learned.instances(ev, float(a), min_area)
        tab.learn_any[j] = inst.shape[0] > 0
        tab.learn_of1[j] = of1_image(inst, ev.truth) if inst.shape[0] else 0.0
        tab.learn_px[j] = _px(inst, truth_union)
    tab.learn_score = score


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
    cfg: DecisionConfig,
    thresholds: Sequence[float],
    min_support: Sequence[int],
    accepts: Sequence[float] = (),
) -> Outcome:
    """Per-figure results of ``cfg`` (whose threshold, support floor and accept score must
    be in the grids)."""
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
    if cfg.method == "learned":
        return _learned_outcome(tables, cfg, accepts, of1, px, truth_auth)
    uses_net = cfg.method in ("network", "hybrid")
    uses_geo = cfg.method in ("geometric", "hybrid")
    if uses_net:
        j = _index(thresholds, cfg.threshold, "threshold")
        s = np.array([t.net_score[j] for t in tables])
        fire = np.array([t.net_any[j] for t in tables]) & (s >= cfg.gate)
        of1 = np.where(fire, [t.net_of1[j] for t in tables], of1)
        px = np.where(fire[:, None], np.stack([t.net_px[j] for t in tables]), px)
        forged |= fire
        score = 0.5 * s if cfg.method == "hybrid" else s
    if uses_geo:
        k = _index(min_support, cfg.min_support, "min_support")
        fire = np.array([t.geo_any[k] for t in tables])
        of1 = np.where(fire, [t.geo_of1[k] for t in tables], of1)
        px = np.where(fire[:, None], np.stack([t.geo_px[k] for t in tables]), px)
        forged |= fire
        conf = np.array([geometric_confidence(t.geo_best) for t in tables])
        geo_score = np.where(fire, 0.5 + 0.5 * conf, 0.0) if cfg.method == "hybrid" else conf * fire
        score = np.maximum(score, geo_score)
    return Outcome(forged, np.asarray(of1, float), px, score, ~truth_auth)


def _learned_outcome(
    tables: Sequence[FigureTable],
    cfg: DecisionConfig,
    accepts: Sequence[float],
    of1: np.ndarray,
    px: np.ndarray,
    truth_auth: np.ndarray,
) -> Outcome:
    a = _index(accepts, cfg.accept, "accept")
    if any(t.learn_any.size <= a for t in tables):
        raise ValueError("the tables hold no learned decision: tabulate them with one")
    fire = np.array([t.learn_any[a] for t in tables])
    of1 = np.where(fire, [t.learn_of1[a] for t in tables], of1)
    px = np.where(fire[:, None], np.stack([t.learn_px[a] for t in tables]), px)
    score = np.array([t.learn_score for t in tables])
    return Outcome(fire, np.asarray(of1, float), px, score, ~truth_auth)


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
    min_support: Sequence[int] = (0,),
    accepts: Sequence[float] = (0.5,),
    min_area: int = DetectConfig.min_area,
    min_area_fraction: float = DetectConfig.min_area_fraction,
) -> tuple[DecisionConfig, float, list[dict[str, Any]]]:
    """Grid-search the settings of ``method`` that maximise mean oF1 over ``tables``.

    Returns:
        (best config, its mean oF1, sweep rows ``{threshold, gate, min_support, accept,
        of1}``).
    """
    if not tables:
        raise ValueError("calibration needs at least one figure")
    areas = {"min_area": min_area, "min_area_fraction": min_area_fraction}
    if method == "authentic":
        cfg = DecisionConfig("authentic", **areas)
        return cfg, float(outcome(tables, cfg, thresholds, min_support).of1.mean()), []
    uses_net = method in ("network", "hybrid")
    uses_geo = method in ("geometric", "hybrid")
    ths = list(thresholds) if uses_net else [thresholds[0]]
    gts = list(gates) if uses_net else [0.5]
    kps = list(min_support) if uses_geo else [min_support[0]]
    acs = list(accepts) if method == "learned" else [0.5]
    rows: list[dict[str, Any]] = []
    best: tuple[float, int, DecisionConfig] | None = None
    for t, g, k, a in itertools.product(ths, gts, kps, acs):
        cfg = DecisionConfig(method, float(t), float(g), int(k), accept=float(a), **areas)
        out = outcome(tables, cfg, thresholds, min_support, accepts)
        of1 = float(out.of1.mean())
        fired = int(out.forged_pred.sum())
        rows.append(
            {"threshold": float(t), "gate": float(g), "min_support": int(k), "accept": float(a)}
            | {"of1": of1}
        )
        # On a tie the setting that calls fewer figures forged wins: firings that gain
        # nothing on val can only cost on new figures, where every mask on an authentic
        # figure scores 0. Among those, the last (highest threshold, gate, inlier floor
        # and accept score) wins: the widest margin the val figures allow.
        tie = best is not None and abs(of1 - best[0]) <= 1e-12
        if best is None or of1 > best[0] + 1e-12 or (tie and fired <= best[1]):
            best = (of1, fired, cfg)
    assert best is not None
    return best[2], best[0], rows


def save_calibration(path: str | os.PathLike[str], cfg: DecisionConfig, **report: Any) -> None:
    """Write what calibration chose (and, under ``val``, what it scored) to ``path``."""
    chosen = {k: getattr(cfg, k) for k in CALIBRATED}
    write_json(path, {**chosen, **({"val": report} if report else {})})


def load_calibration(path: str | os.PathLike[str], detect: DetectConfig) -> DecisionConfig:
    """The decision for ``detect``'s method with the settings calibrated in ``path``; the
    learned decision's trees are the :data:`DECISION_NAME` file beside it."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "calibrated post-processing not found (run `dvc repro evaluate`)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(p, f"not valid JSON ({exc})") from None
    missing = [k for k in CALIBRATED if not isinstance(data, dict) or k not in data]
    if missing:
        raise DataError(p, f"missing {', '.join(missing)} (rerun `dvc repro evaluate`)")
    try:
        return DecisionConfig.from_detect(
            detect,
            threshold=float(data["threshold"]),
            gate=float(data["gate"]),
            min_support=int(data["min_support"]),
            accept=float(data["accept"]),
            learned_model=str(p.with_name(DECISION_NAME)) if detect.method == "learned" else None,
        )
    except (TypeError, ValueError) as exc:
        raise DataError(p, f"calibrated values are not numbers ({exc})") from None
