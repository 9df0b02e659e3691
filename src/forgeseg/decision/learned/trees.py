"""A fitted gradient-boosted tree ensemble as plain arrays: saved without pickle, scored
in numpy.

scikit-learn's models are pickles, and unpickling runs code: a decision file downloaded
with a Kaggle kit must not. :class:`TreeEnsemble` keeps only what prediction needs (each
tree's nodes: feature, threshold, where missing values go, children, leaf value) as plain
arrays, to be saved in an ``.npz`` that loads with ``allow_pickle=False``, and predicts
exactly as ``HistGradientBoostingClassifier.predict_proba`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TreeEnsemble"]

_NODE_FIELDS = ("feature", "threshold", "missing_left", "left", "right", "leaf", "value", "gain")


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees of a binary gradient-boosted classifier, all nodes in flat arrays.

    Attributes:
        features: the names of the F input columns, in order.
        baseline: the raw score before any tree (log-odds of the prior).
        offsets: (T+1,) int, tree ``t``'s nodes are ``offsets[t]:offsets[t+1]``.
        feature, left, right: (N,) int, per node (children relative to the tree's start).
        threshold, value, gain: (N,) float; missing_left, leaf: (N,) bool.
    """

    features: tuple[str, ...]
    baseline: float
    offsets: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    gain: np.ndarray

    @classmethod
    def from_sklearn(cls, clf: Any, features: Sequence[str]) -> TreeEnsemble:
        """Copy a fitted binary ``HistGradientBoostingClassifier`` (numeric features only)."""
        trees = [preds[0].nodes for preds in clf._predictors]
        if any(t["is_categorical"].any() for t in trees):
            raise ValueError("categorical splits are not supported; use numeric features")
        if not trees:
            raise ValueError("the classifier has no trees: fit it first")
        sizes = [len(t) for t in trees]
        nodes = np.concatenate(trees)
        return cls(
            features=tuple(features),
            baseline=float(np.ravel(clf._baseline_prediction)[0]),
            offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            feature=nodes["feature_idx"].astype(np.int64),
            threshold=nodes["num_threshold"].astype(np.float64),
            missing_left=nodes["missing_go_to_left"].astype(bool),
            left=nodes["left"].astype(np.int64),
            right=nodes["right"].astype(np.int64),
            leaf=nodes["is_leaf"].astype(bool),
            value=nodes["value"].astype(np.float64),
            gain=nodes["gain"].astype(np.float64),
        )

    @classmethod
    def constant(cls, p: float, features: Sequence[str]) -> TreeEnsemble:
        """No tree, every candidate scored ``p`` (what one-class training data supports)."""
        p = min(max(p, 1e-6), 1 - 1e-6)
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return cls(
            tuple(features),
            float(np.log(p / (1 - p))),
            np.zeros(1, np.int64),
            empty_i,
            empty_f,
            np.zeros(0, bool),
            empty_i,
            empty_i,
            np.zeros(0, bool),
            empty_f,
            empty_f,
        )

    def raw(self, x: np.ndarray) -> np.ndarray:
        """(M, F) float features (NaN allowed) -> (M,) raw scores (log-odds)."""
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"expected (M, {len(self.features)}) features, got {x.shape}")
        out = np.full(x.shape[0], self.baseline)
        rows = np.arange(x.shape[0])
        for t in range(len(self.offsets) - 1):
            base = int(self.offsets[t])
            node = np.zeros(x.shape[0], np.int64)
            while True:
                g = base + node
                active = ~self.leaf[g]
                if not active.any():
                    break
                v = x[rows, self.feature[g]]
                go_left = np.where(np.isnan(v), self.missing_left[g], v <= self.threshold[g])
                step = np.where(go_left, self.left[g], self.right[g])
                node = np.where(active, step, node)
            out += self.value[base + node]
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(M, F) features -> (M,) probability of the positive class."""
        return 1.0 / (1.0 + np.exp(-self.raw(x)))

    def importances(self) -> dict[str, float]:
        """Each feature's share of the total split gain (split-gain importance)."""
        split = ~self.leaf
        total = np.bincount(self.feature[split], self.gain[split], minlength=len(self.features))
        share = total / total.sum() if total.sum() > 0 else total
        return {name: float(s) for name, s in zip(self.features, share, strict=True)}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no objects) that :meth:`from_arrays` reads back."""
        arrays = {k: getattr(self, k) for k in _NODE_FIELDS}
        return {
            "features": np.array(self.features, dtype=str),
            "baseline": np.array(self.baseline),
            "offsets": self.offsets,
            **arrays,
        }

    @classmethod
    def from_arrays(cls, z: Mapping[str, np.ndarray]) -> TreeEnsemble:
        """The ensemble :meth:`to_arrays` wrote; KeyError when a field is missing."""
        fields = {k: np.asarray(z[k]) for k in _NODE_FIELDS}
        features = tuple(str(s) for s in z["features"])
        return cls(features, float(z["baseline"]), np.asarray(z["offsets"]), **fields)
