"""Training resumes an interrupted run, and only that; the best checkpoint loads safely."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from forgeseg.config import load_params, override
from forgeseg.models.checkpoint import load_checkpoint
from forgeseg.pipeline.train import train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, make_train_data):
    root = tmp_path_factory.mktemp("train")
    make_train_data(root / "data", root / "splits")
    params = override(
        load_params(REPO / "params.yaml"),
        {
            "data.root": str(root / "data"),
            "train.size": 64,
            "train.epochs": 2,
            "train.batch_size": 4,
            "train.synthetic_per_epoch": 0,
            "model.decoder_channels": [32, 16, 16, 8, 8],
        },
    )
    return root, params


def _run(root: Path, params, tag: str, **kwargs):
    return train(
        params,
        splits_dir=root / "splits",
        model_out=root / f"{tag}.pt",
        last_out=root / "last.pt",
        live_dir=root / f"live_{tag}",
        progress=False,
        **kwargs,
    )


def test_interrupted_run_resumes_and_finished_run_starts_over(setup):
    root, params = setup
    stopped = _run(root, params, "a", max_epochs=1)  # as if killed after the first epoch
    assert stopped.epochs_run == 1
    assert load_checkpoint(root / "last.pt")["epoch"] == 0

    resumed = _run(root, params, "a")
    assert resumed.epochs_run == 1  # only the missing epoch
    again = _run(root, params, "a")
    assert again.epochs_run == 2  # a finished run is never "resumed" into doing nothing

    other = override(params, {"train.lr": 0.01})
    (root / "last.pt").write_bytes(b"")  # corrupt resume file: ignored, not fatal
    assert _run(root, other, "b").epochs_run == 2
    ckpt = load_checkpoint(root / "b.pt")
    assert ckpt["size"] == 64 and ckpt["model_cfg"]["arch"] == params.model.arch


def _weights(path: Path) -> dict:
    return load_checkpoint(path)["state_dict"]


def test_resumed_run_ends_where_an_uninterrupted_run_ends(setup):
    """Stopped after epoch 1 and resumed: the same weights and per-epoch metrics as a run of
    2 epochs straight, with shuffling, augmentation and on-the-fly figures all in play."""
    root, params = setup
    params = override(
        params,
        {
            # Two batches of 4 from 8 + 3 figures: order decides the batches and the 3 left out.
            "train.batch_size": 4,
            "train.synthetic_per_epoch": 3,
            "train.synthetic_max_side": 128,
            "synth.min_side": 96,
        },
    )

    def run(tag: str, **kwargs):
        return train(
            params,
            splits_dir=root / "splits",
            model_out=root / f"{tag}_best.pt",
            last_out=root / f"{tag}_last.pt",
            live_dir=root / f"live_{tag}",
            progress=False,
            **kwargs,
        )

    straight = run("straight")
    assert run("resumed", max_epochs=1).epochs_run == 1
    resumed = run("resumed")
    assert resumed.epochs_run == 1

    assert (resumed.best_epoch, resumed.best_of1) == (straight.best_epoch, straight.best_of1)
    a, b = load_checkpoint(root / "straight_last.pt"), load_checkpoint(root / "resumed_last.pt")
    assert a["history"] == b["history"] and len(a["history"]) == 2
    for name in ("last", "best"):
        wa, wb = _weights(root / f"straight_{name}.pt"), _weights(root / f"resumed_{name}.pt")
        assert wa.keys() == wb.keys()
        unequal = [k for k in wa if not torch.equal(wa[k], wb[k])]
        assert not unequal, f"{name}: {len(unequal)} tensors differ, first {unequal[:3]}"
    # ... and so would a third epoch: the optimiser and schedule resume where they were.
    assert a["scheduler"] == b["scheduler"]
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])
