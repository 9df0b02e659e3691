"""forgeseg.data.split: grouped by case_id, stratified, deterministic."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from forgeseg.core.errors import ParamsError
from forgeseg.data.layout import Record
from forgeseg.data.split import group_pattern, split_records, split_summary


def _rec(uid: str, cid: str, label: str, subset: str = "train", kind: str = "") -> Record:
    return Record(uid, cid, label, subset, f"/d/{uid}.png", "", 10, 10, kind)


def _records(
    n_pairs: int = 60, n_forged: int = 20, n_supp: int = 8, n_test: int = 5
) -> list[Record]:
    recs: list[Record] = []
    kinds = ("blot", "microscopy", "chart")
    for i in range(n_pairs):
        kind = kinds[i % 3]
        recs.append(_rec(f"authentic/{i}", str(i), "authentic", kind=kind))
        recs.append(_rec(f"forged/{i}", str(i), "forged", kind=kind))
    for i in range(n_pairs, n_pairs + n_forged):
        recs.append(_rec(f"forged/{i}", str(i), "forged", kind=kinds[i % 3]))
    for i in range(500, 500 + n_supp):
        recs.append(_rec(f"supplemental/{i}", str(i), "forged", "supplemental"))
    for i in range(900, 900 + n_test):
        recs.append(_rec(str(i), str(i), "unknown", "test"))
    return recs


def test_no_case_id_on_both_sides_and_nothing_lost() -> None:
    recs = _records()
    splits = split_records(recs, val_fraction=0.25, seed=3)
    train_ids = {r.case_id for r in splits["train"]}
    val_ids = {r.case_id for r in splits["val"]}
    assert train_ids and val_ids and not train_ids & val_ids
    assert sorted(r.uid for s in splits.values() for r in s) == sorted(r.uid for r in recs)
    assert all(r.subset == "test" for r in splits["test"]) and len(splits["test"]) == 5
    assert not any(r.subset == "test" for r in splits["train"] + splits["val"])


def test_supplemental_sharing_a_train_case_id_stays_with_it() -> None:
    recs = [*_records(n_supp=0), _rec("supplemental/3", "3", "forged", "supplemental")]
    for seed in range(5):
        splits = split_records(recs, val_fraction=0.5, seed=seed)
        side = {name for name, s in splits.items() for r in s if r.case_id == "3"}
        assert len(side) == 1


def test_deterministic_by_seed_and_independent_of_input_order() -> None:
    recs = _records()
    a = split_records(recs, val_fraction=0.3, seed=7)
    shuffled = list(recs)
    random.Random(0).shuffle(shuffled)
    b = split_records(shuffled, val_fraction=0.3, seed=7)
    assert {r.uid for r in a["val"]} == {r.uid for r in b["val"]}
    assert a == split_records(recs, val_fraction=0.3, seed=7)
    c = split_records(recs, val_fraction=0.3, seed=8)
    assert {r.uid for r in a["val"]} != {r.uid for r in c["val"]}


def test_stratified_by_pattern_and_kind() -> None:
    recs = _records(n_pairs=90, n_forged=30, n_supp=10)
    splits = split_records(recs, val_fraction=0.2, seed=0)
    groups: dict[str, list[Record]] = {}
    for r in splits["val"]:
        groups.setdefault(r.case_id, []).append(r)
    patterns = Counter(group_pattern(m) for m in groups.values())
    # 130 groups * 0.2 = 26 in val: 18 pairs, 6 forged-only, 2 supplemental.
    assert len(groups) == 26
    assert patterns == {"pair": 18, "forged": 6, "supplemental": 2}
    kinds = Counter(m[0].kind for m in groups.values() if group_pattern(m) == "pair")
    assert kinds == {"blot": 6, "microscopy": 6, "chart": 6}


def test_tiny_sets_keep_both_sides_non_empty() -> None:
    recs = _records(n_pairs=2, n_forged=0, n_supp=0, n_test=0)
    splits = split_records(recs, val_fraction=0.05, seed=0)
    assert len(splits["train"]) == 2 and len(splits["val"]) == 2
    splits = split_records(recs, val_fraction=0.95, seed=0)
    assert len(splits["train"]) == 2 and len(splits["val"]) == 2


@pytest.mark.parametrize("bad", [0, 1, -0.1, 1.5, float("nan"), "0.2", True])
def test_val_fraction_checked(bad: object) -> None:
    with pytest.raises(ParamsError, match="val_fraction"):
        split_records(_records(), val_fraction=bad, seed=0)  # type: ignore[arg-type]


def test_summary_counts() -> None:
    splits = split_records(_records(), val_fraction=0.25, seed=1)
    summary = split_summary(splits)
    assert summary["case_ids_in_train_and_val"] == 0
    assert summary["test"] == {
        "figures": 5,
        "case_ids": 5,
        "authentic": 0,
        "forged": 0,
        "unknown": 5,
        "supplemental": 0,
    }
    t, v = summary["train"], summary["val"]
    assert t["figures"] + v["figures"] == 60 * 2 + 20 + 8
    assert t["supplemental"] + v["supplemental"] == 8
    assert summary["val_share_case_ids"] == pytest.approx(22 / 88, abs=1e-3)
    leaky = {"train": splits["train"], "val": splits["val"] + splits["train"][:1]}
    assert split_summary(leaky)["case_ids_in_train_and_val"] == 1
