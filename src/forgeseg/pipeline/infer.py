"""The infer stage and ``forgeseg predict``: predictions on figures, a Kaggle submission,
and its official score when the truth is known.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.config import DetectConfig, Params, resolve_device
from forgeseg.core.atomic import atomic_dir, save_npy
from forgeseg.core.errors import DataError
from forgeseg.data.layout import Record, read_index
from forgeseg.decision.calibration import load_calibration
from forgeseg.pipeline.corpus import (
    DetectorSpec,
    FigureResult,
    FigureTask,
    Journal,
    corpus_key,
    journal_path,
    run_corpus,
    skip_path,
    write_skips,
)
from forgeseg.pipeline.headline import (
    SUMMARY_NAME,
    infer_report,
    scored_kind_rows,
    write_kind_table,
    write_metrics,
)
from forgeseg.pipeline.paths import PATHS, Paths
from forgeseg.scoring.files import SOLUTION_NAME

__all__ = ["FIGURE_SUFFIXES", "PredictSummary", "figure_files", "infer", "predict_folder"]

log = logging.getLogger(__name__)

FIGURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})


def _save_masks(records: Sequence[Record], results: Sequence[FigureResult], out: Path) -> None:
    """``out/<case_id>.npy``: uint8 (N,H,W) instances, decoded back from each row's RLE
    (workers send text, not mask stacks); (0,H,W) for an authentic or skipped figure."""
    from forgeseg.core.rle import decode_annotation

    for rec, res in zip(records, results, strict=True):
        shape = res.shape or (rec.height, rec.width)
        masks = decode_annotation(res.annotation, shape, case_id=rec.uid)
        save_npy(out / f"{rec.case_id}.npy", masks.astype(np.uint8))


def _log_skips(n_skipped: int, n: int, where: Path) -> None:
    if n_skipped:
        log.warning("%d of %d figures skipped (written authentic): see %s", n_skipped, n, where)
    else:
        log.info("all %d figures predicted, none skipped", n)


def infer(params: Params, *, paths: Paths = PATHS, progress: bool = True) -> dict[str, Any]:
    """Predict every test figure; write ``submission.csv`` and ``masks/`` under
    ``paths.predictions``, and score the submission when the data root has a solution."""
    from forgeseg.scoring.files import score_files, write_submission

    decision = load_calibration(paths.calibration, params.detect)
    records = read_index(paths.splits / "test.csv")
    spec = DetectorSpec(
        params.detect,
        decision,
        model_path=str(paths.model),
        device=resolve_device(params.base.device),
    )
    workers = params.base.workers
    log.info(
        "predicting %d test figures with the %s detector on %d worker(s)",
        len(records),
        decision.method,
        workers,
    )
    tasks = [FigureTask(i, r.uid, r.image) for i, r in enumerate(records)]
    # Beside data/predictions, not in it: DVC replaces that folder whole on every run.
    journal = Journal(
        journal_path(paths.predictions), corpus_key(tasks, spec, files=[paths.calibration])
    )
    results = run_corpus(
        spec, tasks, workers=workers, journal=journal, progress=progress, desc="infer"
    )
    rows = [(r.uid, r.annotation) for r in results]
    with atomic_dir(paths.predictions) as tmp:
        _save_masks(records, results, tmp / "masks")
        write_submission(rows, tmp / "submission.csv")
        n_skipped = write_skips(tmp / "skipped.csv", results)
    journal.remove()
    _log_skips(n_skipped, len(rows), paths.predictions / "skipped.csv")
    root = Path(params.data.root)
    solution = root / SOLUTION_NAME
    if solution.is_file() and rows:
        report = score_files(solution, paths.predictions / "submission.csv")
        metrics = infer_report(decision.method, rows, {"of1": report.mean, **report.breakdown})
        write_kind_table(paths.predictions / "kinds.csv", scored_kind_rows(records, rows, report))
        log.info("test oF1 %.4f (all-authentic floor %.4f)", report.mean, report.breakdown["floor"])
    else:
        metrics = infer_report(decision.method, rows, None)
        write_kind_table(paths.predictions / "kinds.csv", [])
        log.info("no %s under %s: submission written, not scored", SOLUTION_NAME, root)
    write_metrics("infer", metrics, paths.infer_metrics, paths.predictions / SUMMARY_NAME)
    return metrics


@dataclass(frozen=True)
class PredictSummary:
    """What ``forgeseg predict`` wrote: ``n_rows`` submission rows, ``n_skipped`` figures
    recorded in ``skip_file`` (each an ``authentic`` row, or no row for a hidden file);
    ``peak_rss_mb``: the largest peak resident memory of a process that judged figures."""

    out: Path
    n_rows: int
    n_skipped: int
    skip_file: Path
    peak_rss_mb: float = 0.0


def figure_files(images: str | Path) -> list[Path]:
    """The PNG/JPEG/TIFF/BMP files of a folder, sorted by name. Hidden files (``._x.png``
    from macOS copies) are listed too, so that a skip file can say why they got no row.

    Raises:
        DataError: naming the folder when it is not one or holds no figure.
    """
    folder = Path(images)
    if not folder.is_dir():
        raise DataError(folder, "not a folder of figures")
    files = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in FIGURE_SUFFIXES and p.is_file()
    )
    if not files:
        raise DataError(folder, "holds no PNG, JPEG, TIFF or BMP figures")
    return files


def _folder_tasks(images: str | Path) -> list[FigureTask]:
    return [FigureTask(i, p.stem, str(p)) for i, p in enumerate(figure_files(images))]


def predict_folder(
    images: str | Path,
    out_csv: str | Path,
    *,
    model_path: str | Path,
    calibration_path: str | Path,
    detect: DetectConfig | None = None,
    device: str = "auto",
    workers: int = 1,
    scheduler: Any = None,
    strict: bool = False,
    progress: bool = True,
) -> PredictSummary:
    """``forgeseg predict``: every PNG/JPEG/TIFF/BMP in ``images`` -> a Kaggle submission.

    A figure that cannot be read, is refused or makes the detector fail gets an
    ``authentic`` row and a line in ``<out stem>.skipped.csv`` (hidden files: the line
    only, they are not figures); ``strict`` raises instead. A killed run started again
    with the same arguments resumes from ``<out>.journal.jsonl``; the CSV is written
    atomically once every figure is judged. ``scheduler``: a Dask scheduler address.
    """
    from forgeseg.scoring.files import write_submission

    out = Path(out_csv)
    tasks = _folder_tasks(images)
    detect = detect or DetectConfig()
    spec = DetectorSpec(
        detect,
        load_calibration(calibration_path, detect),
        model_path=str(model_path),
        device=resolve_device(device),
    )
    journal = Journal(journal_path(out), corpus_key(tasks, spec, files=[calibration_path]))
    results = run_corpus(
        spec,
        tasks,
        workers=workers,
        scheduler=scheduler,
        journal=journal,
        strict=strict,
        progress=progress,
        desc="predict",
    )
    rows = [(r.uid, r.annotation) for r in results if not Path(r.path).name.startswith(".")]
    write_submission(rows, out)
    n_skipped = write_skips(skip_path(out), results)
    journal.remove()
    _log_skips(n_skipped, len(results), skip_path(out))
    peak = max((r.peak_rss_mb for r in results), default=0.0)
    return PredictSummary(out, len(rows), n_skipped, skip_path(out), peak)
