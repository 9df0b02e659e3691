"""Step 3 of the dense matcher: every block stored once in a canonical pose in a k-d tree,
so one query finds a block's twins under all 8 flips / quarter turns."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

from forgeseg.config.matchers import DenseConfig
from forgeseg.matchers.dense.dihedral import COMPOSE, GRID, INVERSE, PERMS

__all__ = ["BlockIndex", "build_index", "matches", "poses", "principal_axes", "query"]

# A fixed direction in descriptor space that ranks a block's 8 variants; its coefficients
# are distinct so no two cell permutations score alike on generic blocks.
_RANK = np.sin(np.arange(1, GRID * GRID + 1) * 1.7).astype(np.float32)


@dataclass
class BlockIndex:
    """Every block stored once, in its canonical pose, for twin look-ups."""

    tree: cKDTree  # over the canonical descriptors in the principal axes (``axes``)
    pose: np.ndarray  # (n,) int64: canonical = DIHEDRAL[pose] applied to the block
    corners: np.ndarray  # (n, 2) int64 (x, y)
    centre: np.ndarray  # (16,) float64 mean canonical descriptor
    axes: np.ndarray  # (16, 16) float64 orthonormal principal axes

    def coords(self, desc: np.ndarray) -> np.ndarray:
        """(n, 16) float64 coordinates of descriptors (n, 16) in the tree's frame: the same
        distances to every indexed block, up to rounding."""
        return _frame(desc, self.centre, self.axes)


def _frame(desc: np.ndarray, centre: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """(n, 16) float64 coordinates of descriptors (n, 16) along ``axes`` (16, 16) about
    ``centre`` (16,)."""
    return (desc.astype(np.float64) - centre) @ axes


def poses(
    desc: np.ndarray, cfg: DenseConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(canonical descriptors (n, 16), canonical pose (n,), second-best descriptors
    (n, 16), second-best pose (n,)) of descriptors (n, 16); without ``flips`` the block
    itself is both.

    The canonical pose is the variant scoring highest along a fixed direction, so one k-d
    tree query finds twins under all 8 poses instead of 8 queries.
    """
    n = len(desc)
    if not cfg.flips:
        zero = np.zeros(n, np.int64)
        return desc, zero, desc, zero
    variants = desc[:, PERMS]  # (n, 8, 16)
    order = np.argsort(-(variants @ _RANK), axis=1, kind="stable")
    rows = np.arange(n)
    return variants[rows, order[:, 0]], order[:, 0], variants[rows, order[:, 1]], order[:, 1]


def _threads() -> int:
    return max(1, cv2.getNumThreads())


def principal_axes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (16,), orthonormal axes (16, 16)) of descriptors (n, 16): their principal
    axes, by falling variance. All of them, so distances to any query are kept."""
    x = x.astype(np.float64)
    if len(x) == 0:
        return np.zeros(x.shape[1]), np.eye(x.shape[1])
    centre = x.mean(axis=0)
    x = x - centre
    _, vecs = np.linalg.eigh(x.T @ x)  # ascending variance
    return centre, vecs[:, ::-1].copy()


def build_index(corners: np.ndarray, desc: np.ndarray, cfg: DenseConfig) -> BlockIndex:
    """The index of blocks with top-left corners (n, 2) and descriptors (n, 16)."""
    canon, pose, _, _ = poses(desc, cfg)
    # A k-d tree splits the widest side of each cell. Descriptors of natural blocks vary
    # most along a few directions (smooth cell means), none of them a descriptor axis: in
    # the principal axes the splits follow that spread and a look-up visits about half the
    # cells. A rotation keeps every distance, so the twins found are the same.
    centre, axes = principal_axes(canon)
    tree = cKDTree(_frame(canon, centre, axes), leafsize=32)
    return BlockIndex(tree, pose, corners, centre, axes)


def query(
    index: BlockIndex, desc: np.ndarray, corners: np.ndarray, cfg: DenseConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twins of the query blocks ``desc`` (K, 16) whose top-left corners in the figure are
    ``corners`` (K, 2): (query row (M,), twin index (M,), dihedral index (M,)) int64, where
    the twin's content is the query's under ``DIHEDRAL[g]``. Twins closer than
    ``min_distance`` are the same structure. A block whose two best poses score alike could
    be canonicalised differently in its copy, so it is looked up in both."""
    z = np.zeros(0, np.int64)
    n = index.tree.n
    if len(desc) == 0 or n < 2:
        return z, z, z
    canon, pose, alt, second = poses(desc, cfg)
    if cfg.flips:
        queries = np.concatenate([canon, alt])
        qpose = np.concatenate([pose, second])
        qrow = np.concatenate([np.arange(len(desc))] * 2)
    else:
        queries, qpose, qrow = canon, pose, np.arange(len(desc))
    k = min(cfg.knn + 1, n)
    # This look-up is most of the matcher's time. It gets the threads OpenCV may use in this
    # process: every core when called alone, one in a corpus worker (limit_threads), where
    # workers=-1 put two threads per worker on two cores and slowed every worker down.
    dist, idx = index.tree.query(
        index.coords(queries),
        k=k,
        eps=cfg.search_eps,
        distance_upper_bound=cfg.max_feature_dist,
        workers=_threads(),
    )
    dist = dist.reshape(len(queries), -1)
    idx = idx.reshape(len(queries), -1)
    rows, cols = np.nonzero(np.isfinite(dist))
    j = idx[rows, cols].astype(np.int64)
    # P_j(twin) = P_q(block) -> twin = P_j^-1 P_q (block).
    g = COMPOSE[INVERSE[index.pose[j]], qpose[rows]].astype(np.int64)
    i = qrow[rows].astype(np.int64)
    far = np.abs(index.corners[j] - corners[i]).max(axis=1) >= cfg.min_distance
    return i[far], j[far], g[far]


def matches(
    index: BlockIndex, desc: np.ndarray, cfg: DenseConfig, queries: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twin blocks among the indexed ones: (source index (M,), twin index (M,), dihedral
    index (M,)) int64, where the twin's content is the source's under ``DIHEDRAL[g]``.
    ``queries`` (bool (n,), default all) selects the blocks that look for twins; every
    block can be found. Twins closer than ``min_distance`` are the same structure."""
    z = np.zeros(0, np.int64)
    q = np.arange(len(desc)) if queries is None else np.flatnonzero(queries)
    rows, j, g = query(index, desc[q], index.corners[q], cfg)
    i = q[rows]
    if len(i) == 0:
        return z, z, z
    # The two poses of one block may find the same twin.
    key = np.unique(np.stack([i, j, g], axis=1), axis=0)
    return key[:, 0].astype(np.int64), key[:, 1].astype(np.int64), key[:, 2].astype(np.int64)
