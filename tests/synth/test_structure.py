"""structure.csv: the truth of every generated figure's panels, text, letters and scale bars."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgeseg.panels import PANEL_CLASSES, STRUCTURE_KINDS
from forgeseg.synth import generate_dataset
from forgeseg.synth.compound import render_compound
from forgeseg.synth.layout import structure_rows

COLUMNS = ["image", "kind", "cls", "x0", "y0", "x1", "y1"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("structure") / "data"
    generate_dataset(
        out, n=16, seed=21, n_test=10, n_supplemental=2, min_side=96, max_side=320, progress=False
    )
    return out


def _rows(root: Path) -> list[dict[str, str]]:
    with open(root / "structure.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def test_every_written_figure_has_its_structure(root: Path) -> None:
    rows = _rows(root)
    figures = {str(p.relative_to(root)) for p in root.rglob("*.png")}
    by_image = defaultdict(list)
    for r in rows:
        by_image[r["image"]].append(r)
    assert set(by_image) == figures  # train (forged and authentic), supplemental and test
    for image, boxes in by_image.items():
        w, h = Image.open(root / image).size
        panels = [b for b in boxes if b["kind"] == "panel"]
        assert panels, image
        for b in boxes:
            assert b["kind"] in STRUCTURE_KINDS
            assert (b["cls"] in PANEL_CLASSES) == (b["kind"] == "panel"), b
            x0, y0, x1, y1 = (int(b[k]) for k in ("x0", "y0", "x1", "y1"))
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, (image, b)
        # Panels of one figure never overlap: they are cells of a grid with gutters.
        rects = [tuple(int(p[k]) for k in ("x0", "y0", "x1", "y1")) for p in panels]
        for i, a in enumerate(rects):
            for c in rects[i + 1 :]:
                assert a[2] <= c[0] or c[2] <= a[0] or a[3] <= c[1] or c[3] <= a[1]


def test_compound_figures_have_letters_per_panel_and_classes_of_their_panels(root: Path) -> None:
    rows = _rows(root)
    with open(root / "meta.csv", newline="") as fh:
        kinds = {(r["subset"], r["case_id"], r["label"]): r["kind"] for r in csv.DictReader(fh)}
    per_image = defaultdict(lambda: defaultdict(int))
    for r in rows:
        per_image[r["image"]][r["kind"]] += 1
    compound = 0
    for (subset, cid, label), kind in kinds.items():
        folder = {"train": f"train_images/{label}", "supplemental": "supplemental_images"}
        image = f"{folder.get(subset, 'test_images')}/{cid}.png"
        counts = per_image[image]
        if kind == "compound" and counts["panel"] > 1:
            compound += 1
            assert counts["letter"] == counts["panel"], image
        elif kind != "compound":
            assert counts["panel"] == 1 and counts["letter"] == 0, image
    assert compound >= 2
    classes = {r["cls"] for r in rows if r["kind"] == "panel"}
    assert {"blot", "microscopy", "chart"} <= classes


def test_boxes_cover_the_drawn_text_and_letters_sit_in_their_panels() -> None:
    for i in range(12):
        panel, rects = render_compound(np.random.default_rng([22, i]), 240, 360)
        rows = structure_rows(panel.layout, panel.annotations)
        covered = np.zeros(panel.image.shape[:2], bool)
        for kind, _cls, x0, y0, x1, y1 in rows:
            if kind != "panel":
                covered[y0:y1, x0:x1] = True
        # Every pixel the renderer marked as text, letter or scale bar is in a box.
        assert not (panel.annotations & ~covered).any()
        panels = [r for r in rows if r[0] == "panel"]
        assert [(y0, x0, y1, x1) for _, _, x0, y0, x1, y1 in panels] == rects
        letters = [r for r in rows if r[0] == "letter"]
        assert len(letters) == len(panels)
        grey = panel.image.astype(np.float32).mean(axis=2)
        for _, _, x0, y0, x1, y1 in letters:
            # Inside a panel, and holding the ink of the letter (dark on white or white on dark).
            assert any(p[2] <= x0 and p[3] <= y0 and x1 <= p[4] and y1 <= p[5] for p in panels)
            assert np.ptp(grey[y0:y1, x0:x1]) > 60
        for _, _, x0, y0, x1, y1 in (r for r in rows if r[0] == "scalebar"):
            assert any(p[2] <= x0 and p[3] <= y0 and x1 <= p[4] and y1 <= p[5] for p in panels)


def test_twins_share_one_structure(root: Path) -> None:
    by_image = defaultdict(list)
    for r in _rows(root):
        by_image[r["image"]].append([r[k] for k in COLUMNS[1:]])
    twins = [i for i in by_image if i.startswith("train_images/authentic/")]
    assert twins
    for image in twins:
        assert by_image[image] == by_image[image.replace("/authentic/", "/forged/")]
