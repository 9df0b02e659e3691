"""The true instances of a figure: its mask file, or its row of a solution file."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forgeseg.core.imageio import read_mask
from forgeseg.data.layout import Record

__all__ = ["read_truth"]


def read_truth(
    record: Record, shape: tuple[int, int], solution: Mapping[str, str] | None = None
) -> np.ndarray | None:
    """True instances (M,H,W) bool of a record; None when unknown.

    Train and val figures carry a mask file (or none: authentic). Test figures get their
    truth from a solution file's annotation, when one is given.
    """
    if record.mask:
        return read_mask(record.mask, shape=shape)
    if record.label == "authentic":
        return np.zeros((0, *shape), bool)
    if solution is not None and record.uid in solution:
        from forgeseg.core.rle import decode_annotation

        return decode_annotation(solution[record.uid], shape, case_id=record.uid)
    return None
