"""The structure net's shapes, its targets and their decoding back into panels and text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forgeseg.config.panels import PanelsConfig
from forgeseg.core.errors import ParamsError
from forgeseg.panels.learned import decode, prepare
from forgeseg.panels.metrics import box_iou
from forgeseg.panels.net import CORE, INTERIOR, N_MAPS, TEXT, StructureNet
from forgeseg.panels.structure import PANEL_CLASSES, Panel, Structure
from forgeseg.panels.train import targets, truth_from_rows


def _figure() -> tuple[np.ndarray, Structure]:
    """A (150, 300) figure of three panels side by side, a caption line under them."""
    img = np.full((150, 300, 3), 255, np.uint8)
    boxes = [(4, 4, 96, 120), (100, 4, 196, 120), (204, 4, 296, 120)]
    for x0, y0, x1, y1 in boxes:
        img[y0:y1, x0:x1] = 90
    text = np.zeros((150, 300), bool)
    text[128:140, 20:160] = True
    img[text] = 0
    classes = ("blot", "microscopy", "chart")
    return img, Structure(tuple(Panel(b, c) for b, c in zip(boxes, classes, strict=True)), text)


def test_output_holds_maps_and_class_logits_at_input_size() -> None:
    net = StructureNet((8, 12, 16))
    out = net(torch.zeros(2, 4, 64, 64))
    assert out.shape == (2, N_MAPS + len(PANEL_CLASSES), 64, 64)


@pytest.mark.parametrize("size", [64, 96])
def test_perfect_maps_decode_into_the_true_panels_and_text(size: int) -> None:
    img, truth = _figure()
    x, lb = prepare(img, size)
    assert x.shape == (4, size, size)
    t = targets(truth, lb)
    # Logits that say exactly what the targets say: decoding them must give the truth back.
    logits = torch.full((N_MAPS + len(PANEL_CLASSES), size, size), -20.0)
    logits[CORE] = torch.from_numpy(t["core"] * 40.0 - 20.0)
    logits[INTERIOR] = torch.from_numpy(t["interior"] * 40.0 - 20.0)
    logits[TEXT] = torch.from_numpy((t["text"] > 127) * 40.0 - 20.0)
    cls = torch.from_numpy(t["cls"].astype(np.int64))
    for k in range(len(PANEL_CLASSES)):
        logits[N_MAPS + k][cls == k] = 20.0
    panels, text = decode(logits, lb, PanelsConfig(size=size))
    assert [p.cls for p in panels] == [p.cls for p in truth.panels]
    for pred, true in zip(panels, truth.panels, strict=True):
        assert box_iou(pred.box, true.box) > 0.85, (pred.box, true.box)
    assert text.shape == (150, 300)
    inter = (text & truth.text_mask).sum()
    assert 2 * inter / (text.sum() + truth.text_mask.sum()) > 0.8


def test_cores_of_panels_a_gutter_apart_do_not_touch() -> None:
    img, truth = _figure()
    _, lb = prepare(img, 64)
    t = targets(truth, lb)
    # At 64 px the 4 px gutter is about one input pixel: interiors nearly touch, cores
    # stay apart, which is why panels are read from the cores.
    import cv2

    n_core, _ = cv2.connectedComponents(t["core"], connectivity=4)
    assert n_core - 1 == 3
    assert t["core"].sum() < t["interior"].sum()
    assert set(np.unique(t["cls"])) == {-1, 0, 1, 2}


def test_truth_rows_become_panels_and_a_box_mask() -> None:
    rows = [("panel", "blot", 0, 0, 10, 8), ("letter", "", 1, 1, 3, 4), ("text", "", 5, 6, 9, 8)]
    s = truth_from_rows(rows, (8, 10))
    assert s.panels == (Panel((0, 0, 10, 8), "blot"),)
    assert s.text_mask.sum() == 2 * 3 + 4 * 2


def test_settings_errors_name_the_full_key() -> None:
    with pytest.raises(ParamsError, match=r"panels\.size must be a multiple of 32"):
        PanelsConfig(size=100)
    with pytest.raises(ParamsError, match=r"panels\.channels"):
        PanelsConfig(channels=(16,))
    with pytest.raises(ParamsError, match=r"panels\.method must be one of learned, classical"):
        PanelsConfig.from_mapping({"method": "magic"})
