"""The infer stage and ``forgeseg predict``: predictions on figures, a Kaggle submission,
and its official score when the truth is known.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.config import DetectConfig, Params, resolve_device
from forgeseg.core.atomic import atomic_dir, save_npy, write_json
from forgeseg.core.errors import DataError
from forgeseg.core.imageio import read_image
from forgeseg.data.layout import Record, read_index
from forgeseg.decision.calibration import load_calibration
from forgeseg.decision.detector import Detector
from forgeseg.pipeline.paths import PATHS, Paths
from forgeseg.scoring.files import SOLUTION_NAME

__all__ = ["FIGURE_SUFFIXES", "infer", "predict_folder"]

log = logging.getLogger(__name__)

FIGURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})


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


def infer(params: Params, *, paths: Paths = PATHS, progress: bool = True) -> dict[str, Any]:
    """Predict every test figure; write ``submission.csv`` and ``masks/`` under
    ``paths.predictions``, and score the submission when the data root has a solution."""
    from forgeseg.scoring.files import score_files, write_submission

    decision = load_calibration(paths.calibration, params.detect)
    records = read_index(paths.splits / "test.csv")
    detector = Detector(
        params.detect,
        decision,
        model_path=paths.model,
        device=resolve_device(params.base.device),
    )
    log.info("predicting %d test figures with the %s detector", len(records), decision.method)
    with atomic_dir(paths.predictions) as tmp:
        rows = _predict_records(detector, records, tmp, progress=progress)
        write_submission(rows, tmp / "submission.csv")
    n_forged = sum(a != "authentic" for _, a in rows)
    metrics: dict[str, Any] = {
        "method": decision.method,
        "n_figures": len(rows),
        "predicted_forged": n_forged,
        "predicted_forged_fraction": n_forged / max(len(rows), 1),
    }
    root = Path(params.data.root)
    solution = root / SOLUTION_NAME
    if solution.is_file() and rows:
        report = score_files(solution, paths.predictions / "submission.csv")
        metrics.update({"scored": True, "of1": report.mean, **report.breakdown})
        log.info("test oF1 %.4f (all-authentic floor %.4f)", report.mean, report.breakdown["floor"])
    else:
        metrics["scored"] = False
        log.info("no %s under %s: submission written, not scored", SOLUTION_NAME, root)
    write_json(paths.infer_metrics, metrics)
    return metrics


def predict_folder(
    images: str | Path,
    out_csv: str | Path,
    *,
    model_path: str | Path,
    calibration_path: str | Path,
    detect: DetectConfig | None = None,
    device: str = "auto",
    progress: bool = True,
) -> int:
    """``forgeseg predict``: every PNG/JPEG/TIFF in ``images`` -> a Kaggle submission CSV."""
    from tqdm import tqdm

    from forgeseg.core.rle import encode_annotation
    from forgeseg.scoring.files import write_submission

    folder = Path(images)
    if not folder.is_dir():
        raise DataError(folder, "not a folder of figures")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FIGURE_SUFFIXES)
    if not files:
        raise DataError(folder, "holds no PNG, JPEG, TIFF or BMP figures")
    detect = detect or DetectConfig()
    detector = Detector(
        detect,
        load_calibration(calibration_path, detect),
        model_path=model_path,
        device=resolve_device(device),
    )
    rows = []
    for path in tqdm(files, desc="predict", disable=not progress):
        rows.append((path.stem, encode_annotation(detector.detect(read_image(path)).instances)))
    write_submission(rows, out_csv)
    return len(rows)
