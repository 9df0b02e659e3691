"""The resume journal keeps every finished figure of a killed run, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from forgeseg.config import DetectConfig
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.corpus import DetectorSpec, FigureResult, FigureTask, Journal, corpus_key


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
