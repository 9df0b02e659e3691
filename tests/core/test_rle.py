"""Competition RLE: round trips, the column-major order, and the strict decoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forgeseg.core.errors import ScoreError
from forgeseg.core.rle import decode_annotation, encode_annotation, rle_decode, rle_encode

masks = st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(
    lambda hw: arrays(bool, hw, elements=st.booleans())
)


@settings(max_examples=150, deadline=None)
@given(masks)
def test_round_trip_random_masks(mask):
    runs = rle_encode(mask)
    assert np.array_equal(rle_decode(runs, mask.shape), mask)
    starts, lengths = runs[0::2], runs[1::2]
    assert all(s >= 1 for s in starts) and all(n >= 1 for n in lengths)
    # Ascending and separated by at least one background pixel (maximal runs).
    assert all(starts[i] + lengths[i] < starts[i + 1] for i in range(len(starts) - 1))


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 2)])
def test_round_trip_edge_masks(shape):
    h, w = shape
    empty = np.zeros(shape, bool)
    full = np.ones(shape, bool)
    first = empty.copy()
    first[0, 0] = True
    last = empty.copy()
    last[-1, -1] = True
    assert rle_encode(empty) == []
    assert rle_encode(full) == [1, h * w]
    assert rle_encode(first) == [1, 1]
    assert rle_encode(last) == [h * w, 1]
    for m in (empty, full, first, last):
        assert np.array_equal(rle_decode(rle_encode(m), shape), m)


def test_order_is_column_major():
    mask = np.zeros((3, 4), bool)
    mask[1:, 0] = True  # bottom two pixels of the first column: flat 1-2 (0-based)
    mask[0, 1] = True  # top of the second column follows them in F order: flat 3
    assert rle_encode(mask) == [2, 3]
    mask[0, 1] = False
    mask[0, 2] = True  # top of the third column: flat 6, 1-based 7
    assert rle_encode(mask) == [2, 2, 7, 1]


def test_encode_annotation_format_and_empty_channels():
    inst = np.zeros((3, 2, 3), bool)
    inst[0, 0, 0] = True
    inst[2, :, 2] = True
    text = encode_annotation(inst)
    assert text == "[1, 1];[5, 2]"  # json.dumps spacing, empty middle channel dropped
    assert encode_annotation(np.zeros((0, 2, 3), bool)) == "authentic"
    assert encode_annotation(np.zeros((2, 2, 3), bool)) == "authentic"
    back = decode_annotation(text, (2, 3))
    assert np.array_equal(back, inst[[0, 2]])
    assert decode_annotation("authentic", (2, 3)).shape == (0, 2, 3)


@pytest.mark.parametrize(
    "runs, problem",
    [
        ([1, 2, 5], "odd"),
        ([1, 0], "non-positive"),
        ([3, -1], "non-positive"),
        ([0, 2], "below 1"),
        ([5, 1, 2, 1], "unsorted or overlapping"),
        ([1, 3, 3, 1], "unsorted or overlapping"),
        ([11, 3], "past the image"),
    ],
)
def test_decoder_rejects_bad_runs_naming_the_case(runs, problem):
    with pytest.raises(ScoreError, match=problem) as info:
        rle_decode(runs, (3, 4), case_id="fig-7")
    assert "fig-7" in str(info.value)
    with pytest.raises(ScoreError, match="fig-7"):
        decode_annotation(json.dumps(runs), (3, 4), case_id="fig-7")


def test_adjacent_runs_are_accepted_like_the_official_decoder():
    assert rle_decode([1, 2, 3, 1], (2, 2)).T.ravel().tolist() == [True, True, True, False]


@pytest.mark.parametrize("text", ["[1, 2", "forged", "", "[1.5, 2]", '["1", 2]', "{}"])
def test_malformed_annotation_names_the_case(text):
    with pytest.raises(ScoreError, match="c42"):
        decode_annotation(text, (4, 4), case_id="c42")
