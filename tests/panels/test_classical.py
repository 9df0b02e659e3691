"""The classical panel finder on generated figures whose structure is known."""

from __future__ import annotations

import cv2
import numpy as np

from forgeseg.panels import find_panels, structure_scores
from forgeseg.panels.classical import classify_panel
from forgeseg.panels.structure import Panel, Structure
from forgeseg.synth.compound import render_compound
from forgeseg.synth.kinds import render_single
from forgeseg.synth.layout import structure_rows


def _truth(panel) -> Structure:
    rows = structure_rows(panel.layout, panel.annotations)
    h, w = panel.image.shape[:2]
    text = np.zeros((h, w), bool)
    panels = []
    for kind, cls, x0, y0, x1, y1 in rows:
        if kind == "panel":
            panels.append(Panel((x0, y0, x1, y1), cls))
        else:
            text[y0:y1, x0:x1] = True
    return Structure(tuple(panels), text)


def test_grid_panels_are_found_at_their_gutters() -> None:
    pairs = []
    for i in range(12):
        panel, _ = render_compound(np.random.default_rng([31, i]), 360, 520)
        pairs.append((find_panels(panel.image), _truth(panel)))
    s = structure_scores(pairs)
    assert s["panel_recall"] >= 0.6 and s["panel_precision"] >= 0.6, s
    assert s["text_f1"] >= 0.25, s


def test_a_white_grid_of_two_flat_panels_is_cut_in_two() -> None:
    img = np.full((100, 210, 3), 255, np.uint8)
    img[5:95, 5:100] = 40
    img[5:95, 110:205] = 60
    st = find_panels(img)
    assert sorted(p.box for p in st.panels) == [(5, 5, 100, 95), (110, 5, 205, 95)]


def test_a_thin_gutter_greyed_by_blur_and_jpeg_still_cuts() -> None:
    # Two dark panels 2 px apart: blur and JPEG ringing leave the gutter far from white
    # all along, but lighter than the panels on both sides.
    img = np.full((100, 204, 3), 255, np.uint8)
    rng = np.random.default_rng(4)
    img[4:96, 4:100] = rng.integers(0, 60, (92, 96, 3), dtype=np.uint8)
    img[4:96, 102:200] = rng.integers(0, 60, (92, 98, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    img = cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])[1], 1)
    assert np.abs(img[4:96, 100:102].astype(int) - 255).max(axis=2).mean() > 24  # not white
    boxes = sorted(p.box for p in find_panels(img).panels)
    assert len(boxes) == 2 and boxes[0][2] <= 101 and boxes[1][0] >= 101, boxes


def test_classes_from_pixel_statistics() -> None:
    rng = np.random.default_rng(0)
    assert classify_panel(render_single(rng, "fluorescence", 160, 200).image) == "microscopy"
    assert classify_panel(render_single(rng, "histology", 160, 200).image) == "microscopy"
    assert classify_panel(render_single(rng, "chart", 200, 240).image) == "chart"
    # Light western blots and dark gels alike: soft horizontal bands.
    blots = [
        classify_panel(render_single(np.random.default_rng([1, i]), kind, 120, 260).image)
        for i in range(6)
        for kind in ("western_blot", "gel")
    ]
    assert blots.count("blot") >= 11, blots


def test_a_piece_of_a_bar_chart_cut_off_its_axes_is_a_chart() -> None:
    # The cut may split a bar chart between its groups of bars: coloured, not paper-white
    # in the median, but a few flat colours on white, not a stained section.
    img = np.full((90, 70, 3), 255, np.uint8)
    for x0, colour in ((6, (50, 90, 200)), (26, (150, 80, 170)), (46, (200, 60, 50))):
        img[30:88, x0 : x0 + 18] = colour
        img[30:88, x0 : x0 + 18][[0, -1]] = 0
    assert classify_panel(img) == "chart"
