"""decision.instances: a pixel map becomes source+copy instances."""

from __future__ import annotations

import numpy as np
import pytest

from forgeseg.core import masks
from forgeseg.core.errors import ParamsError
from forgeseg.decision import instances
from forgeseg.decision.instances import build_instances

H, W = 160, 200


def _figure(seed: int = 0) -> np.ndarray:
    """Random blocky texture, uint8 RGB (H, W, 3): every patch is distinct."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (H // 4, W // 4), dtype=np.uint8)
    gray = np.kron(small, np.ones((4, 4), np.uint8))
    return np.repeat(gray[:, :, None], 3, axis=2)


def _copy(
    img: np.ndarray, src: tuple[int, int], dst: tuple[int, int], size: int, op: str = "none"
) -> None:
    """Paste img[src box] at dst in place, flipped or rotated by ``op``."""
    patch = img[src[0] : src[0] + size, src[1] : src[1] + size].copy()
    if op == "flip":
        patch = patch[:, ::-1]
    elif op == "rot90":
        patch = np.rot90(patch)
    img[dst[0] : dst[0] + size, dst[1] : dst[1] + size] = patch


def _box(y: int, x: int, size: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y : y + size, x : x + size] = True
    return m


def test_source_and_copy_become_one_instance() -> None:
    img = _figure()
    _copy(img, (10, 10), (100, 140), 32, op="flip")
    prob = np.zeros((H, W), np.float32)
    prob[_box(10, 10, 32) | _box(100, 140, 32)] = 0.9
    inst = build_instances(prob, img)
    assert inst.shape == (1, H, W)
    assert inst[0][_box(10, 10, 32)].all() and inst[0][_box(100, 140, 32)].all()


def test_two_pairs_stay_two_instances() -> None:
    img = _figure(1)
    _copy(img, (8, 8), (8, 120), 28)
    _copy(img, (90, 10), (110, 150), 24, op="rot90")
    prob = np.zeros((H, W), np.float32)
    a = _box(8, 8, 28) | _box(8, 120, 28)
    b = _box(90, 10, 24) | _box(110, 150, 24)
    prob[a | b] = 0.8
    inst = build_instances(prob, img)
    assert inst.shape[0] == 2
    got = sorted([tuple(np.nonzero(ch)[0][:1]) for ch in inst])
    assert got == [(8,), (90,)]
    assert any(np.array_equal(ch, a) for ch in inst)
    assert any(np.array_equal(ch, b) for ch in inst)


def test_unpaired_components_stay_single_or_are_dropped() -> None:
    img = _figure(2)
    prob = np.zeros((H, W), np.float32)
    prob[_box(10, 10, 30)] = 0.9
    prob[_box(100, 140, 30)] = 0.9  # different content: not a copy
    inst = build_instances(prob, img)
    assert inst.shape[0] == 2
    assert build_instances(prob, img, drop_unpaired=True).shape[0] == 0


def test_threshold_opening_and_min_area() -> None:
    img = _figure(3)
    prob = np.zeros((H, W), np.float32)
    prob[_box(20, 20, 30)] = 0.6
    prob[150, 190] = 1.0  # isolated pixel: removed by the opening
    prob[_box(100, 100, 5)] = 1.0  # 25 px: under min_area
    assert build_instances(prob, img, threshold=0.7).shape[0] == 0
    inst = build_instances(prob, img, threshold=0.5, min_area=32)
    assert inst.shape == (1, H, W) and inst[0].sum() == 900
    assert build_instances(np.zeros((H, W)), img).shape == (0, H, W)


def test_pair_by_none_keeps_components_apart() -> None:
    img = _figure()
    _copy(img, (10, 10), (100, 140), 32)
    prob = np.zeros((H, W), np.float32)
    prob[_box(10, 10, 32) | _box(100, 140, 32)] = 0.9
    assert build_instances(prob, img, pair_by="none").shape[0] == 2


def test_bad_params() -> None:
    img = _figure()
    prob = np.zeros((H, W), np.float32)
    with pytest.raises(ParamsError, match="pair_by"):
        build_instances(prob, img, pair_by="offset")
    with pytest.raises(ParamsError, match="threshold"):
        build_instances(prob, img, threshold=1.5)
    with pytest.raises(ParamsError, match="min_area"):
        build_instances(prob, img, min_area=0)
    with pytest.raises(ValueError, match="matching image"):
        build_instances(np.zeros((H, W + 1)), img)


def test_the_shared_mask_helpers_are_still_importable_from_here() -> None:
    # Callers of the instance builder import the channel clean-ups from this module; they
    # live in forgeseg.core.masks now.
    assert instances.filter_small is masks.filter_small
    assert instances.merge_overlapping is masks.merge_overlapping
    assert instances.group_overlapping is masks.group_overlapping
    assert instances.fill_holes is masks.fill_holes
    assert instances.component_masks is masks.component_masks
