import csv
import json

import numpy as np
import pytest
from PIL import Image

from forgeseg.core.errors import ForgesegError
from forgeseg.data.layout import Record as Rec
from forgeseg.pipeline.eda import dataset_stats, run_eda


@pytest.fixture
def splits(tmp_path):
    """Six figures: three mask layouts, an empty mask, an authentic, an unlabelled one."""
    pytest.importorskip("forgeseg.core.imageio")

    def figure(name, h, w):
        path = tmp_path / f"{name}.png"
        Image.fromarray(np.full((h, w, 3), 150, np.uint8)).save(path)
        return str(path)

    def mask(name, array):
        path = tmp_path / f"{name}.npy"
        np.save(path, array.astype(np.uint8))
        return str(path)

    two = np.zeros((2, 20, 30), bool)
    two[0, 0:2, 0:10] = True  # 20 px
    two[1, 1:3, 0:5] = True  # 10 px, 5 of them shared with instance 0 -> union 25 px
    flat = np.zeros((10, 10), bool)
    flat[0, :] = True  # (H, W) mask, 10 px = 10%
    one_px = np.zeros((1, 40, 40), bool)
    one_px[0, 3, 3] = True  # 1 / 1600 = 0.0625%
    train = [
        Rec(
            "forged/a", "a", "forged", "train", figure("fa", 20, 30), mask("a", two), 20, 30, "blot"
        ),
        Rec(
            "forged/b",
            "b",
            "forged",
            "train",
            figure("fb", 10, 10),
            mask("b", flat),
            10,
            10,
            "blot",
        ),
        Rec(
            "forged/c",
            "c",
            "forged",
            "train",
            figure("fc", 12, 16),
            mask("c", np.zeros((1, 12, 16))),
            12,
            16,
            "microscopy",
        ),
        Rec("authentic/a", "a", "authentic", "train", figure("aa", 20, 30), "", 20, 30, ""),
    ]
    val = [
        Rec(
            "forged/e", "e", "forged", "train", figure("fe", 40, 40), mask("e", one_px), 40, 40, ""
        ),
    ]
    test = [Rec("f", "f", "unknown", "test", figure("tf", 600, 2000), "", 600, 2000, "")]
    return {"train": train, "val": val, "test": test}


def test_counts_per_split_label_kind(splits):
    metrics, tables = dataset_stats(splits, read_masks=False, progress=False)
    assert metrics["figures"] == 6
    assert metrics["splits"]["train"] == {"figures": 4, "authentic": 1, "forged": 3, "unknown": 0}
    assert metrics["splits"]["test"]["unknown"] == 1
    assert metrics["labels"] == {"authentic": 1, "forged": 4, "unknown": 1}
    assert metrics["kinds"] == {"blot": 2, "microscopy": 1, "unknown": 3}
    assert metrics["subsets"] == {"test": 1, "train": 5}
    assert metrics["long_side"]["max"] == 2000 and metrics["long_side"]["min"] == 10
    assert metrics["megapixels"]["max"] == pytest.approx(1.2)
    kinds = {(r["kind"], r["label"]): r["count"] for r in tables["kinds"]}
    assert kinds == {
        ("blot", "forged"): 2,
        ("microscopy", "forged"): 1,
        ("unknown", "authentic"): 1,
        ("unknown", "forged"): 1,
        ("unknown", "unknown"): 1,
    }
    assert sum(r["count"] for r in tables["image_size"]) == 6
    assert "masks" not in metrics and "forged_fraction" not in tables


def test_mask_statistics(splits):
    metrics, tables = dataset_stats(splits, progress=False)
    assert metrics["masks"] == {
        "forged_with_mask": 4,
        "forged_without_mask": 0,
        "empty": 1,
        "empty_fraction": 0.25,
    }
    frac = metrics["forged_fraction_pct"]
    assert frac["n"] == 3  # the empty mask is counted as empty, not as a 0% forgery
    assert frac["min"] == pytest.approx(100 / 1600)
    assert frac["median"] == pytest.approx(100 * 25 / 600, abs=1e-5)
    assert frac["max"] == pytest.approx(10.0)
    assert metrics["instances"]["max"] == 2 and metrics["instances"]["n"] == 4
    assert tables["instances"] == [
        {"instances": 0, "count": 1},
        {"instances": 1, "count": 2},
        {"instances": 2, "count": 1},
    ]
    bins = {r["bin"]: r["count"] for r in tables["forged_fraction"]}
    assert bins["0-0.1%"] == 1 and bins["4-8%"] == 1 and bins["8-16%"] == 1
    assert sum(bins.values()) == 3


def test_mask_that_does_not_fit_its_figure_is_a_data_error(splits, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((1, 5, 5), np.uint8))
    rec = Rec("forged/z", "z", "forged", "train", "", str(bad), 20, 30, "")
    with pytest.raises(ForgesegError, match=r"bad\.npy"):
        dataset_stats({"train": [rec]}, progress=False)


def test_empty_dataset_gives_valid_metrics():
    metrics, tables = dataset_stats({"train": [], "val": []}, progress=False)
    assert metrics["figures"] == 0 and metrics["masks"]["empty_fraction"] is None
    assert metrics["long_side"]["median"] is None
    assert all(r["count"] == 0 for rows in tables.values() for r in rows)
    json.dumps(metrics)  # still serialisable


def test_run_eda_writes_every_output(splits, tmp_path):
    out = tmp_path / "out"
    metrics = run_eda(
        splits,
        metrics_path=out / "metrics" / "eda.json",
        plots_dir=out / "plots",
        contact_sheet_path=out / "plots" / "contact_sheet.png",
        per_kind=1,
        tile=64,
        seed=0,
    )
    assert json.loads((out / "metrics" / "eda.json").read_text()) == json.loads(json.dumps(metrics))
    for name, column in (
        ("forged_fraction", "bin"),
        ("image_size", "bin"),
        ("instances", "instances"),
        ("kinds", "kind"),
    ):
        with open(out / "plots" / f"{name}.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert rows and column in rows[0] and "count" in rows[0]
        assert all(int(r["count"]) >= 0 for r in rows)
    sheet = np.asarray(Image.open(out / "plots" / "contact_sheet.png"))
    assert sheet.ndim == 3 and sheet.shape[2] == 3 and sheet.shape[1] == 4 * 64 + 5 * 4
    # Atomic writers leave no temporary siblings behind.
    leftovers = [p.name for p in out.rglob(".*")]
    assert leftovers == []


def test_run_eda_writes_nothing_when_a_figure_is_missing(splits, tmp_path):
    train = list(splits["train"])
    train[0] = Rec(**{**train[0].__dict__, "image": str(tmp_path / "gone.png")})
    out = tmp_path / "out"
    with pytest.raises(ForgesegError, match=r"gone\.png"):
        run_eda(
            {"train": train},
            metrics_path=out / "eda.json",
            plots_dir=out / "plots",
            contact_sheet_path=out / "sheet.png",
            per_kind=5,
            tile=32,
        )
    assert not out.exists() or not any(out.rglob("*"))
