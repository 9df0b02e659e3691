"""The infer stage goes on past a test figure it cannot read: the submission stays complete,
the figure is listed in data/predictions/skipped.csv, and every figure has its mask file."""

from __future__ import annotations

import csv

import numpy as np

from forgeseg.config import Params, override
from forgeseg.core.atomic import save_png
from forgeseg.core.rle import decode_annotation
from forgeseg.data.layout import Record, write_index
from forgeseg.decision.calibration import save_calibration
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.corpus import journal_path
from forgeseg.pipeline.infer import infer
from forgeseg.pipeline.paths import Paths


def test_infer_on_two_workers_records_a_bad_test_figure_and_keeps_going(tmp_path, make_figure):
    paths = Paths().under(tmp_path)
    root = tmp_path / "root"
    records = []
    for i in range(3):
        save_png(root / "test_images" / f"{i}.png", make_figure(i, copy=i == 0))
        records.append(
            Record(
                str(i),
                str(i),
                "unknown",
                "test",
                str(root / "test_images" / f"{i}.png"),
                "",
                72,
                88,
            )
        )
    (root / "test_images" / "9.png").write_bytes(b"\x89PNG truncated")
    records.append(
        Record("9", "9", "unknown", "test", str(root / "test_images" / "9.png"), "", 72, 88)
    )
    write_index(paths.splits / "test.csv", records)
    save_calibration(paths.calibration, DecisionConfig("geometric"))
    params = override(
        Params(),
        {
            "base.workers": 2,
            "base.device": "cpu",
            "data.root": str(root),
            "detect.method": "geometric",
            "detect.matchers": ["dense"],
            "detect.min_area_fraction": 0.0,
        },
    )
    infer(params, paths=paths, progress=False)

    with (paths.predictions / "submission.csv").open(newline="") as f:
        rows = {r["case_id"]: r["annotation"] for r in csv.DictReader(f)}
    assert sorted(rows) == ["0", "1", "2", "9"]
    assert rows["9"] == "authentic" and rows["0"] != "authentic"
    skipped = (paths.predictions / "skipped.csv").read_text().splitlines()
    assert len(skipped) == 2 and skipped[1].startswith(
        f"9,{root / 'test_images' / '9.png'},undecodable image"
    )
    for rec in records:
        masks = np.load(paths.predictions / "masks" / f"{rec.case_id}.npy")
        want = decode_annotation(rows[rec.uid], (72, 88)).astype(np.uint8)
        assert masks.dtype == np.uint8 and np.array_equal(masks, want)
    assert not journal_path(paths.predictions).exists()


def _learned_setup(tmp_path, make_figure):
    from forgeseg.config import ModelConfig
    from forgeseg.config.build import as_dict
    from forgeseg.models import build_model
    from forgeseg.models.checkpoint import save_checkpoint

    paths = Paths().under(tmp_path)
    root = tmp_path / "root"
    records = []
    for i in range(2):
        path = root / "test_images" / f"{i}.png"
        save_png(path, make_figure(i, copy=i == 0))
        records.append(Record(str(i), str(i), "unknown", "test", str(path), "", 72, 88))
    write_index(paths.splits / "test.csv", records)
    cfg = ModelConfig(encoder_weights=None, freeze_encoder=False)
    state = build_model(cfg).state_dict()
    save_checkpoint(paths.model, {"model_cfg": as_dict(cfg), "size": 64, "state_dict": state})
    save_calibration(paths.calibration, DecisionConfig("learned", accept=0.5))
    params = override(
        Params(),
        {
            "base.workers": 1,
            "base.device": "cpu",
            "data.root": str(root),
            "detect.method": "learned",
            "detect.matchers": ["dense"],
            "detect.min_area_fraction": 0.0,
            "model.encoder_weights": None,
            "model.freeze_encoder": False,
        },
    )
    return paths, params


def _rows(paths):
    with (paths.predictions / "submission.csv").open(newline="") as f:
        return {r["case_id"]: r["annotation"] for r in csv.DictReader(f)}


def test_infer_with_the_learned_decision_applies_the_trees_beside_the_calibration(
    tmp_path, make_figure
):
    import pytest

    from forgeseg.core.errors import DataError
    from forgeseg.decision.learned import FEATURES, LearnedDecision, TreeEnsemble

    paths, params = _learned_setup(tmp_path, make_figure)
    with pytest.raises(DataError, match=r"decision\.npz.*dvc repro decision"):
        infer(params, paths=paths, progress=False)
    # Trees that accept every candidate: the pasted copy in figure 0 is kept.
    LearnedDecision(TreeEnsemble.constant(1.0, FEATURES)).save(paths.decision)
    infer(params, paths=paths, progress=False)
    assert _rows(paths)["0"] != "authentic"
    # Trees that refuse every candidate: the same evidence, every figure authentic.
    LearnedDecision(TreeEnsemble.constant(0.0, FEATURES)).save(paths.decision)
    infer(params, paths=paths, progress=False)
    assert set(_rows(paths).values()) == {"authentic"}
