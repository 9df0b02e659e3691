"""Dice, IoU, pooled pixel metrics and image-level metrics on hand-checked examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from forgeseg.scoring.metrics import (
    PixelAccumulator,
    confusion,
    dice,
    image_metrics,
    iou,
    roc_auc,
    roc_curve,
)


def _masks():
    pred = np.zeros((4, 4), bool)
    true = np.zeros((4, 4), bool)
    pred[0, :3] = True  # 3 pixels
    true[0, 1:] = True  # 3 pixels, 2 shared
    return pred, true


def test_dice_iou_by_hand():
    pred, true = _masks()
    assert dice(pred, true) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))  # 2/3
    assert iou(pred, true) == pytest.approx(2 / 4)
    assert dice(true, true) == 1.0 and iou(true, true) == 1.0
    assert dice(pred, ~pred) == 0.0 and iou(pred, ~pred) == 0.0


def test_both_empty_is_perfect():
    empty = np.zeros((3, 3), bool)
    assert dice(empty, empty) == 1.0
    assert iou(empty, empty) == 1.0


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ"):
        dice(np.zeros((2, 2), bool), np.zeros((2, 3), bool))


def test_accumulator_pools_and_averages_forged_only():
    acc = PixelAccumulator()
    pred, true = _masks()
    acc.add(pred, true)  # tp 2, fp 1, fn 1
    big_t = np.zeros((10, 10), bool)
    big_t[:5] = True  # 50 px
    acc.add(np.zeros((0, 10, 10), bool), big_t[None])  # missed: tp 0, fn 50
    acc.add(np.ones((4, 4), bool), np.zeros((4, 4), bool))  # authentic, fp 16
    r = acc.result()
    assert (r["tp"], r["fp"], r["fn"]) == (2, 17, 51)
    assert r["dice"] == pytest.approx(4 / (4 + 17 + 51))
    assert r["iou"] == pytest.approx(2 / (2 + 17 + 51))
    assert r["n_forged"] == 2
    assert r["dice_per_figure"] == pytest.approx((2 / 3 + 0.0) / 2)
    assert r["iou_per_figure"] == pytest.approx((0.5 + 0.0) / 2)
    assert PixelAccumulator().result()["dice_per_figure"] is None


def test_auc_by_hand_with_ties():
    # Positives 0.9, 0.5; negatives 0.5, 0.1. Pairs: (0.9>0.5)=1, (0.9>0.1)=1,
    # (0.5=0.5)=0.5, (0.5>0.1)=1 -> 3.5 / 4.
    assert roc_auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == 0.875
    assert roc_auc([1, 0], [0.2, 0.8]) == 0.0
    assert roc_auc([1, 1], [0.2, 0.8]) is None


def test_auc_agrees_with_mann_whitney():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) + 0.3 * y, 1)  # rounding makes many ties
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert roc_auc(y, s) == pytest.approx(u / ((y == 1).sum() * (y == 0).sum()))


def test_roc_curve_points():
    fpr, tpr, thr = roc_curve([1, 0, 1, 0], [0.9, 0.8, 0.8, 0.1])
    assert thr.tolist() == [np.inf, 0.9, 0.8, 0.1]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0]
    # The trapezoid area under these points is the rank AUC.
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc([1, 0, 1, 0], [0.9, 0.8, 0.8, 0.1]))


def test_confusion_and_image_metrics():
    y_true = [1, 1, 1, 0, 0]
    y_pred = [1, 0, 1, 1, 0]
    assert confusion(y_true, y_pred) == {"tp": 2, "fp": 1, "tn": 1, "fn": 1}
    m = image_metrics(y_true, [0.9, 0.2, 0.8, 0.7, 0.1], y_pred)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(5 / 6)  # 0.2 loses to 0.7 only


def test_image_metrics_one_class_has_no_nan():
    m = image_metrics([0, 0, 0], [0.1, 0.5, 0.2], [0, 0, 0])
    assert m["roc_auc"] is None and m["precision"] is None and m["recall"] is None
    assert m["accuracy"] == 1.0
    with pytest.raises(ValueError, match="0 and 1"):
        image_metrics([0, 2], [0.1, 0.2], [0, 1])
