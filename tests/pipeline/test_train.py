"""Training resumes an interrupted run, and only that; the best checkpoint loads safely."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

import forgeseg.pipeline.train as train_mod
from forgeseg.data.layout import scan, write_index
from forgeseg.data.split import split_records
from forgeseg.models.checkpoint import load_checkpoint
from forgeseg.synth import generate_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    generate_dataset(
        root / "data",
        n=6,
        seed=3,
        n_test=2,
        n_supplemental=0,
        min_side=64,
        max_side=96,
        progress=False,
    )
    records = scan(root / "data", progress=False).records
    for name, recs in split_records(records, val_fraction=0.34, seed=0).items():
        write_index(root / "splits" / f"{name}.csv", recs)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["root"] = str(root / "data")
    params["train"].update(size=64, epochs=2, batch_size=4, synthetic_per_epoch=0)
    params["model"].update(decoder_channels=[32, 16, 16, 8, 8])
    return root, params


def _run(root: Path, params: dict, tag: str):
    return train_mod.train(
        params,
        splits_dir=root / "splits",
        model_out=root / f"{tag}.pt",
        last_out=root / "last.pt",
        live_dir=root / f"live_{tag}",
        progress=False,
    )


def test_interrupted_run_resumes_and_finished_run_starts_over(setup, monkeypatch):
    root, params = setup
    real_validate = train_mod.validate
    calls = {"n": 0}

    def validate_then_die(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed during the second epoch
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(train_mod, "validate", validate_then_die)
    with pytest.raises(KeyboardInterrupt):
        _run(root, params, "a")
    assert load_checkpoint(root / "last.pt")["epoch"] == 0
    monkeypatch.setattr(train_mod, "validate", real_validate)

    resumed = _run(root, params, "a")
    assert resumed.epochs_run == 1  # only the missing epoch
    again = _run(root, params, "a")
    assert again.epochs_run == 2  # a finished run is never "resumed" into doing nothing

    other = copy.deepcopy(params)
    other["train"]["lr"] = 0.01
    (root / "last.pt").write_bytes(b"")  # corrupt resume file: ignored, not fatal
    assert _run(root, other, "b").epochs_run == 2
    ckpt = load_checkpoint(root / "b.pt")
    assert ckpt["size"] == 64 and ckpt["model_cfg"]["arch"] == params["model"]["arch"]
