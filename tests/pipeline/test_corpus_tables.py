"""The evaluate stage's tables come from the same pool: 2 workers give the tables of 1, in
record order, and a val figure that cannot be judged is left out, not fatal."""

from __future__ import annotations

import dataclasses

import numpy as np

from forgeseg.config import DetectConfig, EvaluateConfig
from forgeseg.core.atomic import save_npy, save_png
from forgeseg.data.layout import Record
from forgeseg.pipeline.evaluate import collect_tables


def test_tables_on_two_workers_equal_one_and_skip_the_unreadable(tmp_path):
    records = []
    for i in range(3):
        rng = np.random.default_rng(10 + i)
        image = rng.integers(0, 256, (72, 88, 3), dtype=np.uint8)
        mask = np.zeros((1, 72, 88), np.uint8)
        if i < 2:  # two forged figures with their masks, one authentic
            image[40:68, 52:84] = image[4:32, 6:38]
            mask[0, 40:68, 52:84] = mask[0, 4:32, 6:38] = 1
            save_npy(tmp_path / f"m{i}.npy", mask)
        save_png(tmp_path / f"f{i}.png", image)
        label = "forged" if i < 2 else "authentic"
        records.append(
            Record(
                f"{label}/{i}",
                str(i),
                label,
                "train",
                str(tmp_path / f"f{i}.png"),
                str(tmp_path / f"m{i}.npy") if i < 2 else "",
                72,
                88,
            )
        )
    (tmp_path / "bad.png").write_bytes(b"")
    records.insert(
        1, Record("authentic/7", "7", "authentic", "train", str(tmp_path / "bad.png"), "", 72, 88)
    )
    kw = {
        "evaluate": EvaluateConfig(thresholds=(0.5,), gates=(0.5,), min_support=(0, 8)),
        "detect": DetectConfig(method="geometric", matchers=("dense",), min_area_fraction=0.0),
    }
    one = collect_tables(records, workers=1, progress=False, **kw)
    two = collect_tables(records, workers=2, progress=False, **kw)
    assert [t.uid for t in one] == ["forged/0", "forged/1", "authentic/2"]
    assert one[0].geo_any.any() and not one[2].geo_any.any()
    for a, b in zip(one, two, strict=True):
        for f in dataclasses.fields(a):
            assert np.array_equal(getattr(a, f.name), getattr(b, f.name)), f.name
