"""The ``decision`` stage: train the learned decision on candidates from train figures.

Every matcher and the network run on up to ``learned.figures`` train figures (a seeded
sample of the train split, never val or test); each candidate is labelled by its Dice with
the figure's true instances, and boosted trees are fitted on them. Writes the trees
(``models/decision.npz``, plain arrays: no pickle), ``metrics/decision.json`` (candidates,
positives, the cross-validated AUC and the importance of each group of features) and the
importance of every feature (``plots/decision/importances.csv``, drawn as bars).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from forgeseg.config import Params, resolve_device
from forgeseg.core.atomic import write_csv
from forgeseg.data.layout import Record, read_index
from forgeseg.decision.learned import FEATURES, fit_decision
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.corpus import DetectorSpec, FigureTask, run_corpus
from forgeseg.pipeline.headline import SUMMARY_NAME, write_metrics
from forgeseg.pipeline.paths import PATHS, Paths

__all__ = ["FEATURE_GROUPS", "collect_candidates", "train_decision"]

log = logging.getLogger(__name__)

# What a person asks of the trees: do they lean on the geometry, on the look of the pixels,
# on where the copy sits in the figure, or on the network? Shares of the split gain.
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "geometry": (
        "from_sift",
        "from_dense",
        "from_pairs",
        "n_matchers",
        "support",
        "n_transforms",
        "flipped",
        "log_scale",
        "rotation_deg",
        "shift",
        "figure_best_support",
    ),
    "pixels": ("zncc_max", "hp_zncc_max", "graphic_min", "residual_min"),
    "structure": (
        "text_share",
        "gutter_share",
        "n_panels",
        *(f for f in FEATURES if f.startswith("panel_")),
    ),
    "network": (
        "from_network",
        "net_inside_mean",
        "net_inside_max",
        "net_outside_mean",
        "net_image",
    ),
    "size": ("area_share", "n_parts", "figure_mp", "n_candidates"),
}


def _sample(records: Sequence[Record], n: int, seed: int) -> list[Record]:
    if n == 0 or n >= len(records):
        return list(records)
    pick = np.random.default_rng(seed).choice(len(records), size=n, replace=False)
    return [records[i] for i in sorted(pick)]


def collect_candidates(
    records: Sequence[Record], params: Params, *, paths: Paths = PATHS, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(C, F) features, (C,) labels and (C,) figure numbers of every record's candidates,
    and how many figures were judged (skipped ones are logged and left out)."""
    lc = params.learned
    spec = DetectorSpec(
        params.detect,
        DecisionConfig("hybrid"),
        model_path=str(paths.model) if paths.model.is_file() else None,
        device=resolve_device(params.base.device),
        output="candidates",
        net_threshold=lc.net_threshold,
        positive_dice=lc.positive_dice,
    )
    tasks = [FigureTask(i, r.uid, r.image, record=r) for i, r in enumerate(records)]
    results = run_corpus(
        spec, tasks, workers=params.base.workers, progress=progress, desc="decision: candidates"
    )
    xs, ys, gs = [], [], []
    for r in results:
        if r.candidates is None:
            continue
        x, y = r.candidates
        xs.append(x)
        ys.append(y)
        gs.append(np.full(len(y), r.index))
    if not xs:
        raise ValueError("no train figure could be judged: see the skips logged above")
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs), len(xs)


def train_decision(params: Params, *, paths: Paths = PATHS, progress: bool = True) -> dict:
    """Collect candidates on train figures, fit the trees, write model and metrics."""
    records = _sample(
        read_index(paths.splits / "train.csv"), params.learned.figures, params.learned.seed
    )
    log.info("running every matcher and the network on %d train figures", len(records))
    start = time.perf_counter()
    x, y, groups, judged = collect_candidates(records, params, paths=paths, progress=progress)
    collected = time.perf_counter() - start
    log.info("fitting boosted trees on %d candidates (%d true copies)", len(y), int(y.sum()))
    decision, fit = fit_decision(x, y, groups, params.learned)
    decision.save(paths.decision)
    per_feature = decision.trees.importances()
    groups_share = {
        g: round(sum(per_feature[f] for f in fs), 4) for g, fs in FEATURE_GROUPS.items()
    }
    report: dict[str, Any] = {
        "figures": judged,
        "figures_with_candidates": fit.figures,
        "candidates": fit.candidates,
        "positives": fit.positives,
        "cv_auc": round(fit.cv_auc, 4) if fit.cv_auc is not None else None,
        "importance": groups_share,
        "seconds": round(time.perf_counter() - start, 1),
        "seconds_collecting": round(collected, 1),
        "features": {f: round(v, 5) for f, v in per_feature.items()},
    }
    write_metrics("decision", report, paths.decision_metrics, paths.decision_plots / SUMMARY_NAME)
    rows = sorted(per_feature.items(), key=lambda kv: -kv[1])
    write_csv(
        paths.decision_plots / "importances.csv",
        [{"feature": f, "importance": round(v, 5)} for f, v in rows],
    )
    log.info(
        "learned decision: %d candidates from %d figures, cross-validated AUC %s",
        fit.candidates,
        judged,
        f"{fit.cv_auc:.3f}" if fit.cv_auc is not None else "n/a (one class in a fold)",
    )
    return report
