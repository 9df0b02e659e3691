"""The resume journal keeps every finished figure of a killed run, and nothing else: rows
and the evaluate stage's calibration tables alike."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from forgeseg.config import DetectConfig
from forgeseg.data.layout import Record
from forgeseg.decision.calibration import FigureTable
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.corpus import (
    DetectorSpec,
    FigureResult,
    FigureTask,
    Journal,
    corpus_key,
    run_corpus,
)


def _tasks(folder: Path, n: int = 3) -> list[FigureTask]:
    for i in range(n):
        (folder / f"f{i}.png").write_bytes(bytes([i]) * 10)
    return [FigureTask(i, f"f{i}", str(folder / f"f{i}.png")) for i in range(n)]


SPEC = DetectorSpec(DetectConfig(method="geometric"), DecisionConfig("geometric"))


def test_a_torn_last_line_is_dropped_and_appending_goes_on(tmp_path):
    key = corpus_key(_tasks(tmp_path), SPEC)
    j = Journal(tmp_path / "j.jsonl", key)
    assert j.load() == {}
    j.append(FigureResult(0, "f0", "p0", annotation="[1, 2]", shape=(4, 5)))
    j.append(FigureResult(1, "f1", "p1", skip="undecodable image: truncated"))
    j.close()
    with (tmp_path / "j.jsonl").open("a") as f:
        f.write('{"index": 2, "uid": "f2", "pa')  # what kill -9 mid-write leaves
    again = Journal(tmp_path / "j.jsonl", key)
    found = again.load()
    assert sorted(found) == [0, 1]
    assert found[0].annotation == "[1, 2]" and found[0].shape == (4, 5)
    assert found[1].skip == "undecodable image: truncated"
    again.append(FigureResult(2, "f2", "p2"))
    again.close()
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines[1:]] == [0, 1, 2]


def test_changed_inputs_or_settings_make_the_journal_stale(tmp_path):
    tasks = _tasks(tmp_path)
    key = corpus_key(tasks, SPEC)
    j = Journal(tmp_path / "j.jsonl", key)
    j.load()
    j.append(FigureResult(0, "f0", "p0", annotation="[1, 2]"))
    j.close()
    other = DetectorSpec(DetectConfig(method="geometric", min_area=7), DecisionConfig("geometric"))
    assert corpus_key(tasks, other) != key
    assert Journal(tmp_path / "j.jsonl", corpus_key(tasks, other)).load() == {}
    # The stale journal was started afresh under the new key; the old key finds nothing.
    assert Journal(tmp_path / "j.jsonl", key).load() == {}
    (tmp_path / "f1.png").write_bytes(b"changed figure, other size")
    assert corpus_key(_tasks_existing(tmp_path), SPEC) != key


def _tasks_existing(folder: Path) -> list[FigureTask]:
    return [FigureTask(i, f"f{i}", str(folder / f"f{i}.png")) for i in range(3)]


def test_a_model_file_counts_by_content(tmp_path):
    tasks = _tasks(tmp_path)
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights v1")
    spec = DetectorSpec(DetectConfig(), DecisionConfig("hybrid"), model_path=str(model))
    before = corpus_key(tasks, spec)
    model.write_bytes(b"weights v2")
    assert corpus_key(tasks, spec) != before


def test_the_learned_decision_file_counts_by_content(tmp_path):
    tasks = _tasks(tmp_path)
    trees = tmp_path / "decision.npz"
    trees.write_bytes(b"trees v1")
    spec = DetectorSpec(DetectConfig(), DecisionConfig("learned", learned_model=str(trees)))
    before = corpus_key(tasks, spec)
    trees.write_bytes(b"trees v2")  # retrained: every figure must be judged again
    assert corpus_key(tasks, spec) != before


def _table(uid: str) -> FigureTable:
    return FigureTable(
        uid=uid,
        truth_authentic=False,
        net_any=np.array([True, False]),
        net_score=np.array([0.1, 1 / 3]),  # no short decimal: must still come back exactly
        net_of1=np.array([0.5, 0.0]),
        net_px=np.array([[1, 2, 3], [4, 5, 6]], np.int64),
        geo_any=np.zeros(0, bool),
        geo_of1=np.zeros(0),
        geo_px=np.zeros((0, 3), np.int64),  # empty: its shape is not in the numbers
        geo_best=7,
        truth_area=99,
    )


def test_evaluate_tables_are_journaled_and_come_back_bit_for_bit(tmp_path):
    tasks = _tasks(tmp_path, 2)
    spec = DetectorSpec(DetectConfig(), DecisionConfig("hybrid"), output="table")
    journal = Journal(tmp_path / "j.jsonl", corpus_key(tasks, spec))
    journal.load()
    for t in tasks:
        journal.append(FigureResult(t.index, t.uid, t.path, shape=(4, 5), table=_table(t.uid)))
    journal.close()
    # Every figure is in the journal: nothing is judged, no detector is even built.
    again = Journal(tmp_path / "j.jsonl", corpus_key(tasks, spec))
    results = run_corpus(spec, tasks, journal=again, progress=False)
    for t, r in zip(tasks, results, strict=True):
        want = _table(t.uid)
        for f in dataclasses.fields(want):
            a, b = getattr(want, f.name), getattr(r.table, f.name)
            if isinstance(a, np.ndarray):
                assert (a.dtype, a.shape) == (b.dtype, b.shape) and np.array_equal(a, b), f.name
            else:
                assert a == b and type(a) is type(b), f.name


def test_a_tables_key_covers_its_truth_mask_and_label(tmp_path):
    (tmp_path / "f.png").write_bytes(b"figure")
    (tmp_path / "m.npy").write_bytes(b"mask v1")
    figure, mask = str(tmp_path / "f.png"), str(tmp_path / "m.npy")
    record = Record("forged/1", "1", "forged", "train", figure, mask, 72, 88)
    spec = DetectorSpec(DetectConfig(), DecisionConfig("hybrid"), output="table")

    def key(rec: Record) -> str:
        return corpus_key([FigureTask(0, rec.uid, rec.image, record=rec)], spec)

    before = key(record)
    (tmp_path / "m.npy").write_bytes(b"mask v2, redrawn")
    assert key(record) != before
    assert key(dataclasses.replace(record, label="authentic", mask="")) != key(record)
