"""Reuse between panels: the four kinds, their masks on both sides, and their twins."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from forgeseg.core.errors import ParamsError
from forgeseg.synth import generate_dataset, make_case
from forgeseg.synth.reuse import REUSE_KINDS
from forgeseg.synth.reuse_look import Look, warp

SIZES = {"min_side": 160, "max_side": 420}


def _reuse_cases(n: int, seed: int, **kw):
    for i in range(n):
        yield make_case(np.random.default_rng([seed, i]), reuse_fraction=1.0, **{**SIZES, **kw})


def _panel_of(box, rects) -> int:
    y0, x0, y1, x1 = box
    inside = [
        k for k, (a, b, c, d) in enumerate(rects) if a <= y0 and b <= x0 and y1 <= c and x1 <= d
    ]
    assert len(inside) == 1, (box, rects)
    return inside[0]


def test_every_kind_occurs_with_masks_on_both_panels() -> None:
    kinds: Counter = Counter()
    transforms: set = set()
    for case in _reuse_cases(40, seed=1, post_effects=False):
        rects = [(r[3], r[2], r[5], r[4]) for r in case.structure if r[0] == "panel"]
        assert case.meta["kind"] == "compound" and 1 <= case.masks.shape[0] <= 2
        assert case.masks.shape[0] == len(case.meta["instances"])
        for m, inst in zip(case.masks, case.meta["instances"], strict=True):
            kinds[inst["reuse"]] += 1
            transforms |= set(inst["transforms"])
            src = _panel_of(inst["source_box"], rects)
            dst = _panel_of(inst["copies"][0], rects)
            assert src != dst and (src, dst) == (inst["source_panel"], inst["target_panel"])
            # The channel marks both sides, and nothing outside the two panels.
            for k in (src, dst):
                y0, x0, y1, x1 = rects[k]
                assert m[y0:y1, x0:x1].any()
            own = np.zeros_like(m)
            for y0, x0, y1, x1 in (rects[src], rects[dst]):
                own[y0:y1, x0:x1] = True
            assert not (m & ~own).any()
        # Only the target panels change between the twins (up to the 16x16 JPEG blocks,
        # chroma subsampled, that touch them when the whole figure was compressed after).
        targets = np.zeros(case.masks.shape[1:], bool)
        for inst in case.meta["instances"]:
            y0, x0, y1, x1 = rects[inst["target_panel"]]
            # Chroma upsampling reaches a pixel into the next block, hence the margin.
            targets[
                max(0, y0 // 16 * 16 - 2) : -(-y1 // 16) * 16 + 2,
                max(0, x0 // 16 * 16 - 2) : -(-x1 // 16) * 16 + 2,
            ] = True
        assert np.array_equal(case.forged[~targets], case.authentic[~targets])
        assert not np.array_equal(case.forged[targets], case.authentic[targets])
    assert set(kinds) == set(REUSE_KINDS), kinds
    assert {"hflip", "rot180", "scale", "brightness", "jpeg"} <= transforms


def test_an_exact_duplicate_equals_its_turned_source() -> None:
    checked = 0
    for case in _reuse_cases(120, seed=2, post_effects=False):
        for m, inst in zip(case.masks, case.meta["instances"], strict=True):
            if inst["reuse"] not in ("duplicated_panel", "panel_part") or not inst["exact"]:
                continue
            g = inst["geometry"]
            y0, x0, y1, x1 = inst["source_box"]
            cy0, cx0, cy1, cx1 = inst["copies"][0]
            look = Look(flip=g["flip"], rot90=g["rot90"])
            src = case.authentic[y0:y1, x0:x1]
            smask = m[y0:y1, x0:x1]
            want = warp(src, look, (cy1 - cy0, cx1 - cx0))
            wmask = warp(smask, look, (cy1 - cy0, cx1 - cx0), mask=True)
            got = case.forged[cy0:cy1, cx0:cx1]
            # The copy's mask follows the geometry; its pixels equal the source's there,
            # except under the letter and scale bar drawn on top of the target panel.
            assert np.array_equal(wmask, m[cy0:cy1, cx0:cx1])
            assert np.mean(got[wmask] == want[wmask]) > 0.9
            checked += 1
    assert checked >= 3


def test_authentic_figures_of_reuse_layouts_repeat_nothing() -> None:
    # The authentic figure has distinct panels: no panel equals another one.
    for case in _reuse_cases(20, seed=3, forged=False, post_effects=False):
        assert case.forged is None and case.masks.shape[0] == 0
        img = case.authentic
        rects = [(r[3], r[2], r[5], r[4]) for r in case.structure if r[0] == "panel"]
        assert len(rects) >= 2
        crops = [
            img[y0 + 5 : y1 - 5, x0 + 5 : x1 - 5].astype(np.float32) for y0, x0, y1, x1 in rects
        ]
        for i, a in enumerate(crops):
            for b in crops[i + 1 :]:
                if a.shape == b.shape and a.std() > 3:
                    assert np.abs(a - b).mean() > 3.0


def test_reuse_fraction_is_checked_and_zero_keeps_the_stream() -> None:
    with pytest.raises(ParamsError, match="reuse_fraction"):
        make_case(np.random.default_rng(0), reuse_fraction=1.5)
    a = make_case(np.random.default_rng(4), **SIZES)
    b = make_case(np.random.default_rng(4), reuse_fraction=0.0, **SIZES)
    assert np.array_equal(a.forged, b.forged) and a.meta == b.meta


def test_meta_csv_names_the_reuse_of_each_instance(tmp_path: Path) -> None:
    root = tmp_path / "data"
    generate_dataset(root, n=20, seed=5, n_test=12, min_side=128, max_side=320, progress=False)
    with open(root / "meta.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    forged = [r for r in rows if r["label"] == "forged"]
    reused = [r for r in forged if r["reuse"]]
    assert 0.25 <= len(reused) / len(forged) <= 0.75  # reuse_fraction 0.5 by default
    for r in reused:
        kinds = r["reuse"].split(";")
        assert r["kind"] == "compound" and len(kinds) == int(r["n_instances"])
        assert set(kinds) <= set(REUSE_KINDS)
    assert all(not r["reuse"] for r in rows if r["label"] == "authentic")
    # Authentic test figures are compound as often as forged ones, so the layout alone
    # does not tell the label.
    test = [r for r in rows if r["subset"] == "test"]
    assert any(r["kind"] == "compound" for r in test if r["label"] == "authentic")
