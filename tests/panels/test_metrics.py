"""Panel recall / precision at IoU 0.5 and text-mask F1, and reading structure.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from forgeseg.core.errors import DataError
from forgeseg.panels import Panel, Structure, read_structure_csv, structure_scores
from forgeseg.panels.metrics import box_iou
from forgeseg.synth import generate_dataset


def _st(boxes, cls="blot", text=None, shape=(100, 200)) -> Structure:
    mask = np.zeros(shape, bool)
    if text is not None:
        mask[text[1] : text[3], text[0] : text[2]] = True
    return Structure(tuple(Panel(b, cls) for b in boxes), mask)


def test_scores_count_one_to_one_matches_at_the_iou_floor() -> None:
    truth = _st([(0, 0, 100, 100), (100, 0, 200, 100)], text=(0, 0, 10, 10))
    assert box_iou((0, 0, 100, 100), (50, 0, 150, 100)) == pytest.approx(1 / 3)
    # One good panel, one shifted by half (IoU 1/3), one duplicate of the first.
    pred = _st([(2, 0, 100, 100), (150, 0, 250, 100), (0, 0, 98, 100)], "chart", (0, 0, 10, 5))
    s = structure_scores([(pred, truth)])
    assert s["panel_recall"] == 0.5 and s["panel_precision"] == pytest.approx(1 / 3)
    assert s["class_accuracy"] == 0.0
    assert s["text_precision"] == 1.0 and s["text_recall"] == 0.5
    assert s["text_f1"] == pytest.approx(2 / 3)
    perfect = structure_scores([(truth, truth)])
    assert perfect["panel_recall"] == perfect["panel_precision"] == perfect["text_f1"] == 1.0


def test_read_structure_csv_of_a_generated_root(tmp_path: Path) -> None:
    root = tmp_path / "data"
    generate_dataset(root, n=4, seed=2, n_test=2, min_side=96, max_side=200, progress=False)
    truth = read_structure_csv(root / "structure.csv")
    assert len(truth) == sum(1 for _ in root.rglob("*.png"))
    for st in truth.values():
        assert st.panels and st.text_mask.dtype == bool
    bad = tmp_path / "bad" / "structure.csv"
    bad.parent.mkdir()
    bad.write_text("image,kind,cls,x0,y0,x1,y1\na.png,box,,0,0,5,5\n")
    with pytest.raises(DataError, match="line 2: kind 'box'"):
        read_structure_csv(bad)
    bad.write_text("image,kind\n")
    with pytest.raises(DataError, match="header"):
        read_structure_csv(bad)
