"""The numbers a person reads: each stage's headline metrics, and where the rest goes.

``dvc metrics show`` draws every leaf of a metrics file as a column, and ``dvc metrics diff``
every leaf as a row: a file with a hundred leaves is a table nobody reads. So each metrics
file holds about a dozen headline numbers (oF1, the all-``authentic`` floor, forged-only
oF1, authentic figures flagged, Dice, IoU, ...), under the names users already diff, and
everything else a stage computed goes to a summary JSON that is an output, not a metric,
or to a per-kind table that ``dvc plots show`` draws as bars.

``HEADLINE`` is the one list of what each file holds; ``tests/pipeline/test_metrics_files.py``
checks that every file stays under a dozen numbers and fits a terminal 200 columns wide.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from forgeseg.core.atomic import write_csv, write_json, write_text

__all__ = [
    "HEADLINE",
    "KIND_COLUMNS",
    "SUMMARY_NAME",
    "evaluate_report",
    "headline",
    "infer_report",
    "kind_rows",
    "numeric_leaves",
    "scored_kind_rows",
    "write_kind_table",
    "write_metrics",
]

SUMMARY_NAME = "summary.json"
KIND_COLUMNS = ("kind", "figures", "forged", "of1", "floor", "forged_detected", "authentic_flagged")

# Dotted keys into each stage's full report; a key a run lacks (an unscored infer run has no
# oF1, eda without masks no mask statistics) is left out, never written as null.
HEADLINE: Mapping[str, tuple[str, ...]] = {
    "ingest": (
        "figures",
        "skipped",
        "warnings",
        "train.figures",
        "val.figures",
        "test.figures",
        "val.forged",
        "test.forged",
        # The leak check: an authentic figure and its forged twin on both sides of the split.
        "case_ids_in_train_and_val",
    ),
    "eda": (
        "figures",
        "labels.authentic",
        "labels.forged",
        "labels.unknown",
        "long_side.median",
        "long_side.max",
        # Empty masks of forged figures: label noise or a broken export.
        "masks.empty",
        "forged_fraction_pct.median",
        "instances.mean",
    ),
    "evaluate": (
        "method",
        "of1",
        "floor",
        "forged_only_of1",
        "authentic_fpr",
        "forged_detected",
        "dice",
        "iou",
        "image_auc",
        "n_figures",
        "n_forged",
    ),
    "panels": (
        "learned.panel_recall",
        "learned.panel_precision",
        "learned.text_f1",
        "classical.panel_recall",
        "classical.panel_precision",
        "classical.text_f1",
        "train_seconds",
    ),
    "decision": (
        "figures",
        "figures_with_candidates",
        "candidates",
        "positives",
        "cv_auc",
        "importance.geometry",
        "importance.pixels",
        "importance.structure",
        "importance.network",
        "importance.size",
        "seconds",
    ),
    "infer": (
        "method",
        "scored",
        "of1",
        "floor",
        "forged_only_mean",
        "authentic_fpr",
        "forged_detected_rate",
        "predicted_forged",
        "predicted_forged_fraction",
        "n_figures",
        "n_forged",
    ),
}


def _get(report: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = report
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def headline(stage: str, report: Mapping[str, Any]) -> dict[str, Any]:
    """The headline part of a stage's full ``report``, nested as in the report, so that
    ``dvc metrics diff`` keeps the key names (``labels.forged``) it had before.

    Raises:
        KeyError: ``stage`` has no headline list (a programming error, not a user's).
    """
    out: dict[str, Any] = {}
    for dotted in HEADLINE[stage]:
        found, value = _get(report, dotted)
        if not found or value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def numeric_leaves(tree: Mapping[str, Any]) -> int:
    """How many numbers (bools excluded) ``tree`` holds at any depth: the rows of
    ``dvc metrics diff``."""
    n = 0
    for value in tree.values():
        if isinstance(value, Mapping):
            n += numeric_leaves(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            n += 1
    return n


def write_metrics(
    stage: str,
    report: Mapping[str, Any],
    metrics_path: str | os.PathLike[str],
    summary_path: str | os.PathLike[str],
) -> dict[str, Any]:
    """Write the headline of ``report`` to ``metrics_path`` (the DVC metrics file) and the
    whole report to ``summary_path`` (an output, not a metric); return the headline."""
    top = headline(stage, report)
    write_json(summary_path, report)
    write_json(metrics_path, top)
    return top


def evaluate_report(
    method: str,
    per_method: Mapping[str, Mapping[str, Any]],
    calibrated: Mapping[str, Any],
) -> dict[str, Any]:
    """The evaluate stage's full report: the chosen method's
    :func:`forgeseg.pipeline.evaluate.summarize`, what calibration chose, and every method's
    headline numbers beside it."""
    return {
        "method": method,
        **per_method[method],
        "calibrated": dict(calibrated),
        "methods": {
            m: {k: s[k] for k in ("of1", "forged_only_of1", "authentic_fpr", "dice", "iou")}
            for m, s in per_method.items()
        },
    }


def infer_report(
    method: str, rows: Sequence[tuple[str, str]], breakdown: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The infer stage's full report from its submission ``rows`` ``(uid, annotation)`` and,
    when the test truth is known, the scorer's mean and breakdown (``{"of1": ..., **b}``)."""
    n_forged = sum(a != "authentic" for _, a in rows)
    report: dict[str, Any] = {
        "method": method,
        "n_figures": len(rows),
        "predicted_forged": n_forged,
        "predicted_forged_fraction": n_forged / max(len(rows), 1),
        "scored": breakdown is not None,
    }
    if breakdown is not None:
        report.update(breakdown)
    return report


def kind_rows(
    kinds: Iterable[str],
    of1: Sequence[float] | np.ndarray,
    truth_forged: Sequence[bool] | np.ndarray,
    pred_forged: Sequence[bool] | np.ndarray,
) -> list[dict[str, Any]]:
    """One row per figure kind, sorted by kind: ``{kind, figures, forged, of1, floor,
    forged_detected, authentic_flagged}``; a rate is empty when its group is.

    Args:
        kinds: one kind per figure (empty when the index has none: ``unknown``).
        of1: (F,) official score per figure; truth_forged, pred_forged: (F,) bool.
    """
    kind = np.array([k or "unknown" for k in kinds], dtype=object)
    of1_arr = np.asarray(of1, np.float64)
    truth = np.asarray(truth_forged, bool)
    pred = np.asarray(pred_forged, bool)
    if not kind.size == of1_arr.size == truth.size == pred.size:
        raise ValueError(
            f"kind_rows: {kind.size} kinds, {of1_arr.size} scores, {truth.size} truths and "
            f"{pred.size} predictions"
        )

    def rate(mask: np.ndarray) -> float | str:
        return round(float(mask.mean()), 6) if mask.size else ""

    rows = []
    for k in sorted(set(kind.tolist())):
        sel = kind == k
        forged, auth = truth[sel], ~truth[sel]
        rows.append(
            {
                "kind": k,
                "figures": int(sel.sum()),
                "forged": int(forged.sum()),
                "of1": round(float(of1_arr[sel].mean()), 6),
                "floor": round(float(auth.mean()), 6),
                "forged_detected": rate(pred[sel][forged]),
                "authentic_flagged": rate(pred[sel][auth]),
            }
        )
    return rows


def scored_kind_rows(
    records: Sequence[Any], rows: Sequence[tuple[str, str]], report: Any
) -> list[dict[str, Any]]:
    """:func:`kind_rows` of a scored submission: ``records`` (index records with ``uid``,
    ``label`` and ``kind``), its ``rows`` ``(uid, annotation)`` and the scorer's
    :class:`forgeseg.scoring.score.ScoreReport`, whose ``per_case`` holds each figure's oF1."""
    predicted = dict(rows)
    scored = [r for r in records if r.uid in report.per_case]
    return kind_rows(
        [r.kind for r in scored],
        [report.per_case[r.uid] for r in scored],
        [r.label == "forged" for r in scored],
        [predicted.get(r.uid, "authentic") != "authentic" for r in scored],
    )


def write_kind_table(path: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write :func:`kind_rows` as a CSV (a header only when there is no figure), for
    ``dvc plots show``'s bar chart of oF1 by kind."""
    if rows:
        write_csv(path, rows)
    else:
        # DVC finds every plot it was told about, even on a split with no figure.
        write_text(path, ",".join(KIND_COLUMNS) + "\n")
