"""The evaluate stage: calibrate the decision on val, report every detector beside the
all-``authentic`` floor.

Calibration and the reported val figures use the same figures, so val oF1 is optimistic;
the infer stage's score on the held-out test figures is the honest number.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.config import DetectConfig, EvaluateConfig, Params, resolve_device
from forgeseg.config.sections import DETECT_METHODS
from forgeseg.core.atomic import write_csv, write_json
from forgeseg.data.layout import read_index
from forgeseg.decision.calibration import (
    FigureTable,
    Outcome,
    calibrate,
    outcome,
    save_calibration,
    tabulate,
)
from forgeseg.decision.detector import Detector
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.paths import PATHS, Paths
from forgeseg.scoring.metrics import image_metrics, roc_curve

__all__ = ["calibrate_all", "collect_tables", "evaluate", "summarize"]

log = logging.getLogger(__name__)


def summarize(out: Outcome) -> dict[str, Any]:
    """oF1 with its breakdown, pixel Dice/IoU and image-level metrics of one outcome."""
    forged = out.truth_forged
    auth = ~forged
    tp, fp, fn = out.px[forged].sum(axis=0) if forged.any() else np.zeros(3)
    per_dice = [2 * a / max(2 * a + b + c, 1) for a, b, c in out.px[forged]]
    per_iou = [a / max(a + b + c, 1) for a, b, c in out.px[forged]]
    img = image_metrics(forged.astype(int), out.score, out.forged_pred.astype(int))
    return {
        "of1": float(out.of1.mean()) if out.of1.size else 0.0,
        "floor": float(auth.mean()) if out.of1.size else 0.0,
        "forged_only_of1": float(out.of1[forged].mean()) if forged.any() else None,
        "authentic_fpr": float(out.forged_pred[auth].mean()) if auth.any() else None,
        "forged_detected": float(out.forged_pred[forged].mean()) if forged.any() else None,
        "dice": float(2 * tp / max(2 * tp + fp + fn, 1)),
        "iou": float(tp / max(tp + fp + fn, 1)),
        "dice_per_figure": float(np.mean(per_dice)) if per_dice else None,
        "iou_per_figure": float(np.mean(per_iou)) if per_iou else None,
        "image_accuracy": img.get("accuracy"),
        "image_precision": img.get("precision"),
        "image_recall": img.get("recall"),
        "image_auc": img.get("roc_auc"),
        "n_figures": int(out.of1.size),
        "n_forged": int(forged.sum()),
    }


def collect_tables(
    detector: Detector,
    records: Sequence[Any],
    *,
    evaluate: EvaluateConfig,
    detect: DetectConfig,
    solution: Mapping[str, str] | None = None,
    progress: bool = True,
    desc: str = "evaluate",
) -> list[FigureTable]:
    """Run the detector on every record and keep only the small per-figure tables."""
    tables = []
    for ev in detector.iter_evidence(records, solution=solution, progress=progress, desc=desc):
        if ev.truth is None:
            log.warning("%s: truth unknown, left out of the evaluation", ev.uid)
            continue
        tables.append(
            tabulate(
                ev,
                evaluate.thresholds,
                evaluate.min_support,
                detect.min_area,
                detect.min_area_fraction,
            )
        )
    return tables


def calibrate_all(
    tables: Sequence[FigureTable],
    *,
    evaluate: EvaluateConfig,
    detect: DetectConfig,
    methods: Sequence[str] = DETECT_METHODS,
) -> dict[str, tuple[DecisionConfig, list[dict[str, Any]]]]:
    """Calibrate each detector on the same tables: ``{method: (best config, sweep rows)}``."""
    out = {}
    for m in methods:
        cfg, _, rows = calibrate(
            tables,
            m,
            thresholds=evaluate.thresholds,
            gates=evaluate.gates,
            min_support=evaluate.min_support,
            min_area=detect.min_area,
            min_area_fraction=detect.min_area_fraction,
        )
        out[m] = (cfg, rows)
    return out


def evaluate(params: Params, *, paths: Paths = PATHS, progress: bool = True) -> dict[str, Any]:
    """Calibrate on the val split and write metrics, plots and the calibrated settings."""
    det, ev_cfg = params.detect, params.evaluate
    records = read_index(paths.splits / "val.csv")
    # Every method is scored from the same evidence, so the detector gathers all of it.
    detector = Detector(
        det,
        DecisionConfig("hybrid"),
        model_path=paths.model,
        device=resolve_device(params.base.device),
    )
    log.info("evaluating %d val figures with every detector", len(records))
    tables = collect_tables(detector, records, evaluate=ev_cfg, detect=det, progress=progress)
    if not tables:
        raise ValueError(f"{paths.splits / 'val.csv'}: no val figure with known truth")
    calibrated = calibrate_all(tables, evaluate=ev_cfg, detect=det)
    per_method = {
        m: summarize(outcome(tables, cfg, ev_cfg.thresholds, ev_cfg.min_support))
        for m, (cfg, _) in calibrated.items()
    }
    best_cfg, sweep = calibrated[det.method]
    main = per_method[det.method]
    metrics = {
        "method": det.method,
        **main,
        "calibrated": {
            "threshold": best_cfg.threshold,
            "gate": best_cfg.gate,
            "min_support": best_cfg.min_support,
        },
        "methods": {
            m: {k: s[k] for k in ("of1", "forged_only_of1", "authentic_fpr", "dice")}
            for m, s in per_method.items()
        },
    }
    write_json(paths.evaluate_metrics, metrics)
    save_calibration(paths.calibration, best_cfg, of1=main["of1"], floor=main["floor"])
    final = outcome(tables, best_cfg, ev_cfg.thresholds, ev_cfg.min_support)
    _write_plots(Path(paths.evaluate_plots), sweep, final, per_method, main["floor"])
    log.info(
        "val oF1 %.4f (%s; all-authentic floor %.4f); calibrated threshold %.2f, gate %.2f, "
        "geometric support >= %d",
        main["of1"],
        det.method,
        main["floor"],
        best_cfg.threshold,
        best_cfg.gate,
        best_cfg.min_support,
    )
    return metrics


def _write_plots(
    plots: Path,
    sweep: Sequence[Mapping[str, Any]],
    final: Outcome,
    per_method: Mapping[str, Mapping[str, Any]],
    floor: float,
) -> None:
    by_t: dict[float, float] = {}
    for row in sweep:
        by_t[row["threshold"]] = max(by_t.get(row["threshold"], 0.0), row["of1"])
    write_csv(
        plots / "threshold_sweep.csv",
        [{"threshold": t, "of1": v, "floor": floor} for t, v in sorted(by_t.items())],
    )
    fpr, tpr, _ = roc_curve(final.truth_forged.astype(int), final.score)
    write_csv(
        plots / "roc.csv",
        [{"fpr": float(a), "tpr": float(b)} for a, b in zip(fpr, tpr, strict=True)],
    )
    write_csv(
        plots / "confusion.csv",
        [
            {"actual": "forged" if t else "authentic", "predicted": "forged" if p else "authentic"}
            for t, p in zip(final.truth_forged, final.forged_pred, strict=True)
        ],
    )
    write_csv(
        plots / "methods.csv", [{"method": m, "of1": s["of1"]} for m, s in per_method.items()]
    )
