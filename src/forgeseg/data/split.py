"""Leak-free train/val split: by case_id, stratified, deterministic.

An authentic figure and its forged twin share a case_id, and the forged one is the
authentic one with a region pasted in: putting them on two sides lets a model be
validated on a figure it has seen. So the unit of the split is the group of figures with
one case_id (across the train and supplemental subsets). Groups are stratified by their
pattern (``pair``: authentic + forged; ``forged``: forged only; ``authentic``: authentic
only, e.g. when lenient mode skipped the twin; ``supplemental``) and, when ``meta.csv``
gave one, their kind, so that val looks like train.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from forgeseg.core.errors import DataError, ParamsError
from forgeseg.data.layout import Record

__all__ = ["group_pattern", "split_records", "split_summary"]

_SPLIT_SUBSETS = ("train", "supplemental")


def group_pattern(members: Sequence[Record]) -> str:
    """The stratum pattern of the figures sharing one case_id (see the module docstring)."""
    subsets = {r.subset for r in members}
    labels = {r.label for r in members}
    if subsets == {"supplemental"}:
        return "supplemental"
    if labels >= {"authentic", "forged"}:
        return "pair"
    if labels == {"forged"}:
        return "forged"
    return "authentic"


def split_records(
    records: Sequence[Record], *, val_fraction: float, seed: int
) -> dict[str, list[Record]]:
    """Split records into ``train``, ``val`` (from train + supplemental) and ``test``.

    Every case_id lies wholly on one side. Within each stratum (group pattern x kind) the
    groups are shuffled by ``seed``; the number of val groups is ``round(G * val_fraction)``
    over all ``G`` groups (at least 1 and at most ``G - 1`` when ``G >= 2``), shared out
    between strata in proportion to their size (largest remainders), so small strata
    still reach val roughly as often as they should.

    Args:
        records: from :func:`forgeseg.data.layout.scan` or an index file.
        val_fraction: share of case_ids in val, in (0, 1).
        seed: the same seed and records give the same split, whatever their order.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``, each in the input order.

    Raises:
        ParamsError: ``val_fraction`` outside (0, 1).
        DataError: a record with an unknown subset.
    """
    if (
        isinstance(val_fraction, bool)
        or not isinstance(val_fraction, int | float)
        or not math.isfinite(val_fraction)
        or not 0 < val_fraction < 1
    ):
        raise ParamsError(f"data.val_fraction must be a number in (0, 1), got {val_fraction!r}")
    groups: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        if rec.subset in _SPLIT_SUBSETS:
            groups[rec.case_id].append(rec)
        elif rec.subset != "test":
            raise DataError(rec.image, f"unknown subset {rec.subset!r} for {rec.uid}")

    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for cid in sorted(groups):
        members = groups[cid]
        kind = min((r.kind for r in members if r.kind), default="")
        strata[(group_pattern(members), kind)].append(cid)

    val_ids = _choose_val(strata, val_fraction, np.random.default_rng(seed))
    out: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
    for rec in records:
        if rec.subset == "test":
            out["test"].append(rec)
        else:
            out["val" if rec.case_id in val_ids else "train"].append(rec)
    return out


def _choose_val(
    strata: Mapping[tuple[str, str], list[str]], fraction: float, rng: np.random.Generator
) -> set[str]:
    total = sum(len(ids) for ids in strata.values())
    if total == 0:
        return set()
    target = round(total * fraction)
    if total >= 2:
        target = min(max(target, 1), total - 1)
    else:
        target = 0
    keys = sorted(strata)
    quotas = {k: len(strata[k]) * target / total for k in keys}
    counts = {k: math.floor(quotas[k]) for k in keys}
    left = target - sum(counts.values())
    # Largest remainder first; ties broken at random (seeded) rather than by stratum name.
    tiebreak = rng.random(len(keys))
    order = sorted(
        range(len(keys)), key=lambda i: (-(quotas[keys[i]] - counts[keys[i]]), tiebreak[i])
    )
    for i in order[:left]:
        counts[keys[i]] += 1
    chosen: set[str] = set()
    for k in keys:
        ids = list(strata[k])
        perm = rng.permutation(len(ids))
        chosen.update(ids[j] for j in perm[: counts[k]])
    return chosen


def split_summary(splits: Mapping[str, Sequence[Record]]) -> dict[str, object]:
    """Counts per split: figures, case_ids, labels, group patterns, and the leak check.

    Returns ``{"<split>": {"figures", "case_ids", "authentic", "forged", "unknown",
    "supplemental"}, ..., "val_share_case_ids": float, "case_ids_in_train_and_val": int}``
    (the last is 0 for any split made by :func:`split_records`).
    """
    out: dict[str, object] = {}
    for name, recs in splits.items():
        labels = Counter(r.label for r in recs)
        out[name] = {
            "figures": len(recs),
            "case_ids": len({r.case_id for r in recs}),
            "authentic": labels.get("authentic", 0),
            "forged": labels.get("forged", 0),
            "unknown": labels.get("unknown", 0),
            "supplemental": sum(r.subset == "supplemental" for r in recs),
        }
    train_ids = {r.case_id for r in splits.get("train", ())}
    val_ids = {r.case_id for r in splits.get("val", ())}
    n = len(train_ids | val_ids)
    out["val_share_case_ids"] = round(len(val_ids) / n, 4) if n else 0.0
    out["case_ids_in_train_and_val"] = len(train_ids & val_ids)
    return out
