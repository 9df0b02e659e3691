"""Tests for forgeseg.synth: generated cases and the dataset writer."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgeseg.errors import ParamsError
from forgeseg.rle import decode_annotation
from forgeseg.synth import KINDS, apply_geometry, generate_dataset, make_case
from forgeseg.synth.forge import MAX_FRACTION, MIN_FRACTION

SMALL = {"min_side": 64, "max_side": 200}


def _cases(n: int, seed: int = 0, **kw):
    for i in range(n):
        yield make_case(np.random.default_rng([seed, i]), **{**SMALL, **kw})


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_a_valid_forged_pair(kind: str) -> None:
    for i in range(3):
        case = make_case(np.random.default_rng([1, i]), kind=kind, post_effects=False, **SMALL)
        f, a, m = case.forged, case.authentic, case.masks
        assert f.dtype == np.uint8 and a.dtype == np.uint8 and f.shape == a.shape
        h, w = f.shape[:2]
        assert 64 <= h <= 200 and 64 <= w <= 200
        assert f.ndim == 2 or f.shape[2] in (3, 4)
        assert m.dtype == bool and m.shape[1:] == (h, w) and 1 <= m.shape[0] <= 3
        assert all(ch.any() for ch in m)
        union = m.any(axis=0)
        assert MIN_FRACTION <= union.mean() <= MAX_FRACTION
        assert case.meta["forged_fraction"] == pytest.approx(union.mean(), abs=1e-6)
        # The forged figure is the authentic one plus the forgery: nothing changes elsewhere.
        assert np.array_equal(f[~union], a[~union])
        assert not np.array_equal(f[union], a[union])
        assert case.meta["kind"] == kind and case.meta["n_instances"] == m.shape[0]


def test_mask_is_source_plus_copies_and_copies_equal_transformed_source() -> None:
    checked, geoms = 0, set()
    for case in _cases(60, seed=2, post_effects=False):
        a, f = case.authentic, case.forged
        boxes = []
        for k, inst in enumerate(case.meta["instances"]):
            y0, x0, y1, x1 = inst["source_box"]
            src_mask = case.masks[k][y0:y1, x0:x1]
            assert src_mask.any(), "the source region must be in the instance mask"
            own = np.zeros(case.masks[k].shape, bool)
            own[y0:y1, x0:x1] = True
            copy_masks = []
            for cy0, cx0, cy1, cx1 in inst["copies"]:
                own[cy0:cy1, cx0:cx1] = True
                copy_masks.append(case.masks[k][cy0:cy1, cx0:cx1])
                assert copy_masks[-1].any(), "every copy must be in the instance mask"
            assert not case.masks[k][~own].any(), "mask pixels outside source and copies"
            boxes += [inst["source_box"], *inst["copies"]]
            if not inst["exact"]:
                continue
            patch = apply_geometry(a[y0:y1, x0:x1], inst["geometry"])
            pmask = apply_geometry(src_mask, inst["geometry"], is_mask=True)
            for (cy0, cx0, cy1, cx1), cm in zip(inst["copies"], copy_masks, strict=True):
                assert np.array_equal(cm, pmask)
                assert np.array_equal(f[cy0:cy1, cx0:cx1][pmask], patch[pmask])
                checked += 1
            geoms.add(inst["geometry"]["flip"] + str(inst["geometry"]["rot90"]))
        # No copy overlaps its own source or another instance.
        for i, b in enumerate(boxes):
            for c in boxes[i + 1 :]:
                assert b[2] <= c[0] or c[2] <= b[0] or b[3] <= c[1] or c[3] <= b[1]
    assert checked >= 20
    assert len(geoms) >= 3  # plain, flipped and rotated copies were all verified


def test_authentic_only_and_without_twin() -> None:
    case = make_case(np.random.default_rng(3), forged=False, **SMALL)
    assert case.forged is None and case.authentic is not None
    assert case.masks.shape == (0, *case.authentic.shape[:2])
    case = make_case(np.random.default_rng(3), with_authentic=False, **SMALL)
    assert case.authentic is None and case.forged is not None and case.masks.shape[0] >= 1


def test_same_rng_same_case_and_modes_occur() -> None:
    a = make_case(np.random.default_rng(9), **SMALL)
    b = make_case(np.random.default_rng(9), **SMALL)
    assert np.array_equal(a.forged, b.forged) and np.array_equal(a.masks, b.masks)
    assert a.meta == b.meta
    channels = {c.meta["channels"] for c in _cases(120, seed=4, forged=False)}
    assert channels == {1, 3, 4}  # gray, RGB and RGBA figures all occur


def test_hard_negatives_and_post_effects_occur() -> None:
    cases = list(_cases(80, seed=5))
    negs = {n for c in cases for n in c.meta["hard_negatives"]}
    assert {"similar_bands", "repeated_glyphs", "panel_letters"} <= negs
    assert any(c.meta["jpeg"] for c in cases)
    assert {c.meta["n_instances"] for c in cases} >= {1, 2}


def test_bad_arguments_raise_params_error() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ParamsError, match="kind"):
        make_case(rng, kind="xray")
    with pytest.raises(ParamsError, match="max_side"):
        make_case(rng, min_side=300, max_side=200)
    with pytest.raises(ParamsError, match="n must"):
        generate_dataset("/nonexistent/never", n=0, seed=1, progress=False)


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth") / "data"
    summary = generate_dataset(
        root,
        n=14,
        seed=11,
        n_test=8,
        n_supplemental=2,
        min_side=64,
        max_side=160,
        authentic_twin_fraction=0.6,
        progress=False,
    )
    return root, summary


def test_layout_matches_the_competition(dataset: tuple[Path, dict]) -> None:
    root, summary = dataset
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [
            "train_images",
            "train_masks",
            "supplemental_images",
            "supplemental_masks",
            "test_images",
            "sample_submission.csv",
            "test_solution.csv",
            "meta.csv",
        ]
    )
    forged = {p.stem for p in (root / "train_images" / "forged").glob("*.png")}
    authentic = {p.stem for p in (root / "train_images" / "authentic").glob("*.png")}
    masks = {p.stem for p in (root / "train_masks").glob("*.npy")}
    assert len(forged) == 14 and masks == forged
    assert authentic < forged, "every authentic case has a forged twin, some have none"
    supp = {p.stem for p in (root / "supplemental_images").glob("*.png")}
    assert len(supp) == 2 and supp == {p.stem for p in (root / "supplemental_masks").glob("*")}
    test = {p.stem for p in (root / "test_images").glob("*.png")}
    assert len(test) == 8
    assert not (test & forged) and not (supp & forged) and not (test & supp)
    assert all(s.isdigit() and int(s) > 0 for s in forged | supp | test)
    for cid in forged:
        img = np.asarray(Image.open(root / "train_images" / "forged" / f"{cid}.png"))
        m = np.load(root / "train_masks" / f"{cid}.npy")
        assert m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1}
        assert m.shape[-2:] == img.shape[:2] and m.ndim in (2, 3)
        if cid in authentic:
            twin = np.asarray(Image.open(root / "train_images" / "authentic" / f"{cid}.png"))
            assert twin.shape == img.shape
    assert summary["figures"] == 14 + len(authentic) + 2 + 8


def test_csv_files(dataset: tuple[Path, dict]) -> None:
    root, _ = dataset
    with open(root / "meta.csv", newline="") as fh:
        meta = list(csv.DictReader(fh))
    assert list(meta[0]) == [
        "case_id",
        "subset",
        "label",
        "kind",
        "height",
        "width",
        "channels",
        "n_instances",
        "forged_fraction",
        "transforms",
        "jpeg",
    ]
    n_files = sum(1 for _ in root.rglob("*.png"))
    assert len(meta) == n_files
    with open(root / "test_solution.csv", newline="") as fh:
        solution = list(csv.DictReader(fh))
    with open(root / "sample_submission.csv", newline="") as fh:
        sample = list(csv.DictReader(fh))
    test_ids = {p.stem for p in (root / "test_images").glob("*.png")}
    assert {r["case_id"] for r in sample} == test_ids == {r["case_id"] for r in solution}
    assert all(r["annotation"] == "authentic" for r in sample)
    labels = {r["case_id"]: r["label"] for r in meta if r["subset"] == "test"}
    assert set(labels.values()) == {"authentic", "forged"}
    for row in solution:
        if labels[row["case_id"]] == "authentic":
            assert row["annotation"] == row["shape"] == "authentic"
            continue
        h, w = json.loads(row["shape"])
        img = np.asarray(Image.open(root / "test_images" / f"{row['case_id']}.png"))
        assert (h, w) == img.shape[:2]
        inst = decode_annotation(row["annotation"], (h, w))
        assert inst.shape[0] >= 1 and MIN_FRACTION <= inst.any(axis=0).mean() <= MAX_FRACTION


def test_same_seed_same_bytes_with_any_worker_count(
    dataset: tuple[Path, dict], tmp_path: Path
) -> None:
    root, _ = dataset
    kw = {
        "n": 14,
        "seed": 11,
        "n_test": 8,
        "n_supplemental": 2,
        "min_side": 64,
        "max_side": 160,
        "authentic_twin_fraction": 0.6,
        "progress": False,
    }
    generate_dataset(tmp_path / "two", workers=2, **kw)
    assert _tree_hash(tmp_path / "two") == _tree_hash(root)
    generate_dataset(tmp_path / "other", **{**kw, "seed": 12})
    assert _tree_hash(tmp_path / "other") != _tree_hash(root)
