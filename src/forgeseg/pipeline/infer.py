"""The infer and overlay stages: predictions on the test figures, a Kaggle submission,
its official score when the truth is known, and red overlays for people to look at.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.core.atomic import atomic_dir, save_npy, save_png, write_json
from forgeseg.core.errors import DataError
from forgeseg.core.imageio import read_image
from forgeseg.data.layout import Record, read_index
from forgeseg.decision.detector import Detector, read_truth
from forgeseg.decision.rules import load_postprocess
from forgeseg.params import resolve_device, section

__all__ = ["SOLUTION_NAME", "infer", "load_solution", "predict_folder", "write_overlays"]

log = logging.getLogger(__name__)

SOLUTION_NAME = "test_solution.csv"  # written by `forgeseg synth`; absent in the Kaggle copy


def load_solution(root: Path) -> dict[str, str] | None:
    from forgeseg.scoring.score import read_solution

    path = root / SOLUTION_NAME
    if not path.is_file():
        return None
    return {row[0]: row[1] for row in read_solution(path)}


def _predict_records(
    detector: Detector, records: Sequence[Record], out_dir: Path, *, progress: bool
) -> list[tuple[str, str]]:
    """Detect on each record, save its mask stack under ``out_dir/masks``, return rows."""
    from tqdm import tqdm

    from forgeseg.core.rle import encode_annotation

    rows = []
    for rec in tqdm(records, desc="infer", disable=not progress):
        det = detector.detect(read_image(rec.image))
        save_npy(out_dir / "masks" / f"{rec.case_id}.npy", det.instances.astype(np.uint8))
        rows.append((rec.uid, encode_annotation(det.instances)))
    return rows


def infer(
    params: Mapping[str, Any],
    *,
    model_path: str | Path = "models/model.pt",
    postprocess_path: str | Path = "models/postprocess.json",
    splits_dir: str | Path = "data/splits",
    out_dir: str | Path = "data/predictions",
    metrics_path: str | Path = "metrics/infer.json",
    progress: bool = True,
) -> dict[str, Any]:
    """Predict every test figure; write ``out_dir/submission.csv`` and ``out_dir/masks``."""
    from forgeseg.scoring.score import score_files, write_submission

    cfg = load_postprocess(postprocess_path)
    root = Path(params["data"]["root"])
    records = read_index(Path(splits_dir) / "test.csv")
    detector = Detector.from_params(
        section(params, "detect"),
        model_path=model_path,
        postprocess=cfg,
        device=resolve_device(params["base"].get("device")),
    )
    log.info("predicting %d test figures with the %s detector", len(records), cfg.method)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        rows = _predict_records(detector, records, tmp, progress=progress)
        write_submission(rows, tmp / "submission.csv")
    n_forged = sum(a != "authentic" for _, a in rows)
    metrics: dict[str, Any] = {
        "method": cfg.method,
        "n_figures": len(rows),
        "predicted_forged": n_forged,
        "predicted_forged_fraction": n_forged / max(len(rows), 1),
    }
    solution = root / SOLUTION_NAME
    if solution.is_file() and rows:
        report = score_files(solution, out_dir / "submission.csv")
        metrics.update({"scored": True, "of1": report.mean, **report.breakdown})
        log.info("test oF1 %.4f (all-authentic floor %.4f)", report.mean, report.breakdown["floor"])
    else:
        metrics["scored"] = False
        log.info("no %s under %s: submission written, not scored", SOLUTION_NAME, root)
    write_json(metrics_path, metrics)
    return metrics


def write_overlays(
    params: Mapping[str, Any],
    *,
    splits_dir: str | Path = "data/splits",
    pred_dir: str | Path = "data/predictions",
    out_dir: str | Path = "plots/overlays",
) -> int:
    """Red overlays of predicted instances (green contours: truth, when known).

    At most ``overlay.n`` figures, half of them among those predicted forged, so the
    plot shows both what was found and what was let through; DVC loads every image plot
    into memory, so the cap matters.
    """
    from forgeseg.pipeline.render import overlay

    n = int(section(params, "overlay").get("n", 12))
    root = Path(params["data"]["root"])
    records = read_index(Path(splits_dir) / "test.csv")
    solution = load_solution(root)
    pred_dir = Path(pred_dir)

    def load_pred(rec: Record) -> np.ndarray:
        path = pred_dir / "masks" / f"{rec.case_id}.npy"
        if not path.is_file():
            raise DataError(path, "prediction missing: run `dvc repro infer` first")
        return np.load(path, allow_pickle=False).astype(bool)

    forged = [r for r in records if load_pred(r).shape[0] > 0]
    others = [r for r in records if r not in forged]
    chosen = forged[: (n + 1) // 2]
    chosen += others[: n - len(chosen)]
    chosen += [r for r in forged if r not in chosen][: n - len(chosen)]
    with atomic_dir(out_dir) as tmp:
        for rec in chosen:
            image = read_image(rec.image)
            truth = read_truth(rec, image.shape[:2], solution)
            save_png(tmp / f"{rec.case_id}.png", overlay(image, load_pred(rec), truth))
    log.info("wrote %d overlays to %s", len(chosen), out_dir)
    return len(chosen)


def predict_folder(
    images: str | Path,
    out_csv: str | Path,
    *,
    model_path: str | Path,
    postprocess_path: str | Path,
    detect_params: Mapping[str, Any] | None = None,
    device: str = "auto",
    progress: bool = True,
) -> int:
    """``forgeseg predict``: every PNG/JPEG/TIFF in ``images`` -> a Kaggle submission CSV."""
    from tqdm import tqdm

    from forgeseg.core.rle import encode_annotation
    from forgeseg.scoring.score import write_submission

    folder = Path(images)
    if not folder.is_dir():
        raise DataError(folder, "not a folder of figures")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
    )
    if not files:
        raise DataError(folder, "holds no PNG, JPEG, TIFF or BMP figures")
    detector = Detector.from_params(
        detect_params or {},
        model_path=model_path,
        postprocess=load_postprocess(postprocess_path),
        device=resolve_device(device),
    )
    rows = []
    for path in tqdm(files, desc="predict", disable=not progress):
        rows.append((path.stem, encode_annotation(detector.detect(read_image(path)).instances)))
    write_submission(rows, out_csv)
    return len(rows)
