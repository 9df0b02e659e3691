"""The overlay stage: red overlays of test predictions, green truth contours when known."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from forgeseg.config import DataConfig, OverlayConfig
from forgeseg.core.atomic import atomic_dir, save_png
from forgeseg.core.errors import DataError
from forgeseg.core.imageio import read_image
from forgeseg.data.layout import Record, read_index
from forgeseg.data.truth import read_truth
from forgeseg.pipeline.paths import PATHS, Paths
from forgeseg.scoring.files import load_solution

__all__ = ["write_overlays"]

log = logging.getLogger(__name__)


def _load_pred(pred_dir: Path, rec: Record) -> np.ndarray:
    path = pred_dir / "masks" / f"{rec.case_id}.npy"
    if not path.is_file():
        raise DataError(path, "prediction missing: run `dvc repro infer` first")
    return np.load(path, allow_pickle=False).astype(bool)


def write_overlays(data: DataConfig, cfg: OverlayConfig, *, paths: Paths = PATHS) -> int:
    """Red overlays of predicted instances (green contours: truth, when known).

    At most ``overlay.n`` figures, half of them among those predicted forged, so the
    plot shows both what was found and what was let through; DVC loads every image plot
    into memory, so the cap matters.
    """
    from forgeseg.pipeline.render import overlay

    n = cfg.n
    records = read_index(paths.splits / "test.csv")
    solution = load_solution(Path(data.root))
    forged = [r for r in records if _load_pred(paths.predictions, r).shape[0] > 0]
    others = [r for r in records if r not in forged]
    chosen = forged[: (n + 1) // 2]
    chosen += others[: n - len(chosen)]
    chosen += [r for r in forged if r not in chosen][: n - len(chosen)]
    with atomic_dir(paths.overlays) as tmp:
        for rec in chosen:
            image = read_image(rec.image)
            truth = read_truth(rec, image.shape[:2], solution)
            pred = _load_pred(paths.predictions, rec)
            save_png(tmp / f"{rec.case_id}.png", overlay(image, pred, truth))
    log.info("wrote %d overlays to %s", len(chosen), paths.overlays)
    return len(chosen)
