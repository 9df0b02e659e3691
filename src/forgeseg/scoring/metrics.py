"""Metrics reported beside oF1: pixel Dice / IoU and image-level (forged or not) metrics.

Pure NumPy so the evaluate stage does not pull in scikit-learn. Conventions:

- ``dice`` and ``iou`` of two EMPTY masks are 1.0: predicting nothing where there is nothing
  is a perfect answer, and it keeps per-figure means over authentic figures meaningful.
- Image-level metrics whose denominator is zero (precision with no positive prediction, ROC
  AUC with one class only) are ``None``, never NaN, so the JSON metrics files stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

__all__ = [
    "PixelAccumulator",
    "confusion",
    "dice",
    "image_metrics",
    "iou",
    "pixel_counts",
    "roc_auc",
    "roc_curve",
]


def pixel_counts(pred: np.ndarray, true: np.ndarray) -> tuple[int, int, int]:
    """``(tp, fp, fn)`` pixel counts of two bool masks of the same shape (any ndim)."""
    pred = np.asarray(pred, dtype=bool)
    true = np.asarray(true, dtype=bool)
    if pred.shape != true.shape:
        raise ValueError(f"prediction {pred.shape} and truth {true.shape} differ in shape")
    tp = int(np.count_nonzero(pred & true))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(true)) - tp


def _dice(tp: int, fp: int, fn: int) -> float:
    den = 2 * tp + fp + fn
    return 2 * tp / den if den else 1.0


def _iou(tp: int, fp: int, fn: int) -> float:
    den = tp + fp + fn
    return tp / den if den else 1.0


def dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Dice = 2TP / (2TP + FP + FN) of bool (H, W) masks; 1.0 when both are empty."""
    return _dice(*pixel_counts(pred, true))


def iou(pred: np.ndarray, true: np.ndarray) -> float:
    """IoU = TP / (TP + FP + FN) of bool (H, W) masks; 1.0 when both are empty."""
    return _iou(*pixel_counts(pred, true))


@dataclass
class PixelAccumulator:
    """Pooled pixel TP/FP/FN over many figures, plus per-figure Dice/IoU of forged figures.

    Pooled Dice weighs figures by their forged area; the per-figure means weigh each forged
    figure equally (small forgeries count as much as big ones), which is closer to oF1.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    dice_forged: list[float] = field(default_factory=list)
    iou_forged: list[float] = field(default_factory=list)

    def add(self, pred: np.ndarray, true: np.ndarray) -> None:
        """Add one figure: bool (H, W) union masks (or (N, H, W), reduced to their union)."""
        pred = np.asarray(pred, dtype=bool)
        true = np.asarray(true, dtype=bool)
        if pred.ndim == 3:
            pred = pred.any(axis=0) if len(pred) else np.zeros(pred.shape[1:], dtype=bool)
        if true.ndim == 3:
            true = true.any(axis=0) if len(true) else np.zeros(true.shape[1:], dtype=bool)
        self.add_counts(*pixel_counts(pred, true), forged=bool(true.any()))

    def add_counts(self, tp: int, fp: int, fn: int, *, forged: bool) -> None:
        """Add one figure from its pixel counts; ``forged`` says whether its truth is forged."""
        self.tp += int(tp)
        self.fp += int(fp)
        self.fn += int(fn)
        if forged:
            self.dice_forged.append(_dice(tp, fp, fn))
            self.iou_forged.append(_iou(tp, fp, fn))

    def result(self) -> dict[str, Any]:
        """Pooled ``dice``/``iou`` and per-forged-figure means (None with no forged figure)."""
        n = len(self.dice_forged)
        return {
            "dice": _dice(self.tp, self.fp, self.fn),
            "iou": _iou(self.tp, self.fp, self.fn),
            "dice_per_figure": float(np.mean(self.dice_forged)) if n else None,
            "iou_per_figure": float(np.mean(self.iou_forged)) if n else None,
            "n_forged": n,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def _binary(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y).ravel()
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")
    return arr.astype(bool)


def confusion(y_true: Any, y_pred: Any) -> dict[str, int]:
    """Image-level confusion counts ``tp, fp, tn, fn`` (positive = forged) of 0/1 arrays (K,)."""
    t = _binary(y_true, "y_true")
    p = _binary(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} entries, y_pred {p.size}")
    return {
        "tp": int(np.sum(t & p)),
        "fp": int(np.sum(~t & p)),
        "tn": int(np.sum(~t & ~p)),
        "fn": int(np.sum(t & ~p)),
    }


def roc_auc(y_true: Any, y_score: Any) -> float | None:
    """ROC AUC via the Mann-Whitney U statistic (ties count one half); None for one class."""
    t = _binary(y_true, "y_true")
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if s.shape != t.shape:
        raise ValueError(f"y_true has {t.size} entries, y_score {s.size}")
    n_pos = int(t.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    # Average ranks give tied scores half credit, as the pairwise definition does.
    ranks = rankdata(s, method="average")
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def roc_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of scores (K,) against 0/1 labels (K,).

    Returns:
        ``(fpr, tpr, thresholds)``, float64 arrays of equal length: one point per distinct
        score, highest threshold first, preceded by the (0, 0) point at threshold +inf.
        A figure is called forged when its score is >= the threshold. With no positive
        (negative) label the tpr (fpr) column is all zeros.
    """
    t = _binary(y_true, "y_true")
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if s.shape != t.shape:
        raise ValueError(f"y_true has {t.size} entries, y_score {s.size}")
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    t_sorted = t[order]
    # Last index of each run of equal scores: all tied figures switch together.
    last = np.flatnonzero(np.r_[np.diff(s_sorted) != 0, True]) if s.size else np.array([], int)
    tps = np.cumsum(t_sorted)[last]
    fps = np.cumsum(~t_sorted)[last]
    n_pos = max(int(t.sum()), 1)
    n_neg = max(int((~t).sum()), 1)
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    thresholds = np.r_[np.inf, s_sorted[last]]
    return fpr, tpr, thresholds


def image_metrics(y_true: Any, y_score: Any, y_pred: Any) -> dict[str, Any]:
    """Image-level forged-vs-authentic metrics.

    Args:
        y_true: 0/1 (K,), 1 = forged.
        y_score: float (K,), higher = more likely forged.
        y_pred: 0/1 (K,), the detector's decision.

    Returns:
        ``accuracy, precision, recall, f1, roc_auc`` (None where undefined), ``n``,
        ``n_positive`` and the confusion counts.
    """
    c = confusion(y_true, y_pred)
    n = c["tp"] + c["fp"] + c["tn"] + c["fn"]
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None
    f1_den = 2 * c["tp"] + c["fp"] + c["fn"]
    return {
        "accuracy": (c["tp"] + c["tn"]) / n if n else None,
        "precision": precision,
        "recall": recall,
        "f1": 2 * c["tp"] / f1_den if f1_den else None,
        "roc_auc": roc_auc(y_true, y_score),
        "n": n,
        "n_positive": c["tp"] + c["fn"],
        **c,
    }
