"""Tests for forgeseg.synth: generated cases and the dataset writer."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from forgeseg.core.errors import ForgesegError, ParamsError
from forgeseg.core.rle import decode_annotation
from forgeseg.synth import KINDS, apply_geometry, generate_dataset, make_case
from forgeseg.synth import case as case_module
from forgeseg.synth.canvas import draw_text, smooth_noise
from forgeseg.synth.compound import render_compound
from forgeseg.synth.forge import (
    MAX_FRACTION,
    MIN_FRACTION,
    MIN_REGION,
    PlacementError,
    plain_map,
)
from forgeseg.synth.kinds import render_single
from forgeseg.synth.microscopy import render_fluorescence
from forgeseg.synth.photo import PHOTO_SOURCES, render_photo_from
from forgeseg.synth.writer import run_parallel

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


def test_copies_in_small_figures_are_objects_not_dots() -> None:
    # The fraction alone would give 6x6 px copies in a 130 px figure; the region floor keeps
    # a copy something a forger moves and a detector (or an analyst) can see.
    areas = [
        int(ch.sum())
        for case in _cases(40, seed=5, min_side=128, max_side=160, with_authentic=False)
        for ch in case.masks
    ]
    assert np.median(areas) >= 1.5 * MIN_REGION
    assert np.mean(np.array(areas) >= MIN_REGION) >= 0.8


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


def test_a_figure_with_nothing_to_copy_is_drawn_again() -> None:
    # This stream first renders a 308x364 fluorescence field that is all flat background,
    # where no forgery fits; on-the-fly training data drew it and the run died in epoch 2.
    case = make_case(
        np.random.default_rng([42, 1, 152, 1]), with_authentic=False, min_side=128, max_side=512
    )
    union = case.masks.any(axis=0).mean()
    assert case.forged is not None and MIN_FRACTION <= union <= MAX_FRACTION
    again = make_case(
        np.random.default_rng([42, 1, 152, 1]), with_authentic=False, min_side=128, max_side=512
    )
    assert np.array_equal(case.forged, again.forged)


def test_a_forgery_that_never_fits_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def never(*args, **kwargs):
        calls.append(1)
        raise PlacementError("could not place a copy-move forgery in a 9x9 figure")

    monkeypatch.setattr(case_module, "_finish_case", never)
    with pytest.raises(PlacementError, match="could not place"):
        make_case(np.random.default_rng(0), **SMALL)
    assert 1 < len(calls) <= 10  # retried a bounded number of times, then gave up


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


def test_authentic_figures_are_recompressed_and_noised_as_often_as_forged() -> None:
    # Post effects on forged figures alone would let a network call "recompressed" forged.
    cases = list(_cases(160, seed=6))
    for key in ("jpeg", "authentic_jpeg"):
        assert 0.15 <= np.mean([c.meta[key] for c in cases]) <= 0.45, key
    for key in ("noise", "authentic_noise"):
        assert 0.04 <= np.mean([c.meta[key] > 0 for c in cases]) <= 0.3, key
    # Authentic-only figures (the test set's, and half of the on-the-fly training data) too.
    alone = [i for i, c in enumerate(_cases(40, seed=7, forged=False)) if c.meta["authentic_jpeg"]]
    assert alone
    rng = [7, alone[0]]
    done = make_case(np.random.default_rng(rng), forged=False, **SMALL)
    raw = make_case(np.random.default_rng(rng), forged=False, post_effects=False, **SMALL)
    assert not np.array_equal(raw.authentic, done.authentic)


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
            "structure.csv",
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
        "reuse",
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
    reused = {r["case_id"] for r in meta if r["subset"] == "test" and r["reuse"]}
    assert set(labels.values()) == {"authentic", "forged"}
    for row in solution:
        if labels[row["case_id"]] == "authentic":
            assert row["annotation"] == row["shape"] == "authentic"
            continue
        h, w = json.loads(row["shape"])
        img = np.asarray(Image.open(root / "test_images" / f"{row['case_id']}.png"))
        assert (h, w) == img.shape[:2]
        inst = decode_annotation(row["annotation"], (h, w))
        # Reuse of whole panels lifts the cap of copy-move inside a panel.
        cap = 1.0 if row["case_id"] in reused else MAX_FRACTION
        assert inst.shape[0] >= 1 and MIN_FRACTION <= inst.any(axis=0).mean() <= cap


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


def test_photo_sources_are_scientific_and_do_not_repeat_themselves() -> None:
    # Self-repeating textures put genuine duplicates into authentic figures; everyday
    # pictures do not look like figures of a paper.
    banned = {"grass", "brick", "gravel", "hubble_deep_field", "coffee", "camera", "astronaut"}
    assert not banned & set(PHOTO_SOURCES)
    assert len(PHOTO_SOURCES) >= 3


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_compound_figures_never_show_one_photo_crop_twice() -> None:
    shown = 0
    for i in range(12):
        # Many panels of photos: more than there are sources, so crops must be disjoint.
        rng = np.random.default_rng([13, i])
        taken: dict = {}
        crops = []
        for _ in range(12):
            panel = render_photo_from(rng, 60, 80, taken)
            if panel is not None:
                crops += panel.sources
        names = [n for n, _ in crops]
        assert len(names) > len(PHOTO_SOURCES), "sources are reused, but only disjointly"
        for j, (n1, b1) in enumerate(crops):
            for n2, b2 in crops[j + 1 :]:
                assert n1 != n2 or not _overlap(b1, b2)
    for i in range(40):
        panel, _ = render_compound(np.random.default_rng([14, i]), 300, 500)
        shown += len(panel.sources)
        for j, (n1, b1) in enumerate(panel.sources):
            for n2, b2 in panel.sources[j + 1 :]:
                assert n1 != n2 or not _overlap(b1, b2)
    assert shown >= 3


def test_textures_are_smooth_not_blocky() -> None:
    # Nearest-neighbour enlargement leaves runs of equal pixels ending at a fixed period;
    # smooth interpolation changes a little at every pixel.
    noise = smooth_noise(np.random.default_rng(0), 256, 256, 16.0)
    step = np.abs(np.diff(noise, axis=1))
    assert (step < 1e-6).mean() < 0.01
    for i in range(4):
        img = render_fluorescence(np.random.default_rng([15, i]), 256, 256).image
        g = cv2.GaussianBlur(img.astype(np.float32).mean(axis=2), (0, 0), 0.7)
        dx = np.abs(np.diff(g, axis=1)).mean(axis=0)
        for period in range(2, 17):
            phases = [dx[p::period].mean() for p in range(period)]
            assert max(phases) < 2.0 * np.mean(phases) + 0.05, f"blocks of {period} px"


def test_forgery_sources_are_never_mostly_text_or_background() -> None:
    checked = 0
    for kind in ("chart", "flow_cytometry", "western_blot", "compound", "fluorescence"):
        for i in range(8):
            case = make_case(np.random.default_rng([16, i]), kind=kind, min_side=96, max_side=320)
            panel_text = None
            img = case.authentic
            for k, inst in enumerate(case.meta["instances"]):
                y0, x0, y1, x1 = inst["source_box"]
                src = case.masks[k][y0:y1, x0:x1]
                if panel_text is None:
                    panel_text = _text_of(kind, i)
                text_share = panel_text[y0:y1, x0:x1][src].mean()
                assert text_share <= 0.25, f"{kind} {i}: source is {text_share:.0%} text"
                region = img[y0:y1, x0:x1].astype(np.float32)
                assert region.reshape(-1).std() > 3.0, f"{kind} {i}: flat source"
                checked += 1
    assert checked >= 40


def _text_of(kind: str, i: int) -> np.ndarray:
    """The text mask of the figure make_case draws first for (kind, seed [16, i])."""
    from forgeseg.synth.case import _size

    rng = np.random.default_rng([16, i])
    h, w = _size(rng, kind, 96, 320)
    panel = render_compound(rng, h, w)[0] if kind == "compound" else render_single(rng, kind, h, w)
    return panel.annotations if panel.annotations is not None else np.zeros((h, w), bool)


def test_plain_map_marks_text_and_blank_paper() -> None:
    img = np.full((120, 160, 3), 255, np.uint8)
    text = np.zeros((120, 160), bool)
    draw_text(img, "p-AKT", (10, 40), 0.8, (0, 0, 0), 1, text)
    img[70:110, 90:150] = (200, 60, 50)  # a flat red bar: content, not background
    plain = plain_map(img, [(0, 0, 120, 160)], text)
    assert text.any() and (plain[text] == 2).all()
    assert plain[5, 150] == 1 and plain[90, 120] == 0


def _die(code: int) -> None:
    os._exit(code)  # as if the OOM killer took the worker


def test_parallel_failures_raise_instead_of_hanging(tmp_path: Path) -> None:
    with pytest.raises(ForgesegError, match="died"):
        run_parallel(_die, [3, 3, 3], ["1", "2", "3"], 2, tmp_path)
    start = time.perf_counter()
    with pytest.raises(ForgesegError, match="case 7 produced nothing"):
        run_parallel(time.sleep, [30, 30], ["7", "8"], 2, tmp_path, timeout=2)
    assert time.perf_counter() - start < 20
    with pytest.raises(ForgesegError, match="case 5 failed: ValueError"):
        run_parallel(math.sqrt, [4.0, -1.0], ["4", "5"], 2, tmp_path)
    assert run_parallel(math.sqrt, [4.0, 9.0, 16.0], ["a", "b", "c"], 2, tmp_path) == [2, 3, 4]
