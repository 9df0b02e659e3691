"""The learned decision: candidates with their evidence, boosted trees that score them,
and the trees saved as plain arrays (:mod:`.features`, :mod:`.fit`, :mod:`.model`,
:mod:`.trees`)."""

from forgeseg.decision.learned.features import FEATURES, Candidate, candidates, label_candidates
from forgeseg.decision.learned.fit import FitReport, fit_decision
from forgeseg.decision.learned.model import LearnedDecision
from forgeseg.decision.learned.trees import TreeEnsemble

__all__ = [
    "FEATURES",
    "Candidate",
    "FitReport",
    "LearnedDecision",
    "TreeEnsemble",
    "candidates",
    "fit_decision",
    "label_candidates",
]
