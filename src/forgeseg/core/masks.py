"""Generic helpers on boolean masks and stacks of instance channels.

Every detector ends the same way: regions become channels, tiny channels are dropped and
channels that overlap (one object pasted several times) are merged. Those steps, and the
union-find behind every "transitively linked" grouping in the project, live here once so
that the matchers (:mod:`forgeseg.matchers`) and the decision step
(:mod:`forgeseg.decision`) share them without depending on each other.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

__all__ = [
    "UnionFind",
    "bbox",
    "component_masks",
    "connected_groups",
    "erode",
    "fill_holes",
    "filter_small",
    "group_overlapping",
    "merge_overlapping",
]


class UnionFind:
    """Disjoint sets over the items ``0 .. n-1``.

    Each set's representative is its smallest item (a union keeps the smaller root), so
    the groups come out in a fixed order whatever order the links arrive in.
    """

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving: later look-ups stay short
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(int(i)), self.find(int(j))
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)

    def groups(self) -> list[list[int]]:
        """Every set as a sorted list of items, the sets ordered by their smallest item."""
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return sorted(out.values(), key=lambda g: g[0])


def connected_groups(n: int, links: Iterable[tuple[int, int]]) -> list[list[int]]:
    """Connected components of the items ``0 .. n-1`` under ``links`` (pairs of items):
    each a sorted list, ordered by their smallest item; unlinked items are singletons."""
    uf = UnionFind(n)
    for i, j in links:
        uf.union(int(i), int(j))
    return uf.groups()


def _check_instances(instances: np.ndarray) -> np.ndarray:
    arr = np.asarray(instances)
    if arr.ndim != 3:
        raise ValueError(f"instances must be (N, H, W), got shape {arr.shape}")
    return arr.astype(bool, copy=False)


def filter_small(instances: np.ndarray, min_area: int) -> np.ndarray:
    """Drop channels with fewer than ``min_area`` pixels.

    Args:
        instances: bool (N, H, W).
        min_area: smallest kept channel, in pixels.

    Returns:
        bool (K, H, W), K <= N, channels in their original order.
    """
    arr = _check_instances(instances)
    if arr.shape[0] == 0:
        return arr
    areas = arr.reshape(arr.shape[0], -1).sum(axis=1)
    return arr[areas >= min_area]


def group_overlapping(instances: np.ndarray, min_overlap: float = 0.3) -> list[list[int]]:
    """Groups of channel indices that overlap, transitively.

    Two channels are linked when ``|a & b| / min(|a|, |b|) > min_overlap``; groups are the
    connected components of that relation, each sorted, ordered by their first index.

    Args:
        instances: bool (N, H, W).
        min_overlap: overlap share of the smaller channel above which two channels merge.
    """
    arr = _check_instances(instances)
    n = arr.shape[0]
    flat = arr.reshape(n, -1).astype(np.float32)
    inter = flat @ flat.T  # exact for counts below 2**24 per pair of channels
    areas = np.diag(inter).copy()
    smaller = np.minimum(areas[:, None], areas[None, :])
    linked = (inter > min_overlap * smaller) & (smaller > 0)
    return connected_groups(n, zip(*np.nonzero(np.triu(linked, 1)), strict=True))


def merge_overlapping(instances: np.ndarray, min_overlap: float = 0.3) -> np.ndarray:
    """Merge channels whose overlap / smaller area exceeds ``min_overlap``, transitively.

    Args:
        instances: bool (N, H, W).
        min_overlap: see :func:`group_overlapping`.

    Returns:
        bool (K, H, W), K <= N: the union of each group, in order of the group's first
        channel.
    """
    arr = _check_instances(instances)
    if arr.shape[0] <= 1:
        return arr.copy()
    groups = group_overlapping(arr, min_overlap)
    return np.stack([arr[g].any(axis=0) for g in groups])


def component_masks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Connected components (8-connectivity) of a bool (H, W) mask with at least
    ``min_area`` pixels, as bool (K, H, W) ordered by label."""
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not keep:
        return np.zeros((0, h, w), bool)
    return labels[None, :, :] == np.asarray(keep)[:, None, None]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """(H,W) bool -> the same with every enclosed background hole filled."""
    h, w = mask.shape
    pad = np.zeros((h + 2, w + 2), np.uint8)
    pad[1:-1, 1:-1] = mask
    flood = pad.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    return mask | (flood[1:-1, 1:-1] == 0)


def bbox(mask: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of the pixels set in a non-empty bool (H, W) mask, grown by ``pad``
    and clipped to the mask; slices ``[y0:y1, x0:x1]`` hold them."""
    ys, xs = np.nonzero(mask)
    H, W = mask.shape
    return (
        max(int(ys.min()) - pad, 0),
        max(int(xs.min()) - pad, 0),
        min(int(ys.max()) + pad + 1, H),
        min(int(xs.max()) + pad + 1, W),
    )


def erode(mask: np.ndarray, px: int, min_keep: int = 16) -> np.ndarray:
    """bool (H, W) ``mask`` eroded by a (2 px + 1) square; the mask itself when fewer than
    ``min_keep`` pixels would remain (a thin region keeps what little it has)."""
    if px <= 0:
        return mask
    kernel = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    out = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
    return out if out.sum() >= min_keep else mask
