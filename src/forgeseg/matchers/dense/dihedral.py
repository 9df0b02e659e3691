"""Step 2-3 groundwork: the 8 flips / quarter turns (the dihedral group) acting on blocks.

A flip or quarter turn keeps a block a block, and on the 4x4 cell grid of a block
descriptor it is an exact permutation of its 16 numbers (:data:`PERMS`); composing and
inverting poses (:data:`COMPOSE`, :data:`INVERSE`) relates a block's pose to its twin's.
"""

from __future__ import annotations

import numpy as np

from forgeseg.config.matchers import DENSE_GRID

__all__ = ["COMPOSE", "DIHEDRAL", "GRID", "INVERSE", "PERMS", "compose_table", "permutations"]

GRID = DENSE_GRID  # cells per block side: 16-number descriptors

# The 8 flips / quarter turns as 2x2 integer matrices acting on (x, y) column vectors:
# identity, mirror left-right, mirror up-down, half turn, transpose, anti-transpose, and the
# two quarter turns.
DIHEDRAL: tuple[np.ndarray, ...] = tuple(
    np.array(m, np.int64)
    for m in (
        [[1, 0], [0, 1]],
        [[-1, 0], [0, 1]],
        [[1, 0], [0, -1]],
        [[-1, 0], [0, -1]],
        [[0, 1], [1, 0]],
        [[0, -1], [-1, 0]],
        [[0, -1], [1, 0]],
        [[0, 1], [-1, 0]],
    )
)


def permutations() -> np.ndarray:
    """(8, 16) int64: descriptor index permutations; ``f[perm[g]]`` describes the block
    transformed by ``DIHEDRAL[g]`` about its centre."""
    c = (GRID - 1) / 2
    out = np.zeros((len(DIHEDRAL), GRID * GRID), np.int64)
    for g, d in enumerate(DIHEDRAL):
        inv = np.linalg.inv(d).round().astype(np.int64)
        for a in range(GRID):  # row (y) of the transformed block's cell
            for b in range(GRID):
                ux, uy = inv @ np.array([b - c, a - c])
                out[g, a * GRID + b] = round(uy + c) * GRID + round(ux + c)
    return out


def compose_table() -> np.ndarray:
    """(8, 8) int64: ``table[a, b]`` is the index of ``DIHEDRAL[a] @ DIHEDRAL[b]``."""
    mats = np.stack(DIHEDRAL)
    table = np.zeros((len(mats), len(mats)), np.int64)
    for a in range(len(mats)):
        for b in range(len(mats)):
            prod = mats[a] @ mats[b]
            table[a, b] = int(np.flatnonzero((mats == prod).all(axis=(1, 2)))[0])
    return table


PERMS = permutations()
COMPOSE = compose_table()
INVERSE = np.array([int(np.flatnonzero(row == 0)[0]) for row in COMPOSE])
