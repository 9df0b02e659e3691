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
from forgeseg.core.atomic import write_csv
from forgeseg.core.errors import ParamsError
from forgeseg.data.layout import Record, read_index
from forgeseg.decision.calibration import (
    CALIBRATED,
    FigureTable,
    Outcome,
    calibrate,
    outcome,
    save_calibration,
)
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.corpus import (
    DetectorSpec,
    FigureTask,
    Journal,
    corpus_key,
    journal_path,
    run_corpus,
)
from forgeseg.pipeline.headline import (
    SUMMARY_NAME,
    evaluate_report,
    kind_rows,
    write_kind_table,
    write_metrics,
)
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
    records: Sequence[Record],
    *,
    evaluate: EvaluateConfig,
    detect: DetectConfig,
    model_path: str | Path | None = None,
    device: str = "cpu",
    workers: int = 1,
    scheduler: Any = None,
    solution: Mapping[str, str] | None = None,
    progress: bool = True,
    desc: str = "evaluate",
    decision_path: str | Path | None = None,
    journal_at: str | Path | None = None,
) -> list[FigureTable]:
    """Every record's small calibration table, in record order, computed on ``workers``
    processes (or the Dask cluster at ``scheduler``).

    Every method is scored from the same evidence, so the detector gathers all of it
    (hybrid: matchers and network; the learned decision's trees at ``decision_path``,
    when given). A figure whose truth is unknown, or that cannot be read or judged, is
    logged and left out. With ``journal_at``, each table is journaled there as it lands, so
    a killed run resumes; the caller removes the journal once its outputs are written.
    """
    spec = DetectorSpec(
        detect,
        DecisionConfig(
            "hybrid", learned_model=str(decision_path) if decision_path is not None else None
        ),
        model_path=str(model_path) if model_path is not None else None,
        device=device,
        output="table",
        thresholds=tuple(evaluate.thresholds),
        min_support=tuple(evaluate.min_support),
        accepts=tuple(evaluate.accepts) if decision_path is not None else (),
    )
    solution = solution or {}
    tasks = [
        FigureTask(i, r.uid, r.image, record=r, truth=solution.get(r.uid))
        for i, r in enumerate(records)
    ]
    journal = None
    if journal_at is not None:
        files = [decision_path] if decision_path is not None else []
        journal = Journal(journal_at, corpus_key(tasks, spec, files=files))
    results = run_corpus(
        spec,
        tasks,
        workers=workers,
        scheduler=scheduler,
        journal=journal,
        progress=progress,
        desc=desc,
    )
    return [r.table for r in results if r.table is not None]


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
            accepts=evaluate.accepts,
            min_area=detect.min_area,
            min_area_fraction=detect.min_area_fraction,
        )
        out[m] = (cfg, rows)
    return out


def _methods(det: DetectConfig, learned: bool) -> tuple[str, ...]:
    if det.method == "learned" and not learned:
        raise ParamsError(
            "detect.method: learned needs models/decision.npz (run `dvc repro decision`)"
        )
    return tuple(m for m in DETECT_METHODS if learned or m != "learned")


def evaluate(params: Params, *, paths: Paths = PATHS, progress: bool = True) -> dict[str, Any]:
    """Calibrate on the val split and write metrics, plots and the calibrated settings.

    The learned decision is calibrated and reported beside the hand-set ones when its
    trees (``paths.decision``) exist; ``detect.method: learned`` requires them.
    """
    det, ev_cfg = params.detect, params.evaluate
    records = read_index(paths.splits / "val.csv")
    workers = params.base.workers
    learned = Path(paths.decision).is_file()
    methods = _methods(det, learned)
    log.info("evaluating %d val figures with every detector on %d worker(s)", len(records), workers)
    tables = collect_tables(
        records,
        evaluate=ev_cfg,
        detect=det,
        model_path=paths.model,
        device=resolve_device(params.base.device),
        workers=workers,
        progress=progress,
        decision_path=paths.decision if learned else None,
        journal_at=journal_path(paths.calibration),
    )
    if not tables:
        raise ValueError(f"{paths.splits / 'val.csv'}: no val figure with known truth")
    calibrated = calibrate_all(tables, evaluate=ev_cfg, detect=det, methods=methods)
    grids = (ev_cfg.thresholds, ev_cfg.min_support, ev_cfg.accepts)
    per_method = {m: summarize(outcome(tables, cfg, *grids)) for m, (cfg, _) in calibrated.items()}
    log.info(
        "val oF1 by detector: %s",
        ", ".join(f"{m} {s['of1']:.4f}" for m, s in per_method.items()),
    )
    best_cfg, sweep = calibrated[det.method]
    main = per_method[det.method]
    chosen = {k: getattr(best_cfg, k) for k in CALIBRATED}
    metrics = evaluate_report(det.method, per_method, chosen)
    # Every method's calibrated settings, so a benchmark can replay each on new figures.
    for m, (cfg, _) in calibrated.items():
        metrics["methods"][m]["calibrated"] = {k: getattr(cfg, k) for k in CALIBRATED}
    write_metrics("evaluate", metrics, paths.evaluate_metrics, paths.evaluate_plots / SUMMARY_NAME)
    save_calibration(paths.calibration, best_cfg, of1=main["of1"], floor=main["floor"])
    final = outcome(tables, best_cfg, *grids)
    kinds = {r.uid: r.kind for r in records}
    write_kind_table(
        paths.evaluate_plots / "kinds.csv",
        kind_rows([kinds[t.uid] for t in tables], final.of1, final.truth_forged, final.forged_pred),
    )
    _write_plots(Path(paths.evaluate_plots), sweep, final, per_method, main["floor"])
    Journal(journal_path(paths.calibration), "").remove()  # every output is written
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
