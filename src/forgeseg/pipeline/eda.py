"""Dataset statistics for the ``eda`` stage: metrics JSON, DVC plot tables, contact sheet.

What a user of ``dvc metrics show`` / ``dvc plots show`` learns about a data root before
training on it: how many figures of each split, label and kind; how large the figures are;
how much of a forged figure is forged and in how many instances; how many forged figures
have an empty mask (label noise, or a broken export).

Image sizes come from the index (``Record.height``/``width``), so no figure is decoded for
the statistics; masks are read one at a time and dropped at once, so memory stays at one
mask whatever the size of the dataset.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forgeseg.config import BaseConfig, EdaConfig
from forgeseg.core.atomic import save_png, write_text
from forgeseg.pipeline.headline import SUMMARY_NAME, write_metrics
from forgeseg.pipeline.paths import PATHS, Paths

if TYPE_CHECKING:
    from forgeseg.data.layout import Record

__all__ = [
    "FRACTION_EDGES_PCT",
    "LONG_SIDE_EDGES",
    "dataset_stats",
    "run_eda",
    "write_table",
]

log = logging.getLogger(__name__)

LABELS = ("authentic", "forged", "unknown")
# Forged regions are about 0.2% to 7% of a figure: log-like bins resolve that range, the
# wide top bins catch broken masks that cover most of the figure.
FRACTION_EDGES_PCT: tuple[float, ...] = (0, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 100)
# Real figures run from about 113 to 3888 px on the long side.
LONG_SIDE_EDGES: tuple[float, ...] = (0, 256, 512, 768, 1024, 1536, 2048, 3072, 4096, np.inf)
UNKNOWN_KIND = "unknown"


def _summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """n, min, median, max, mean of ``values`` (None when empty, so JSON stays valid)."""
    if not values:
        return {"n": 0, "min": None, "median": None, "max": None, "mean": None}
    arr = np.asarray(values, np.float64)
    # Counts and pixel sizes stay integers in the JSON (2000, not 2000.0) at their extremes.
    integral = all(isinstance(v, int | np.integer) for v in values)
    lo, hi = (int(arr.min()), int(arr.max())) if integral else (float(arr.min()), float(arr.max()))
    return {
        "n": int(arr.size),
        "min": round(lo, 6),
        "median": round(float(np.median(arr)), 6),
        "max": round(hi, 6),
        "mean": round(float(arr.mean()), 6),
    }


def _fmt_edge(x: float) -> str:
    return f"{x:g}"


def _histogram(values: Sequence[float], edges: Sequence[float], unit: str) -> list[dict]:
    """Rows ``{bin, lo, hi, count}`` for every bin, empty ones included, so the x axis of a
    DVC bar plot is the same from one run to the next. The last bin includes its top edge."""
    edges_arr = np.asarray(edges, np.float64)
    counts = np.zeros(len(edges_arr) - 1, np.int64)
    if values:
        idx = np.searchsorted(edges_arr, np.asarray(values, np.float64), side="right") - 1
        np.add.at(counts, np.clip(idx, 0, len(counts) - 1), 1)
    rows = []
    for i, count in enumerate(counts):
        lo, hi = float(edges_arr[i]), float(edges_arr[i + 1])
        label = (
            f"{_fmt_edge(lo)}+{unit}" if np.isinf(hi) else f"{_fmt_edge(lo)}-{_fmt_edge(hi)}{unit}"
        )
        rows.append({"bin": label, "lo": lo, "hi": "" if np.isinf(hi) else hi, "count": int(count)})
    return rows


def _mask_stats(rec: Record) -> tuple[float, int]:
    """(forged share of the figure in [0, 1], non-empty instances) of one forged record."""
    from forgeseg.core.imageio import read_mask

    masks = read_mask(rec.mask, shape=(int(rec.height), int(rec.width)))
    if masks.shape[0] == 0:
        return 0.0, 0
    # Union area without materialising more than one (H, W) plane at a time.
    union = np.zeros(masks.shape[1:], bool)
    n_inst = 0
    for inst in masks:
        if inst.any():
            n_inst += 1
            union |= inst
    return float(union.mean()), n_inst


def dataset_stats(
    splits: Mapping[str, Sequence[Record]], *, read_masks: bool = True, progress: bool = True
) -> tuple[dict[str, Any], dict[str, list[dict]]]:
    """Counts and distributions of a split dataset.

    Args:
        splits: split name -> records (objects with the :class:`forgeseg.data.layout.Record`
            fields). A figure is counted once per split it appears in.
        read_masks: read every forged figure's mask for the forged-share, instance and
            empty-mask statistics; False skips them (counts and sizes only, no I/O).
        progress: show a progress bar while masks are read.

    Returns:
        ``(metrics, tables)``. ``metrics`` (JSON-ready, nested at most two levels):

        - ``figures``: total; ``splits.<split>.{figures,authentic,forged,unknown}``;
          ``labels.<label>``; ``kinds.<kind>`` (``unknown`` when the index has no kind);
          ``subsets.<subset>``.
        - ``long_side`` (px) and ``megapixels``: summaries over all figures.
        - with ``read_masks``: ``masks.{forged_with_mask, forged_without_mask, empty,
          empty_fraction}``, an empty mask being one with no True pixel;
          ``forged_fraction_pct`` (mask union / figure area, in percent, over non-empty
          masks) and ``instances`` (non-empty channels per forged figure with a mask).

        Summaries are ``{n, min, median, max, mean}``, values None when there is no data.
        ``tables`` holds plot rows: ``forged_fraction`` and ``image_size`` histograms
        ``{bin, lo, hi, count}``, ``instances`` ``{instances, count}``, ``kinds``
        ``{kind, label, count}``.
    """
    all_records = [rec for recs in splits.values() for rec in recs]
    split_counts: dict[str, dict[str, int]] = {}
    for name, recs in splits.items():
        by_label = Counter(rec.label for rec in recs)
        split_counts[name] = {"figures": len(recs), **{lab: by_label[lab] for lab in LABELS}}
    label_counts = Counter(rec.label for rec in all_records)
    kind_counts = Counter(rec.kind or UNKNOWN_KIND for rec in all_records)
    kind_label = Counter((rec.kind or UNKNOWN_KIND, rec.label) for rec in all_records)
    subset_counts = Counter(rec.subset for rec in all_records)

    long_sides = [max(int(r.height), int(r.width)) for r in all_records]
    megapixels = [int(r.height) * int(r.width) / 1e6 for r in all_records]

    metrics: dict[str, Any] = {
        "figures": len(all_records),
        "splits": split_counts,
        "labels": {lab: label_counts[lab] for lab in LABELS},
        "kinds": dict(sorted(kind_counts.items())),
        "subsets": dict(sorted(subset_counts.items())),
        "long_side": _summary(long_sides),
        "megapixels": _summary(megapixels),
    }
    tables: dict[str, list[dict]] = {
        "image_size": _histogram(long_sides, LONG_SIDE_EDGES, " px"),
        "kinds": [
            {"kind": kind, "label": label, "count": n}
            for (kind, label), n in sorted(kind_label.items())
        ],
    }

    if read_masks:
        _add_mask_stats(all_records, metrics, tables, progress)
    return metrics, tables


def _add_mask_stats(
    records: Sequence[Record],
    metrics: dict[str, Any],
    tables: dict[str, list[dict]],
    progress: bool,
) -> None:
    """Forged share, instances and empty masks of every forged figure with a mask."""
    from tqdm import tqdm

    forged = [r for r in records if r.label == "forged"]
    with_mask = [r for r in forged if r.mask]
    fractions: list[float] = []
    instances: list[int] = []
    empty = 0
    for rec in tqdm(with_mask, desc="eda: masks", unit="mask", disable=not progress):
        share, n_inst = _mask_stats(rec)
        instances.append(n_inst)
        if n_inst == 0:
            empty += 1
        else:
            fractions.append(100.0 * share)
    metrics["masks"] = {
        "forged_with_mask": len(with_mask),
        "forged_without_mask": len(forged) - len(with_mask),
        "empty": empty,
        "empty_fraction": round(empty / len(with_mask), 6) if with_mask else None,
    }
    metrics["forged_fraction_pct"] = _summary(fractions)
    metrics["instances"] = _summary(instances)
    tables["forged_fraction"] = _histogram(fractions, FRACTION_EDGES_PCT, "%")
    inst_counts = Counter(instances)
    top = max(instances, default=0)
    tables["instances"] = [{"instances": k, "count": inst_counts[k]} for k in range(top + 1)]


def write_table(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` as a CSV with a header (columns from the first row), atomically.

    An empty table still gets its file (header only when no rows), so DVC finds every
    plot it was told about.
    """
    buf = io.StringIO()
    fields = list(rows[0]) if rows else ["count"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def run_eda(
    splits: Mapping[str, Sequence[Record]],
    *,
    metrics_path: str | os.PathLike[str],
    plots_dir: str | os.PathLike[str],
    contact_sheet_path: str | os.PathLike[str],
    per_kind: int = 2,
    tile: int = 192,
    seed: int = 0,
) -> dict[str, Any]:
    """Compute :func:`dataset_stats` and write everything the ``eda`` stage outputs.

    Writes (each atomically): ``metrics_path`` (the headline numbers of
    :mod:`forgeseg.pipeline.headline`), ``<plots_dir>/summary.json`` (every statistic),
    ``<plots_dir>/<table>.csv`` for each plot table (``forged_fraction``, ``image_size``,
    ``instances``, ``kinds``), and ``contact_sheet_path``, a PNG from
    :func:`forgeseg.pipeline.render.contact_sheet_by_kind` over all splits. Returns the
    headline metrics.
    """
    from forgeseg.pipeline.render import contact_sheet_by_kind

    # Everything is computed before anything is written: a bad file met half-way leaves
    # the previous outputs as they were, not a mix of old and new.
    metrics, tables = dataset_stats(splits)
    all_records = [rec for recs in splits.values() for rec in recs]
    sheet = contact_sheet_by_kind(all_records, per_kind=per_kind, tile=tile, seed=seed)
    plots = Path(plots_dir)
    for name, rows in tables.items():
        write_table(plots / f"{name}.csv", rows)
    save_png(contact_sheet_path, sheet, compress_level=6)
    top = write_metrics("eda", metrics, metrics_path, plots / SUMMARY_NAME)
    labels = metrics["labels"]
    log.info(
        "%d figures (%d forged, %d authentic, %d unknown), %d kinds; wrote %s, %s, %s",
        metrics["figures"],
        labels["forged"],
        labels["authentic"],
        labels["unknown"],
        len(metrics["kinds"]),
        metrics_path,
        plots,
        contact_sheet_path,
    )
    return top


def run_stage(cfg: EdaConfig, base: BaseConfig, *, paths: Paths = PATHS) -> dict[str, Any]:
    """The ``eda`` stage: statistics of every split in ``paths.splits``."""
    from forgeseg.data.layout import read_index

    splits = {name: read_index(paths.splits / f"{name}.csv") for name in ("train", "val", "test")}
    return run_eda(
        splits,
        metrics_path=paths.eda_metrics,
        plots_dir=paths.eda_plots,
        contact_sheet_path=paths.eda_plots / "contact_sheet.png",
        per_kind=cfg.per_kind,
        seed=base.seed,
    )
