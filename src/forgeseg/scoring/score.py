"""The official competition score (oF1) and the solution / submission CSV files.

Per figure: if either side is ``authentic``, 1.0 when both are, else 0.0. Otherwise the pixel
F1 between every predicted and every true instance is matched one-to-one (Hungarian,
maximising F1) and the sum of matched F1 is divided by ``max(n_pred, n_true)``, so extra
predictions and a truth split in two are penalised. The score is the mean over figures.

Agreement with Kaggle is bit for bit, not just to a tolerance: the F1 of a pair is computed
as ``2PR / (P + R)`` (what the official metric does; it differs from ``2TP / (2TP+FP+FN)`` in
the last bit for about 40% of count triples), the image score as
``mean(matched F1) * n_true / max(n_pred, n_true)`` and the final mean with ``np.mean`` in
solution order, exactly as the official code does.

Speed: true positives between instances are counted on the run-length intervals themselves
(``rle_intersection``), never on full masks, so scoring thousands of megapixel figures takes
seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from forgeseg.core.errors import ScoreError
from forgeseg.core.rle import AUTHENTIC, parse_runs, split_annotation

__all__ = [
    "ScoreReport",
    "f1_matrix",
    "of1_from_counts",
    "of1_image",
    "rle_intersection",
    "score_frames",
]

SOLUTION_COLUMNS = ("case_id", "annotation", "shape")
SUBMISSION_COLUMNS = ("case_id", "annotation")
_SHOW = 5  # how many offending case_ids an error message lists


# --------------------------------------------------------------------------- the number


def f1_matrix(tp: np.ndarray, area_pred: np.ndarray, area_true: np.ndarray) -> np.ndarray:
    """Pixel F1 of every (pred, true) pair from counts.

    Args:
        tp: (N, M) true-positive pixel counts.
        area_pred: (N,) pixels per predicted instance.
        area_true: (M,) pixels per true instance.

    Returns:
        float64 (N, M); 0 where a pair has no true positive.
    """
    tp = np.asarray(tp, dtype=np.float64)
    ap = np.asarray(area_pred, dtype=np.float64)[:, None]
    at = np.asarray(area_true, dtype=np.float64)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        # Same float operations as the official metric, so the result matches it exactly.
        precision = np.where(ap > 0, tp / ap, 0.0)
        recall = np.where(at > 0, tp / at, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * (precision * recall) / denom, 0.0)
    return f1


def of1_from_counts(tp: np.ndarray, area_pred: np.ndarray, area_true: np.ndarray) -> float:
    """oF1 of one forged figure from pair counts (see ``f1_matrix``); both sides non-empty."""
    n_pred, n_true = len(area_pred), len(area_true)
    f1 = f1_matrix(tp, area_pred, area_true)
    if n_pred < n_true:
        # The official metric pads missing predictions with zero rows before matching.
        f1 = np.vstack((f1, np.zeros((n_true - n_pred, n_true))))
    rows, cols = linear_sum_assignment(-f1)
    penalty = n_true / max(n_pred, n_true)
    return float(np.mean(f1[rows, cols]) * penalty)


def of1_image(pred: np.ndarray, true: np.ndarray) -> float:
    """Official oF1 of one figure.

    Args:
        pred: bool (N, H, W) predicted instances; N == 0 means the prediction is authentic.
        true: bool (M, H, W) true instances; M == 0 means the figure is authentic.

    Returns:
        A float in [0, 1].
    """
    pred = np.asarray(pred)
    true = np.asarray(true)
    if pred.ndim != 3 or true.ndim != 3:
        raise ValueError(f"of1_image expects (N, H, W) masks, got {pred.shape} and {true.shape}")
    if len(pred) == 0 or len(true) == 0:
        return 1.0 if len(pred) == len(true) else 0.0
    if pred.shape[1:] != true.shape[1:]:
        raise ValueError(f"prediction {pred.shape[1:]} and truth {true.shape[1:]} differ in size")
    hw = pred.shape[1] * pred.shape[2]
    # float32 sums of 0/1 are exact below 2**24 pixels (3888x3888 figures fit); beyond, float64.
    dtype = np.float32 if hw < 2**24 else np.float64
    p = pred.reshape(len(pred), hw).astype(dtype)
    t = true.reshape(len(true), hw).astype(dtype)
    tp = np.rint(p @ t.T).astype(np.int64)
    return of1_from_counts(tp, p.sum(axis=1, dtype=np.float64), t.sum(axis=1, dtype=np.float64))


def rle_intersection(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> int:
    """Pixels shared by two run lists, without building a mask.

    Args:
        a, b: ``(begin, end)`` int64 (K,) arrays as returned by ``rle.parse_runs``:
            0-based, end-exclusive, ascending and disjoint.
    """
    a_begin, a_end = a
    b_begin, b_end = b
    if a_begin.size == 0 or b_begin.size == 0:
        return 0
    # Coverage of b below x: whole runs starting before x, minus the tail of the last one
    # that reaches past x. Evaluated at both ends of every run of a, the difference is the
    # overlap of that run with b.
    cum = np.concatenate(([0], np.cumsum(b_end - b_begin)))

    def covered(x: np.ndarray) -> np.ndarray:
        k = np.searchsorted(b_begin, x, side="left")
        tail = np.where(k > 0, b_end[np.maximum(k - 1, 0)] - x, 0)
        return cum[k] - np.maximum(tail, 0)

    return int(np.sum(covered(a_end) - covered(a_begin)))


def _of1_runs(
    pred: list[tuple[np.ndarray, np.ndarray]], true: list[tuple[np.ndarray, np.ndarray]]
) -> float:
    tp = np.array([[rle_intersection(p, t) for t in true] for p in pred], dtype=np.int64)
    area_p = np.array([int(np.sum(e - b)) for b, e in pred], dtype=np.int64)
    area_t = np.array([int(np.sum(e - b)) for b, e in true], dtype=np.int64)
    return of1_from_counts(tp.reshape(len(pred), len(true)), area_p, area_t)


# --------------------------------------------------------------------------- the report


@dataclass
class ScoreReport:
    """Result of scoring a submission.

    ``mean`` is the official score; ``per_case`` maps each solution case_id to its figure
    score in solution order; ``breakdown`` holds the counts and the all-authentic ``floor``
    every report must show beside the model (fractions are None when their group is empty).
    """

    mean: float
    per_case: dict[str, float] = field(default_factory=dict)
    breakdown: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse_shape(text: str, case_id: str) -> tuple[int, int]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ScoreError(
            f"case {case_id!r}: shape must be '[H, W]' with positive integers for a forged "
            f"row, got {str(text)[:40]!r}"
        )
    return value[0], value[1]


def _runs(annotation: str, shape: tuple[int, int] | None, case_id: str):
    """Parsed, validated runs of an annotation; None for authentic.

    Without a shape (authentic truth) the runs are still checked for everything but the image
    bounds, so a malformed submission fails whatever the truth is.
    """
    lists = split_annotation(annotation, case_id)
    if lists is None:
        return None
    size = shape if shape is not None else (np.iinfo(np.int64).max // 4, 1)
    return [parse_runs(r, size, case_id) for r in lists]


def _index_rows(
    rows: Iterable[Sequence[str]], ncols: int, what: str
) -> tuple[list[str], dict[str, Sequence[str]]]:
    order: list[str] = []
    by_id: dict[str, Sequence[str]] = {}
    dupes: list[str] = []
    for i, row in enumerate(rows):
        if len(row) < ncols:
            raise ScoreError(f"{what} row {i + 1} has {len(row)} fields, expected {ncols}")
        cid = str(row[0])
        if cid in by_id:
            dupes.append(cid)
            continue
        order.append(cid)
        by_id[cid] = row
    if dupes:
        raise ScoreError(f"{what} repeats case_id(s): {list_ids(dupes)}")
    return order, by_id


def list_ids(ids: Sequence[str]) -> str:
    """Up to a few of ``ids``, quoted, and how many there are: for error messages."""
    shown = ", ".join(repr(c) for c in ids[:_SHOW])
    more = f" and {len(ids) - _SHOW} more" if len(ids) > _SHOW else ""
    return f"{shown}{more} ({len(ids)} in all)"


def _ratio(num: float, den: int) -> float | None:
    return float(num / den) if den else None


def score_frames(
    solution_rows: Iterable[Sequence[str]], submission_rows: Iterable[Sequence[str]]
) -> ScoreReport:
    """Score submission rows against solution rows, matched by case_id in any order.

    Args:
        solution_rows: ``(case_id, annotation, shape)`` per figure; ``shape`` is ``[H, W]``
            JSON for forged rows, ``authentic`` for authentic ones.
        submission_rows: ``(case_id, annotation)`` per figure.

    Raises:
        ScoreError: missing, extra or duplicated case_ids, short rows, malformed annotations
            or shapes; never a partial score.
    """
    sol_order, sol = _index_rows(solution_rows, 3, "solution")
    _, sub = _index_rows(submission_rows, 2, "submission")
    missing = [c for c in sol_order if c not in sub]
    if missing:
        raise ScoreError(f"submission lacks case_id(s): {list_ids(missing)}")
    extra = [c for c in sub if c not in sol]
    if extra:
        raise ScoreError(f"submission has case_id(s) not in the solution: {list_ids(extra)}")
    if not sol_order:
        raise ScoreError("the solution has no rows")

    per_case: dict[str, float] = {}
    truth_forged = np.zeros(len(sol_order), dtype=bool)
    pred_forged = np.zeros(len(sol_order), dtype=bool)
    for i, cid in enumerate(sol_order):
        _, true_ann, shape_text = sol[cid][:3]
        pred_ann = sub[cid][1]
        true_is_auth = str(true_ann).strip() == AUTHENTIC
        shape = None if true_is_auth else _parse_shape(str(shape_text), cid)
        true_runs = _runs(str(true_ann), shape, cid)
        pred_runs = _runs(str(pred_ann), shape, cid)
        truth_forged[i] = true_runs is not None
        pred_forged[i] = pred_runs is not None
        if true_runs is None or pred_runs is None:
            per_case[cid] = 1.0 if true_runs is None and pred_runs is None else 0.0
        else:
            per_case[cid] = _of1_runs(pred_runs, true_runs)

    scores = np.array(list(per_case.values()), dtype=np.float64)
    n = len(scores)
    n_auth = int((~truth_forged).sum())
    n_forged = n - n_auth
    auth_acc = _ratio(float((~pred_forged[~truth_forged]).sum()), n_auth)
    breakdown = {
        "n": n,
        "n_authentic": n_auth,
        "n_forged": n_forged,
        "forged_only_mean": float(np.mean(scores[truth_forged])) if n_forged else None,
        "authentic_accuracy": auth_acc,
        "authentic_fpr": None if auth_acc is None else 1.0 - auth_acc,
        "floor": n_auth / n,
        "forged_detected_rate": _ratio(float(pred_forged[truth_forged].sum()), n_forged),
    }
    return ScoreReport(mean=float(np.mean(scores)), per_case=per_case, breakdown=breakdown)
