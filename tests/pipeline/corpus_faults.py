"""Detector specs whose worker process dies the way the OOM killer ends one: SIGKILL.

A spawned pool worker receives its :class:`DetectorSpec` pickled, by module and class
name, and builds its detector with the spec's own ``build``: subclasses here are the
whole fault, with no hook in the engine. They live in a module of their own, not in a
test module, because the worker must import them by name: the test puts this folder on
``sys.path`` before the pool starts, and spawn hands ``sys.path`` to every worker.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import numpy as np

from forgeseg.decision.detector import Detector
from forgeseg.pipeline.corpus import DetectorSpec

KILLER_SHAPE = (96, 120)  # a figure of this size kills the worker that judges it


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class KillerFigureSpec(DetectorSpec):
    """The real detector, except that a figure of :data:`KILLER_SHAPE` kills its worker."""

    def build(self) -> Detector:
        detector = super().build()
        real = detector.detect

        def detect(image: np.ndarray, *args, **kwargs):
            if image.shape[:2] == KILLER_SHAPE:
                _die()
            return real(image, *args, **kwargs)

        detector.detect = detect  # this one detector, in the worker only
        return detector


@dataclass(frozen=True)
class DyingBuildSpec(DetectorSpec):
    """Every worker is killed while it builds its detector, before any figure."""

    def build(self) -> Detector:
        _die()
        raise AssertionError("unreachable: SIGKILL cannot be caught")
