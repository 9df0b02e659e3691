"""sift and dense given the figure's structure: the text mask (panel letters, labels, scale
bars) takes legitimately repeated glyphs out of matching, and no copy may lie in a gutter,
while a genuine copy inside one panel is still found.

Every figure is four panels of distinct content on a white grid, each with its letter, a
row label ("Bcl-2" in two panels, "GAPDH" in the other two) and the same scale bar, drawn
as the generator draws them (``forgeseg.synth.canvas``), so their pixels repeat exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from forgeseg.config.matchers import DenseConfig, SiftConfig
from forgeseg.core.errors import ParamsError
from forgeseg.matchers.dense import Reason, Verdict
from forgeseg.matchers.dense import detect as dense
from forgeseg.matchers.sift import detect as sift
from forgeseg.panels import Panel, Structure, find_panels
from forgeseg.synth.canvas import draw_scale_bar, draw_text
from forgeseg.synth.kinds import render_single

REPO = Path(__file__).resolve().parents[2]
GUTTER, PH, PW = 8, 110, 150  # gutter and panel size (px)
LABELS = ("Bcl-2", "GAPDH", "Bcl-2", "GAPDH")

Box = tuple[int, int, int, int]  # y, x, h, w in a panel's pixels


def _origin(k: int) -> tuple[int, int]:
    """(y0, x0) of panel ``k`` (0-3, row by row) in the figure."""
    r, c = divmod(k, 2)
    return GUTTER + r * (PH + GUTTER), GUTTER + c * (PW + GUTTER)


@dataclass(frozen=True)
class Copy:
    """A box ``src`` of panel ``k`` pasted ``(dy, dx)`` away in the same panel."""

    k: int
    src: Box
    dy: int
    dx: int

    def truth(self, shape: tuple[int, int]) -> np.ndarray:
        """bool (H, W): the source and the copy in the figure."""
        y0, x0 = _origin(self.k)
        y, x, h, w = self.src
        out = np.zeros(shape, bool)
        for oy, ox in ((y0 + y, x0 + x), (y0 + y + self.dy, x0 + x + self.dx)):
            out[oy : oy + h, ox : ox + w] = True
        return out


def _figure(kind: str, seed: int, copy: Copy | None = None) -> tuple[np.ndarray, Structure]:
    """Four ``kind`` panels (PH, PW) labelled on a white grid: (uint8 (H, W, 3) figure, its
    true structure: the panel boxes and the boxes of every letter, label and scale bar),
    with ``copy`` pasted before the panels are labelled."""
    rng = np.random.default_rng(seed)
    tiles = [render_single(rng, kind, PH, PW).image for _ in range(4)]
    if copy is not None:
        y, x, h, w = copy.src
        ty, tx, tile = y + copy.dy, x + copy.dx, tiles[copy.k]
        tile[ty : ty + h, tx : tx + w] = tile[y : y + h, x : x + w]
    img = np.full((GUTTER + 2 * (PH + GUTTER), GUTTER + 2 * (PW + GUTTER), 3), 255, np.uint8)
    text = np.zeros(img.shape[:2], bool)
    panels = []
    for k, (tile, label) in enumerate(zip(tiles, LABELS, strict=True)):
        y0, x0 = _origin(k)
        mark = text[y0 : y0 + PH, x0 : x0 + PW]  # a view: the marks land in ``text``
        ink = (255, 255, 255) if tile.mean() < 128 else (0, 0, 0)
        draw_text(tile, "abcd"[k], (4, 18), 0.6, ink, 2, mark)
        draw_text(tile, label, (40, 20), 0.6, ink, 1, mark)
        # The same generator state in every panel: pixel-identical bars and "N um" labels.
        draw_scale_bar(tile, np.random.default_rng(7), record=mark, color=ink)
        img[y0 : y0 + PH, x0 : x0 + PW] = tile
        panels.append(Panel((x0, y0, x0 + PW, y0 + PH)))
    return img, Structure(tuple(panels), text)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


MATCHERS = {"sift": sift, "dense": dense}
# Blots: the labels and bars are what both matchers match without the structure.
LABELLED = ("western_blot", 0)
# Copies each matcher finds without the structure: a 60 px square of tissue (SIFT), one
# blot band's box (dense; a band is too small for SIFT and dense is quicker on blots).
COPIES = {
    "sift": (("histology", 1), Copy(3, (25, 3, 60, 60), PH - 88, PW - 66)),
    "dense": (("western_blot", 0), Copy(1, (75, 10, 24, 40), -30, 60)),
}


def test_repeated_letters_labels_and_scale_bars_are_silent_given_the_structure() -> None:
    img, truth = _figure(*LABELLED)
    classical = find_panels(img)
    assert len(classical.panels) == 4
    panels_only = Structure(truth.panels, np.zeros_like(truth.text_mask))
    for name, detect in MATCHERS.items():
        # Without the text mask the repeated glyphs are what the matcher reports: every
        # instance's source points lie on the text.
        bare = detect(img, None, panels_only)
        assert bare.instances.shape[0] >= 1, name
        for trs in bare.transforms:
            for tr in trs:
                xy = np.rint(tr.src_points).astype(int)
                assert truth.text_mask[xy[:, 1], xy[:, 0]].mean() > 0.9, name
        for structure in (truth, classical):
            res = detect(img, None, structure)
            assert res.instances.shape == (0, *img.shape[:2]), name


@pytest.mark.parametrize("name", list(MATCHERS))
def test_a_copy_inside_one_panel_is_still_found_given_the_structure(name: str) -> None:
    (kind, seed), copy = COPIES[name]
    img, truth = _figure(kind, seed, copy)
    want = copy.truth(img.shape[:2])
    for structure in (truth, find_panels(img)):
        res = MATCHERS[name](img, None, structure)
        assert res.instances.shape[0] == 1, name
        assert _iou(res.instances[0], want) > 0.5


@pytest.mark.parametrize("name", list(MATCHERS))
def test_a_copy_in_a_gutter_is_not_reported(name: str) -> None:
    # A structure that leaves the copy's panel out: source and copy lie wholly outside
    # every panel, where a figure holds only white space, rules and labels.
    (kind, seed), copy = COPIES[name]
    img, truth = _figure(kind, seed, copy)
    partial = Structure(
        tuple(p for k, p in enumerate(truth.panels) if k != copy.k), truth.text_mask
    )
    trace: list[Verdict] = []
    kwargs = {"trace": trace} if name == "dense" else {}
    assert MATCHERS[name](img, None, partial, **kwargs).instances.shape[0] == 0
    if name == "dense":  # its trace names the rule
        assert Reason.MAX_GUTTER_SHARE in {v.outcome for v in trace}
        assert Reason.FOUND not in {v.outcome for v in trace}
    # With the rule off the same copy counts again: the gutter is what stopped it.
    config = {"sift": SiftConfig, "dense": DenseConfig}[name]
    loose = MATCHERS[name](img, config(max_gutter_share=1.0), partial)
    assert loose.instances.shape[0] == 1


@pytest.mark.parametrize("name", list(MATCHERS))
def test_a_text_mask_of_another_size_is_a_clear_error(name: str) -> None:
    img = np.full((64, 80, 3), 128, np.uint8)
    wrong = Structure((Panel((0, 0, 80, 64)),), np.zeros((64, 81), bool))
    with pytest.raises(ValueError, match="text_mask"):
        MATCHERS[name](img, None, wrong)


def test_structure_settings_are_checked_and_written_in_params_yaml() -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())["detect"]
    for config, keys in (
        (SiftConfig, ("use_structure", "text_dilate_px", "max_gutter_share")),
        (DenseConfig, ("use_structure", "max_text_share", "max_gutter_share")),
    ):
        written = params[config.KEY.split(".")[-1]]
        assert {k: written[k] for k in keys} == {k: getattr(config(), k) for k in keys}
        assert config.from_mapping({"use_structure": False}).use_structure is False
        with pytest.raises(ParamsError, match=rf"{config.KEY}\.use_structure"):
            config.from_mapping({"use_structure": "yes"})
        with pytest.raises(ParamsError, match=rf"{config.KEY}\.max_gutter_share"):
            config.from_mapping({"max_gutter_share": 1.5})
    with pytest.raises(ParamsError, match=r"detect\.sift\.text_dilate_px"):
        SiftConfig.from_mapping({"text_dilate_px": -1})
    with pytest.raises(ParamsError, match=r"detect\.sift\.text_dilate_px"):
        SiftConfig.from_mapping({"text_dilate_px": 2.5})
    with pytest.raises(ParamsError, match=r"detect\.dense\.max_text_share"):
        DenseConfig.from_mapping({"max_text_share": -0.1})
