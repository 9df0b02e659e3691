"""The ingest stage: validate the data root, split it by case_id, write index files."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from forgeseg.core.atomic import atomic_dir, write_json
from forgeseg.core.errors import DataError
from forgeseg.data.layout import scan, write_index
from forgeseg.data.split import split_records, split_summary

__all__ = ["ingest"]

log = logging.getLogger(__name__)


def ingest(
    params: Mapping[str, Any],
    *,
    splits_dir: str | Path = "data/splits",
    metrics_path: str | Path = "metrics/ingest.json",
    progress: bool = True,
) -> dict[str, Any]:
    """Scan ``data.root``, split it, write ``splits_dir/{train,val,test}.csv`` and metrics.

    In lenient mode (``data.strict: false``) every skipped file is listed with its reason
    in ``splits_dir/skipped.csv`` and counted in the metrics.
    """
    from forgeseg.pipeline.evaluate import write_csv

    data = params["data"]
    root = Path(data["root"])
    if not root.is_dir():
        raise DataError(root, "data.root is not a folder (see README: Using the Kaggle data)")
    log.info("scanning %s (%s mode)", root, "strict" if data.get("strict") else "lenient")
    result = scan(
        root,
        strict=bool(data.get("strict", False)),
        workers=int(params["base"].get("workers", 1)),
        progress=progress,
    )
    splits = split_records(
        result.records, val_fraction=float(data["val_fraction"]), seed=int(params["base"]["seed"])
    )
    with atomic_dir(splits_dir) as tmp:
        for name, records in splits.items():
            write_index(tmp / f"{name}.csv", records)
        write_csv(
            tmp / "skipped.csv", [{"path": s.path, "reason": s.reason} for s in result.skipped]
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
        **split_summary(splits),
    }
    write_json(metrics_path, metrics)
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
    return metrics
