"""The learned decision: score every candidate of a figure, keep those above the accept
score, and save or load the trees as plain arrays (``models/decision.npz``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forgeseg.core.atomic import atomic_path
from forgeseg.core.errors import DataError
from forgeseg.decision.evidence import Evidence
from forgeseg.decision.learned.features import FEATURES, Candidate, candidates
from forgeseg.decision.learned.trees import TreeEnsemble

__all__ = ["DECISION_FORMAT", "LearnedDecision"]

DECISION_FORMAT = 1
# A kept candidate overlapping one already kept by this IoU is the same copy seen twice.
_DUPLICATE_IOU = 0.2


@dataclass(frozen=True)
class LearnedDecision:
    """Boosted trees over candidate features, and how the candidates were made.

    ``net_threshold`` cuts the network's map into candidate regions, as in training: a
    model is only valid on candidates made the way its training candidates were.
    """

    trees: TreeEnsemble
    net_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.trees.features != FEATURES:
            raise ValueError(
                "the decision model was trained on other candidate features "
                "(rerun `dvc repro decision`)"
            )

    def scored(self, ev: Evidence, min_area: int) -> tuple[list[Candidate], np.ndarray]:
        """The figure's candidates and their (C,) scores in [0, 1]; cached on ``ev``."""
        key = ("learned", self.net_threshold, min_area)
        if key not in ev._cache:
            cands = candidates(ev, self.net_threshold, min_area)
            x = np.stack([c.features for c in cands]) if cands else np.zeros((0, len(FEATURES)))
            ev._cache[key] = (cands, self.trees.predict_proba(x) if cands else np.zeros(0))
        return ev._cache[key]

    def instances(self, ev: Evidence, accept: float, min_area: int) -> tuple[np.ndarray, float]:
        """(N, H, W) bool instances scoring at least ``accept`` (N = 0: authentic) and the
        figure's score (its best candidate's)."""
        cands, p = self.scored(ev, min_area)
        kept: list[np.ndarray] = []
        for i in np.argsort(-p, kind="stable"):
            if p[i] < accept:
                break
            m = cands[i].mask
            if np.count_nonzero(m) < min_area:
                continue
            if any(
                np.count_nonzero(m & k) / max(np.count_nonzero(m | k), 1) >= _DUPLICATE_IOU
                for k in kept
            ):
                continue
            kept.append(m)
        shape = ev.image.shape[:2]
        inst = np.stack(kept) if kept else np.zeros((0, *shape), bool)
        return inst, float(p.max()) if p.size else 0.0

    def save(self, path: str | os.PathLike[str]) -> None:
        """An ``.npz`` of plain arrays, written atomically; loads without pickle."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                format=np.array(DECISION_FORMAT),
                net_threshold=np.array(self.net_threshold),
                **self.trees.to_arrays(),
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LearnedDecision:
        """Read what :meth:`save` wrote; a :class:`DataError` naming the file otherwise."""
        p = Path(path)
        if not p.is_file():
            raise DataError(p, "learned decision not found (run `dvc repro decision`)")
        try:
            with np.load(p, allow_pickle=False) as z:
                fmt = int(z["format"])
                if fmt != DECISION_FORMAT:
                    raise DataError(p, f"decision format {fmt}, expected {DECISION_FORMAT}")
                trees = TreeEnsemble.from_arrays(z)
                net_threshold = float(z["net_threshold"])
        except DataError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(p, f"not a forgeseg decision file ({exc})") from None
        try:
            return cls(trees, net_threshold)
        except ValueError as exc:
            raise DataError(p, str(exc)) from None
