"""core.masks: union-find groupings, channel merging and filtering, hole filling."""

from __future__ import annotations

import numpy as np

from forgeseg.core.masks import (
    UnionFind,
    bbox,
    component_masks,
    connected_groups,
    erode,
    fill_holes,
    filter_small,
    group_overlapping,
    merge_overlapping,
)

H, W = 160, 200


def _box(y: int, x: int, size: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y : y + size, x : x + size] = True
    return m


def test_union_find_groups_are_sorted_and_ordered_by_their_smallest_item() -> None:
    uf = UnionFind(7)
    for i, j in ((5, 3), (6, 0), (3, 1)):
        uf.union(i, j)
    assert uf.groups() == [[0, 6], [1, 3, 5], [2], [4]]
    assert uf.find(5) == 1  # the smallest item represents its set
    # The same links in any order give the same groups.
    assert connected_groups(7, [(3, 1), (0, 6), (3, 5)]) == uf.groups()
    assert connected_groups(0, []) == []


def test_merge_overlapping_is_transitive() -> None:
    a, b, c, d = _box(0, 0, 20), _box(10, 10, 20), _box(20, 20, 20), _box(100, 100, 10)
    merged = merge_overlapping(np.stack([a, b, c, d]), min_overlap=0.1)
    # a-b and b-c overlap (a and c do not): one channel for a|b|c, one for d.
    assert merged.shape[0] == 2
    assert np.array_equal(merged[0], a | b | c)
    assert np.array_equal(merged[1], d)
    assert group_overlapping(np.stack([a, b, c, d]), 0.1) == [[0, 1, 2], [3]]
    # A stricter overlap share keeps them apart: a & b is 100 px of 400.
    assert merge_overlapping(np.stack([a, b]), min_overlap=0.3).shape[0] == 2
    assert merge_overlapping(np.zeros((0, H, W), bool)).shape == (0, H, W)


def test_filter_small() -> None:
    inst = np.stack([_box(0, 0, 10), _box(50, 50, 3), np.zeros((H, W), bool)])
    out = filter_small(inst, 50)
    assert out.shape == (1, H, W) and np.array_equal(out[0], inst[0])
    assert filter_small(inst, 0).shape[0] == 3


def test_component_masks_keep_large_components_in_label_order() -> None:
    mask = _box(0, 0, 10) | _box(50, 50, 3) | _box(100, 100, 8)
    comps = component_masks(mask, 50)
    assert comps.shape == (2, H, W)
    assert np.array_equal(comps[0], _box(0, 0, 10)) and np.array_equal(comps[1], _box(100, 100, 8))
    assert component_masks(np.zeros((H, W), bool), 1).shape == (0, H, W)


def test_fill_holes_fills_enclosed_background_only() -> None:
    ring = _box(10, 10, 20) & ~_box(15, 15, 10)
    cup = ring.copy()
    cup[15:25, 25:30] = False  # open to the outside on the right
    assert np.array_equal(fill_holes(ring), _box(10, 10, 20))
    assert np.array_equal(fill_holes(cup), cup)


def test_bbox_and_erode() -> None:
    m = _box(10, 20, 30)
    assert bbox(m, 0) == (10, 20, 40, 50)
    assert bbox(m, 15) == (0, 5, 55, 65)  # clipped to the mask
    assert np.array_equal(erode(m, 2), _box(12, 22, 26))
    assert erode(m, 0) is m
    thin = _box(0, 0, 5)
    assert erode(thin, 3) is thin  # nothing would be left: the region is kept as it is
