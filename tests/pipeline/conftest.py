"""What several pipeline tests build the same way: a small figure with a copy-moved block,
and a tiny generated data root with its split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from forgeseg.data.layout import scan, write_index
from forgeseg.data.split import split_records
from forgeseg.synth import generate_dataset


def _copy_move_figure(seed: int, copy: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (72, 88, 3), dtype=np.uint8)
    if copy:
        image[40:68, 52:84] = image[4:32, 6:38]
    return image


def _train_data(data_root: Path, splits_dir: Path) -> None:
    generate_dataset(
        data_root,
        n=6,
        seed=3,
        n_test=2,
        n_supplemental=0,
        min_side=96,  # smaller compound figures have no room for a reuse
        max_side=128,
        progress=False,
    )
    # Lenient: files the generator adds beside the Kaggle layout are not these tests' concern.
    records = scan(data_root, strict=False, progress=False).records
    for name, recs in split_records(records, val_fraction=0.34, seed=0).items():
        write_index(splits_dir / f"{name}.csv", recs)


@pytest.fixture(scope="session")
def make_figure() -> Callable[[int, bool], np.ndarray]:
    """``make_figure(seed, copy)``: a 72x88 RGB noise figure; with ``copy``, a 28x32 block
    copied to another place, which the dense matcher finds in well under a second."""
    return _copy_move_figure


@pytest.fixture(scope="session")
def make_train_data() -> Callable[[Path, Path], None]:
    """``make_train_data(data_root, splits_dir)``: 6 generated figures (and 2 test ones)
    at ``data_root``, their train/val/test index files in ``splits_dir``; a few seconds."""
    return _train_data
