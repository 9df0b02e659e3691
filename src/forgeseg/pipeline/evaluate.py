"""The evaluate stage: calibrate post-processing on val, report every detector beside the
all-``authentic`` floor.

Calibration and the reported val figures use the same figures, so val oF1 is optimistic;
the infer stage's score on the held-out test figures is the honest number.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.core.atomic import write_json, write_text
from forgeseg.data.layout import read_index
from forgeseg.decision.detector import Detector
from forgeseg.decision.rules import (
    METHODS,
    FigureTable,
    Outcome,
    PostprocessConfig,
    calibrate,
    outcome,
    save_postprocess,
    tabulate,
)
from forgeseg.params import resolve_device, section
from forgeseg.scoring.metrics import image_metrics, roc_curve

__all__ = ["collect_tables", "evaluate", "summarize", "write_csv"]

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


def write_csv(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Rows of equal keys -> CSV with a header, atomically (DVC plots read these)."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_text(path, buf.getvalue())


def collect_tables(
    detector: Detector,
    records: Sequence[Any],
    *,
    thresholds: Sequence[float],
    kp_inliers: Sequence[int],
    min_area: int,
    min_area_fraction: float = 0.0,
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
        tables.append(tabulate(ev, thresholds, kp_inliers, min_area, min_area_fraction))
    return tables


def calibrate_all(
    tables: Sequence[FigureTable],
    *,
    thresholds: Sequence[float],
    gates: Sequence[float],
    kp_inliers: Sequence[int],
    min_area: int,
    min_area_fraction: float = 0.0,
    methods: Sequence[str] = METHODS,
) -> dict[str, tuple[PostprocessConfig, list[dict[str, Any]]]]:
    """Calibrate each detector on the same tables."""
    return {
        m: (cfg, rows)
        for m in methods
        for cfg, _, rows in [
            calibrate(
                tables,
                m,
                thresholds=thresholds,
                gates=gates,
                kp_inliers=kp_inliers,
                min_area=min_area,
                min_area_fraction=min_area_fraction,
            )
        ]
    }


def evaluate(
    params: Mapping[str, Any],
    *,
    model_path: str | Path = "models/model.pt",
    splits_dir: str | Path = "data/splits",
    metrics_path: str | Path = "metrics/evaluate.json",
    plots_dir: str | Path = "plots/evaluate",
    postprocess_path: str | Path = "models/postprocess.json",
    progress: bool = True,
) -> dict[str, Any]:
    """Calibrate on the val split and write metrics, plots and the calibrated settings."""
    det_cfg = section(params, "detect")
    ev_cfg = section(params, "evaluate")
    method = det_cfg.get("method", "hybrid")
    min_area = int(det_cfg.get("min_area", 48))
    min_area_fraction = float(det_cfg.get("min_area_fraction", 0.0))
    thresholds = [float(t) for t in ev_cfg.get("thresholds", [0.5])]
    gates = [float(g) for g in ev_cfg.get("gates", [0.5])]
    kp_inliers = [int(k) for k in ev_cfg.get("kp_inliers", [0])]
    records = read_index(Path(splits_dir) / "val.csv")
    device = resolve_device(params["base"].get("device"))
    detector = Detector.from_params(
        det_cfg,
        model_path=model_path,
        postprocess=PostprocessConfig("hybrid", min_area=min_area),
        device=device,
    )
    log.info("evaluating %d val figures with every detector", len(records))
    tables = collect_tables(
        detector,
        records,
        thresholds=thresholds,
        kp_inliers=kp_inliers,
        min_area=min_area,
        min_area_fraction=min_area_fraction,
        progress=progress,
    )
    if not tables:
        raise ValueError(f"{Path(splits_dir) / 'val.csv'}: no val figure with known truth")
    calibrated = calibrate_all(
        tables,
        thresholds=thresholds,
        gates=gates,
        kp_inliers=kp_inliers,
        min_area=min_area,
        min_area_fraction=min_area_fraction,
    )
    per_method = {
        m: summarize(outcome(tables, cfg, thresholds, kp_inliers))
        for m, (cfg, _) in calibrated.items()
    }
    best_cfg, sweep = calibrated[method]
    main = per_method[method]
    metrics = {
        "method": method,
        **main,
        "calibrated": {
            "threshold": best_cfg.threshold,
            "gate": best_cfg.gate,
            "kp_min_inliers": best_cfg.kp_min_inliers,
        },
        "methods": {
            m: {k: s[k] for k in ("of1", "forged_only_of1", "authentic_fpr", "dice")}
            for m, s in per_method.items()
        },
    }
    write_json(metrics_path, metrics)
    save_postprocess(postprocess_path, best_cfg, val_of1=main["of1"], val_floor=main["floor"])

    plots = Path(plots_dir)
    by_t: dict[float, float] = {}
    for row in sweep:
        by_t[row["threshold"]] = max(by_t.get(row["threshold"], 0.0), row["of1"])
    write_csv(
        plots / "threshold_sweep.csv",
        [{"threshold": t, "of1": v, "floor": main["floor"]} for t, v in sorted(by_t.items())],
    )
    final = outcome(tables, best_cfg, thresholds, kp_inliers)
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
        plots / "methods.csv",
        [{"method": m, "of1": s["of1"]} for m, s in per_method.items()],
    )
    log.info(
        "val oF1 %.4f (%s; all-authentic floor %.4f); calibrated threshold %.2f, gate %.2f, "
        "keypoint inliers >= %d",
        main["of1"],
        method,
        main["floor"],
        best_cfg.threshold,
        best_cfg.gate,
        best_cfg.kp_min_inliers,
    )
    return metrics
