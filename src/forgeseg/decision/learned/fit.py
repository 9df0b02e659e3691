"""Fitting the learned decision on labelled candidates, with an honest estimate of how
well it ranks them (cross-validated by figure: candidates of one figure share a fold)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from forgeseg.config.learned import LearnedConfig
from forgeseg.decision.learned.features import FEATURES
from forgeseg.decision.learned.model import LearnedDecision
from forgeseg.decision.learned.trees import TreeEnsemble

__all__ = ["FitReport", "fit_decision"]

_FOLDS = 4

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitReport:
    """What fitting saw: candidates, positives, and the figure-grouped CV ROC AUC (None
    when a fold had one class only)."""

    candidates: int
    positives: int
    figures: int
    cv_auc: float | None


def _classifier(cfg: LearnedConfig):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=cfg.max_iter,
        learning_rate=cfg.learning_rate,
        max_leaf_nodes=cfg.max_leaf_nodes,
        min_samples_leaf=cfg.min_samples_leaf,
        l2_regularization=cfg.l2_regularization,
        early_stopping=False,  # every row is needed; there are hundreds, not millions
        random_state=cfg.seed,
    )


def _cv_auc(x: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: LearnedConfig) -> float | None:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < _FOLDS:
        return None
    oof = np.full(len(y), np.nan)
    for tr, te in GroupKFold(_FOLDS).split(x, y, groups):
        if len(np.unique(y[tr])) < 2:
            return None
        oof[te] = _classifier(cfg).fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
    return float(roc_auc_score(y, oof)) if len(np.unique(y)) == 2 else None


def fit_decision(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: LearnedConfig
) -> tuple[LearnedDecision, FitReport]:
    """(C, F) features, (C,) 0/1 labels, (C,) figure ids -> the fitted decision.

    Candidates of one class only (a tiny train split) give no trees: every candidate then
    scores that class's share, and a warning says so.

    Raises:
        ValueError: for features of the wrong shape, or no candidate at all.
    """
    if x.ndim != 2 or x.shape[1] != len(FEATURES) or len(x) != len(y):
        raise ValueError(f"expected (C, {len(FEATURES)}) features and C labels, got {x.shape}")
    if len(y) == 0:
        raise ValueError("no candidate to learn from: the matchers proposed nothing")
    positives = int(np.count_nonzero(y))
    figures = len(np.unique(groups))
    if positives in (0, len(y)):
        log.warning(
            "%d candidates, %d of them true copies: nothing to learn, every candidate will "
            "score %d (raise learned.figures, or check that the train figures have masks)",
            len(y),
            positives,
            int(positives > 0),
        )
        constant = TreeEnsemble.constant(float(positives > 0), FEATURES)
        return LearnedDecision(constant, cfg.net_threshold), FitReport(
            len(y), positives, figures, None
        )
    clf = _classifier(cfg).fit(x, y)
    trees = TreeEnsemble.from_sklearn(clf, FEATURES)
    report = FitReport(len(y), positives, figures, _cv_auc(x, y, groups, cfg))
    return LearnedDecision(trees, cfg.net_threshold), report
