"""matchers.registry and matchers.base: the matchers by name, and one result from several."""

from __future__ import annotations

import numpy as np
import pytest

from forgeseg.config.matchers import DenseConfig, SiftConfig
from forgeseg.config.sections import DetectConfig
from forgeseg.core.errors import ParamsError
from forgeseg.matchers import REGISTRY, MatchResult, get_matcher, merge_results
from forgeseg.matchers.base import (
    Transform,
    assemble_result,
    gutter_share,
    in_gutter,
    structure_masks,
    working_scale,
)
from forgeseg.panels import Panel, Structure


def _result(boxes: list[tuple[int, int, int, int]], support: list[int]) -> MatchResult:
    inst = np.zeros((len(boxes), 40, 40), bool)
    for i, (y0, x0, y1, x1) in enumerate(boxes):
        inst[i, y0:y1, x0:x1] = True
    return MatchResult(
        inst, list(support), n_matches=10 * len(boxes), score=max(support, default=0)
    )


def _transform(support: int) -> Transform:
    pts = np.zeros((1, 2), np.float32)
    return Transform(np.eye(2, 3), support, 1.0, 1.0, 0.0, False, pts, pts)


def test_registry_names_each_matcher_and_its_settings() -> None:
    assert list(REGISTRY) == ["sift", "dense", "pairs"]
    sift, dense = get_matcher("sift"), get_matcher("dense")
    assert (sift.config_class, dense.config_class) == (SiftConfig, DenseConfig)
    cfg = DetectConfig()
    assert sift.settings(cfg) is cfg.sift and dense.settings(cfg) is cfg.dense
    image = np.full((64, 64, 3), 128, np.uint8)
    for m in (sift, dense):
        res = m.detect(image, m.settings(cfg))
        assert isinstance(res, MatchResult) and res.instances.shape == (0, 64, 64)
        # The detector hands every matcher that asks for it the figure's structure.
        assert m.uses_structure
        res = m.detect(image, m.settings(cfg), Structure.whole((64, 64)))
        assert isinstance(res, MatchResult) and res.instances.shape == (0, 64, 64)


@pytest.mark.parametrize(
    ("shape", "max_side", "min_side", "want"),
    [
        ((300, 400), 1280, 512, 512 / 400),  # small: upscaled so its long side is min_side
        ((300, 2560), 1280, 512, 0.5),  # large: downscaled to max_side
        ((600, 800), 1280, 512, 1.0),  # in between: as it is
        ((300, 400), 640, 0, 1.0),  # min_side 0: never upscaled (the dense matcher)
        ((1280, 640), 640, 0, 0.5),
    ],
)
def test_working_scale_bounds_the_long_side(
    shape: tuple[int, int], max_side: int, min_side: int, want: float
) -> None:
    assert working_scale(*shape, max_side, min_side) == want


def test_unknown_matcher_is_a_params_error_naming_the_key_and_the_choices() -> None:
    with pytest.raises(ParamsError, match=r"detect\.matchers.*'orb'.*sift, dense"):
        get_matcher("orb")


def test_overlapping_findings_of_two_matchers_become_one_instance() -> None:
    sift = _result([(0, 0, 10, 10)], [6])
    dense = _result([(2, 2, 10, 10), (20, 20, 30, 30)], [15, 40])
    dense.transforms = [[_transform(15)], [_transform(40)]]
    both = merge_results([sift, dense], (40, 40))
    assert both.instances.shape[0] == 2
    assert both.support == [21, 40]  # 6 + 15 for the shared copy-move
    assert both.score == 40.0
    assert both.n_matches == 30
    assert [[t.support for t in tr] for tr in both.transforms] == [[15], [40]]


def test_one_matchers_findings_are_kept_as_they_are() -> None:
    sift = _result([(0, 0, 10, 10)], [6])
    assert merge_results([sift, _result([], [])], (40, 40)) is sift


def test_nothing_found_gives_an_empty_result_of_the_right_shape() -> None:
    empty = merge_results([_result([], []), _result([], [])], (40, 40))
    assert empty.instances.shape == (0, 40, 40) and empty.score == 0.0 and empty.support == []


def test_assemble_result_groups_overlapping_masks_and_combines_their_support() -> None:
    small = np.zeros((20, 20), bool)
    a, b, c = small.copy(), small.copy(), small.copy()
    a[0:10, 0:10] = True
    b[5:15, 5:15] = True  # overlaps a
    c[16:20, 16:20] = True  # 16 px at working scale, 64 at full size
    found = [(a, _transform(9)), (b, _transform(7)), (c, _transform(5))]
    kw = {"merge_overlap": 0.2, "n_matches": 50, "n_keypoints": 80, "scale": 0.5}
    res = assemble_result(found, (40, 40), min_area=0, combine=sum, **kw)
    assert res.instances.shape == (2, 40, 40)
    assert res.support == [16, 5] and res.score == 16.0
    assert res.instances[0].sum() == 4 * (a | b).sum()
    assert assemble_result(found, (40, 40), min_area=0, combine=max, **kw).support == [9, 5]
    # Too small instances go, with their transforms.
    res = assemble_result(found, (40, 40), min_area=100, combine=sum, **kw)
    assert res.support == [16] and len(res.transforms) == 1


def test_a_copy_is_in_the_gutter_when_its_source_or_its_copy_mostly_is() -> None:
    gutter = np.zeros((40, 40), bool)
    gutter[:, 20:] = True  # the right half lies outside every panel
    inside = np.array([[2.0, 2.0], [5.0, 8.0], [10.0, 3.0]], np.float32)
    outside = inside + np.float32(25.0)
    assert gutter_share(inside, gutter) == 0.0 and gutter_share(outside, gutter) == 1.0
    off = np.array([[-3.0, 5.0], [50.0, 5.0]], np.float32)  # off the figure counts as gutter
    assert gutter_share(off, gutter) == 1.0
    tr = _transform(5)
    tr.src_points, tr.dst_points = inside, outside
    assert in_gutter(tr, gutter, 0.5)
    assert not in_gutter(tr, gutter, 1.0)
    assert not in_gutter(tr, None, 0.5)
    tr.dst_points = np.concatenate([inside[:2], outside[:1]])  # a third of the copy
    assert not in_gutter(tr, gutter, 0.5)


def test_structure_masks_give_the_gutter_only_where_panels_leave_one() -> None:
    text = np.zeros((40, 40), bool)
    text[2:5, 2:9] = True
    whole = Structure((Panel((0, 0, 40, 40)),), text)
    got, gutter = structure_masks(whole, (40, 40))
    assert np.array_equal(got, text) and gutter is None
    assert structure_masks(Structure((), text), (40, 40))[1] is None
    two = Structure((Panel((0, 0, 18, 40)), Panel((22, 0, 40, 40))), text)
    _, gutter = structure_masks(two, (40, 40))
    assert gutter is not None and gutter.sum() == 4 * 40 and gutter[:, 18:22].all()
    with pytest.raises(ValueError, match="text_mask"):
        structure_masks(whole, (40, 41))
