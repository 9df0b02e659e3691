"""Run the detectors on figures: one place that turns images into :class:`Evidence`.

The evaluate, infer and benchmark steps and ``forgeseg predict`` all go through
:class:`Detector`, so a figure is judged the same way wherever it is judged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from forgeseg.dataset import Record
from forgeseg.imageio import read_image, read_mask
from forgeseg.postprocess import Detection, Evidence, PostprocessConfig, decide

__all__ = ["Detector", "read_truth"]

log = logging.getLogger(__name__)


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
        from forgeseg.rle import decode_annotation

        return decode_annotation(solution[record.uid], shape, case_id=record.uid)
    return None


class Detector:
    """A network checkpoint (optional), keypoint settings and a post-processing config."""

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None,
        keypoints: Mapping[str, Any] | None,
        postprocess: PostprocessConfig,
        device: str = "cpu",
    ) -> None:
        from forgeseg.keypoints import KeypointConfig

        self.cfg = postprocess
        self.predictor = None
        if model_path is not None and postprocess.method in ("network", "hybrid"):
            from forgeseg.predict import Predictor

            self.predictor = Predictor(model_path, device=device)
        self.kp_cfg = KeypointConfig.from_dict(dict(keypoints or {}))
        self.use_kp = postprocess.method in ("keypoints", "hybrid")

    def evidence(
        self, image: np.ndarray, uid: str = "", truth: np.ndarray | None = None
    ) -> Evidence:
        """(H,W,3) uint8 figure -> :class:`Evidence` from every detector in use."""
        from forgeseg.keypoints import detect as kp_detect

        net = self.predictor.predict(image) if self.predictor is not None else None
        kp = kp_detect(image, self.kp_cfg) if self.use_kp else None
        return Evidence(uid=uid, image=image, net=net, kp=kp, truth=truth)

    def detect(self, image: np.ndarray) -> Detection:
        return decide(self.evidence(image), self.cfg)

    def iter_evidence(
        self,
        records: Sequence[Record],
        *,
        solution: Mapping[str, str] | None = None,
        progress: bool = True,
        desc: str = "detect",
    ) -> Iterator[Evidence]:
        """Evidence for each record, with a progress bar; truth attached when known."""
        from tqdm import tqdm

        for rec in tqdm(records, desc=desc, disable=not progress):
            image = read_image(rec.image)
            truth = read_truth(rec, image.shape[:2], solution)
            yield self.evidence(image, rec.uid, truth)
