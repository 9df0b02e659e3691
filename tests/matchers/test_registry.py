"""matchers.registry and matchers.base: the matchers by name, and one result from several."""

from __future__ import annotations

import numpy as np
import pytest

from forgeseg.config.matchers import DenseConfig, SiftConfig
from forgeseg.config.sections import DetectConfig
from forgeseg.core.errors import ParamsError
from forgeseg.matchers import REGISTRY, MatchResult, get_matcher, merge_results
from forgeseg.matchers.base import Transform, assemble_result


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
