"""The official oF1: reference cases to the last digit, penalties, files and their errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from forgeseg.core.errors import ScoreError
from forgeseg.core.rle import decode_annotation, encode_annotation, parse_runs
from forgeseg.data.layout import Record
from forgeseg.scoring.files import (
    build_solution,
    read_solution,
    score_files,
    solution_row,
    write_solution,
    write_submission,
)
from forgeseg.scoring.score import of1_image, rle_intersection, score_frames

SHAPE = "[720, 960]"

# COMPETITION.md: (solution annotations, submission annotations, shape, score), 3 rows each.
REFERENCE = [
    (["authentic"] * 3, ["authentic"] * 3, "authentic", 1.0),
    (["authentic"] * 3, ["[101, 102]"] * 3, "authentic", 0.0),
    (["[101, 102]"] * 3, ["[101, 102]"] * 3, SHAPE, 1.0),
    (["[101, 103]", "[101, 102]", "[101, 102]"], ["[101, 102]"] * 3, SHAPE, 0.9983739837398374),
    (
        ["[101, 102];[300, 100]", "[101, 102]", "[101, 102]"],
        ["[101, 102]"] * 3,
        SHAPE,
        0.8333333333333334,
    ),
]


def _write(path: Path, header: list[str], rows: list[tuple]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize("sol, sub, shape, expected", REFERENCE)
def test_reference_cases_exactly(tmp_path, sol, sub, shape, expected):
    ids = ["a", "b", "c"]
    s = _write(
        tmp_path / "sol.csv",
        ["case_id", "annotation", "shape"],
        [(i, a, shape) for i, a in zip(ids, sol, strict=True)],
    )
    # Submission in another order: rows are matched by case_id.
    p = _write(
        tmp_path / "sub.csv",
        ["case_id", "annotation"],
        [(i, a) for i, a in reversed(list(zip(ids, sub, strict=True)))],
    )
    assert score_files(s, p).mean == expected


def _blob(h, w, r0, c0, r1, c1):
    m = np.zeros((h, w), bool)
    m[r0:r1, c0:c1] = True
    return m


def test_predicting_every_truth_scores_one():
    rng = np.random.default_rng(0)
    sol, sub = [], []
    for i in range(6):
        inst = np.stack(
            [
                _blob(20, 30, *rng.integers(0, 10, 2), *rng.integers(11, 20, 2))
                for _ in range(1 + i % 3)
            ]
        )
        sol.append(solution_row(f"f{i}", inst, (20, 30)))
        sub.append((f"f{i}", encode_annotation(inst[::-1])))  # instance order is irrelevant
    sol.append(("a0", "authentic", "authentic"))
    sub.append(("a0", "authentic"))
    report = score_frames(sol, sub)
    assert report.mean == 1.0
    assert set(report.per_case.values()) == {1.0}


def test_all_authentic_scores_the_authentic_fraction():
    t = encode_annotation(_blob(8, 8, 0, 0, 2, 2)[None])
    sol = [
        ("x", t, "[8, 8]"),
        ("y", "authentic", "authentic"),
        ("z", "authentic", "authentic"),
        ("w", t, "[8, 8]"),
        ("v", "authentic", "authentic"),
    ]
    report = score_frames(sol, [(c, "authentic") for c, *_ in sol])
    assert report.mean == 3 / 5
    b = report.breakdown
    assert b["floor"] == 3 / 5 and b["n_authentic"] == 3 and b["n_forged"] == 2
    assert b["authentic_accuracy"] == 1.0 and b["authentic_fpr"] == 0.0
    assert b["forged_detected_rate"] == 0.0 and b["forged_only_mean"] == 0.0


def test_split_truth_and_extra_prediction_penalised_like_official():
    truth = _blob(10, 10, 0, 0, 10, 4)[None]  # 40 px, columns 0-3
    left = _blob(10, 10, 0, 0, 10, 2)  # 20 px inside the truth
    right = _blob(10, 10, 0, 2, 10, 4)  # the other 20 px
    # Split: each half has P=1, R=0.5 -> F1 = 2/3; one match, divided by max(2, 1) = 2.
    assert of1_image(np.stack([left, right]), truth) == pytest.approx((2 / 3) / 2)
    # Exact prediction plus a stray instance: F1 1 matched, divided by 2.
    stray = _blob(10, 10, 0, 8, 2, 10)
    assert of1_image(np.stack([truth[0], stray]), truth) == 0.5
    # One prediction covering two truths: F1 with the first is 2*20/(40+20)... matched once,
    # the missing second truth counts 0, divided by max(1, 2) = 2.
    two = np.stack([left, _blob(10, 10, 0, 6, 10, 8)])
    assert of1_image(truth, two) == pytest.approx((2 * 20 / (40 + 20)) / 2)
    # Same values through the CSV route on runs.
    sol = [("s", encode_annotation(truth), "[10, 10]")]
    sub = [("s", encode_annotation(np.stack([left, right])))]
    assert score_frames(sol, sub).mean == of1_image(np.stack([left, right]), truth)


def test_authentic_either_side_rules():
    t = _blob(6, 6, 1, 1, 3, 3)[None]
    empty = np.zeros((0, 6, 6), bool)
    assert of1_image(empty, empty) == 1.0
    assert of1_image(t, empty) == 0.0
    assert of1_image(empty, t) == 0.0


def test_runs_and_dense_routes_agree_on_random_masks():
    rng = np.random.default_rng(5)
    for _ in range(40):
        h, w = rng.integers(3, 25, 2)
        pred = rng.random((rng.integers(1, 4), h, w)) < 0.3
        true = rng.random((rng.integers(1, 4), h, w)) < 0.3
        pred[:, 0, 0] = True  # no empty channel: the CSV route drops those
        true[:, 0, 0] = True
        sol = [("r", encode_annotation(true), json.dumps([int(h), int(w)]))]
        sub = [("r", encode_annotation(pred))]
        assert score_frames(sol, sub).mean == of1_image(pred, true)
        a = parse_runs(json.loads(encode_annotation(pred[:1])), (h, w))
        b = parse_runs(json.loads(encode_annotation(true[:1])), (h, w))
        assert rle_intersection(a, b) == int((pred[0] & true[0]).sum())


def test_breakdown_and_json(tmp_path):
    t = encode_annotation(_blob(8, 8, 0, 0, 4, 4)[None])
    sol = [
        ("f", t, "[8, 8]"),
        ("g", t, "[8, 8]"),
        ("a", "authentic", "authentic"),
        ("b", "authentic", "authentic"),
    ]
    sub = [("f", t), ("g", "authentic"), ("a", t), ("b", "authentic")]
    r = score_frames(sol, sub)
    assert r.per_case == {"f": 1.0, "g": 0.0, "a": 0.0, "b": 1.0}
    assert r.mean == 0.5
    assert r.breakdown["forged_only_mean"] == 0.5
    assert r.breakdown["authentic_accuracy"] == 0.5
    assert r.breakdown["forged_detected_rate"] == 0.5
    json.dumps(r.to_dict())  # serialisable as is


@pytest.mark.parametrize(
    "sub, match",
    [
        ([("a", "authentic")], "lacks case_id.*'b'"),
        (
            [("a", "authentic"), ("b", "authentic"), ("zz", "authentic")],
            "not in the solution.*'zz'",
        ),
        ([("a", "authentic"), ("a", "authentic"), ("b", "authentic")], "repeats.*'a'"),
        ([("a", "authentic"), ("b", "[5, 1, 2, 1]")], "'b'.*unsorted"),
        ([("a", "authentic"), ("b", "[60, 10]")], "'b'.*past the image"),
        ([("a", "[1, 2, 3]"), ("b", "authentic")], "'a'.*odd"),
        ([("a", "authentic"), ("b", "maybe")], "'b'"),
    ],
)
def test_score_errors(sub, match):
    sol = [("a", "authentic", "authentic"), ("b", "[1, 2]", "[8, 8]")]
    with pytest.raises(ScoreError, match=match):
        score_frames(sol, sub)


def test_bad_solution_shape_and_missing_column(tmp_path):
    with pytest.raises(ScoreError, match=r"'b'.*shape"):
        score_frames([("b", "[1, 2]", "authentic")], [("b", "[1, 2]")])
    s = _write(tmp_path / "sol.csv", ["case_id", "annotation"], [("a", "authentic")])
    p = _write(tmp_path / "sub.csv", ["case_id", "annotation"], [("a", "authentic")])
    with pytest.raises(ScoreError, match=r"sol\.csv.*shape"):
        score_files(s, p)
    with pytest.raises(ScoreError, match="not found"):
        score_files(tmp_path / "nope.csv", p)


def test_write_and_read_round_trip(tmp_path):
    inst = np.stack([_blob(5, 7, 0, 0, 2, 2), _blob(5, 7, 3, 3, 5, 7)])
    rows = [solution_row("f/1", inst, (5, 7)), solution_row("a/1", inst[:0], (5, 7))]
    assert rows[0][2] == "[5, 7]" and rows[1] == ("a/1", "authentic", "authentic")
    write_solution(rows, tmp_path / "sol.csv")
    write_submission([(c, a) for c, a, _ in rows], tmp_path / "sub.csv")
    assert read_solution(tmp_path / "sol.csv") == rows
    assert score_files(tmp_path / "sol.csv", tmp_path / "sub.csv").mean == 1.0
    # Annotations with commas must be quoted, not split into columns.
    header, first = (tmp_path / "sol.csv").read_text().splitlines()[:2]
    assert header == "case_id,annotation,shape" and first.startswith('f/1,"[')


def test_build_solution_from_records(tmp_path, monkeypatch):
    import sys
    import types

    inst = np.stack([_blob(6, 9, 0, 0, 3, 3), _blob(6, 9, 2, 5, 6, 9)])
    np.save(tmp_path / "m.npy", inst.astype(np.uint8))
    seen = []

    def read_mask(path, shape=None):  # stand-in honouring the imageio contract
        seen.append((str(path), shape))
        return np.load(path).astype(bool)

    monkeypatch.setitem(
        sys.modules, "forgeseg.core.imageio", types.SimpleNamespace(read_mask=read_mask)
    )
    recs = [
        Record("forged/c1", "c1", "forged", "train", "x.png", str(tmp_path / "m.npy"), 6, 9),
        Record("authentic/c1", "c1", "authentic", "train", "y.png", "", 6, 9),
    ]
    rows = build_solution(recs)
    assert seen == [(str(tmp_path / "m.npy"), (6, 9))]
    assert rows[1] == ("authentic/c1", "authentic", "authentic")
    uid, ann, shape = rows[0]
    assert uid == "forged/c1" and shape == "[6, 9]"
    assert np.array_equal(decode_annotation(ann, (6, 9)), inst)
    with pytest.raises(ScoreError, match="test/x"):
        build_solution([Record("test/x", "x", "unknown", "test", "z.png", "", 6, 9)])


def test_pair_f1_uses_the_official_float_formula():
    # TP 1, FP 0, FN 4: 2PR/(P+R) (official) and 2TP/(2TP+FP+FN) differ in the last bit.
    true = np.zeros((1, 1, 5), bool)
    true[0, 0, :] = True
    pred = np.zeros((1, 1, 5), bool)
    pred[0, 0, 2] = True
    assert of1_image(pred, true) == 0.33333333333333337
    sol = [("k", encode_annotation(true), "[1, 5]")]
    assert score_frames(sol, [("k", encode_annotation(pred))]).mean == 0.33333333333333337
