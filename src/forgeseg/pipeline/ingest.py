"""The ingest stage: validate the data root, split it by case_id, write index files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from forgeseg.config import BaseConfig, DataConfig
from forgeseg.core.atomic import atomic_dir, write_csv
from forgeseg.core.errors import DataError
from forgeseg.data.layout import scan, write_index
from forgeseg.data.split import split_records, split_summary
from forgeseg.pipeline.headline import SUMMARY_NAME, write_metrics
from forgeseg.pipeline.paths import PATHS, Paths

__all__ = ["ingest"]

log = logging.getLogger(__name__)


def ingest(
    data: DataConfig,
    base: BaseConfig,
    *,
    paths: Paths = PATHS,
    progress: bool = True,
) -> dict[str, Any]:
    """Scan ``data.root``, split it, write ``splits_dir/{train,val,test}.csv`` and metrics.

    In lenient mode (``data.strict: false``) every skipped file is listed with its reason
    in ``splits_dir/skipped.csv`` and counted in the metrics.
    """
    splits_dir, metrics_path = paths.splits, paths.ingest_metrics
    root = Path(data.root)
    if not root.is_dir():
        raise DataError(root, "data.root is not a folder (see README: Using the Kaggle data)")
    log.info("scanning %s (%s mode)", root, "strict" if data.strict else "lenient")
    result = scan(
        root,
        strict=data.strict,
        workers=base.workers,
        progress=progress,
    )
    splits = split_records(result.records, val_fraction=data.val_fraction, seed=base.seed)
    with atomic_dir(splits_dir) as tmp:
        for name, records in splits.items():
            write_index(tmp / f"{name}.csv", records)
        write_csv(
            tmp / "skipped.csv", [{"path": s.path, "reason": s.reason} for s in result.skipped]
        )
        write_csv(
            tmp / "warnings.csv", [{"path": w.path, "reason": w.reason} for w in result.warnings]
        )
    reasons: dict[str, int] = {}
    for s in result.skipped:
        key = s.reason.split(":")[0][:60]
        reasons[key] = reasons.get(key, 0) + 1
    metrics = {
        "root": str(root),
        "figures": len(result.records),
        "skipped": len(result.skipped),
        "skipped_by_reason": reasons,
        "warnings": len(result.warnings),
        **split_summary(splits),
    }
    # The full counts (per split, per skip reason, the data root) go beside the index files.
    top = write_metrics("ingest", metrics, metrics_path, splits_dir / SUMMARY_NAME)
    for w in result.warnings[:10]:
        log.warning("%s: %s", w.path, w.reason)
    if len(result.warnings) > 10:
        log.warning(
            "... and %d more warnings (see %s/warnings.csv)", len(result.warnings) - 10, splits_dir
        )
    for s in result.skipped[:10]:
        log.warning("skipped %s: %s", s.path, s.reason)
    if len(result.skipped) > 10:
        log.warning(
            "... and %d more skipped (see %s/skipped.csv)", len(result.skipped) - 10, splits_dir
        )
    log.info(
        "%d figures: %s",
        len(result.records),
        ", ".join(f"{k} {len(v)}" for k, v in splits.items()),
    )
    return top
