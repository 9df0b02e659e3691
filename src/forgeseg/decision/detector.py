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

from forgeseg.core.errors import ParamsError
from forgeseg.core.imageio import read_image, read_mask
from forgeseg.data.layout import Record
from forgeseg.decision.rules import Detection, Evidence, PostprocessConfig, decide

__all__ = ["MATCHERS", "Detector", "combine_matches", "read_truth"]

# Geometric matchers behind the ``keypoints`` evidence: SIFT self-matching (large or
# textured copies, any rotation and scale) and dense block matching (small, low-texture
# copies such as single blot bands, translated, flipped or turned by 90 degrees).
MATCHERS = ("sift", "dense")

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
        from forgeseg.core.rle import decode_annotation

        return decode_annotation(solution[record.uid], shape, case_id=record.uid)
    return None


def combine_matches(results: Sequence[Any], shape: tuple[int, int]) -> Any:
    """Merge the findings of several matchers into one ``KeypointResult``.

    Instances from different matchers that overlap are the same copy-move seen twice:
    they become one instance whose support is the sum of both.
    """
    from forgeseg.decision.instances import group_overlapping
    from forgeseg.matchers.sift import KeypointResult

    n_matches = sum(r.n_matches for r in results)
    found = [r for r in results if r.instances.shape[0]]
    if len(found) <= 1:
        if found:
            return found[0]
        return KeypointResult(np.zeros((0, *shape), bool), [], n_matches, 0.0)
    inst = np.concatenate([r.instances for r in found])
    inliers = [n for r in found for n in r.inliers]
    transforms = [
        (r.transforms[i] if i < len(r.transforms) else [])
        for r in found
        for i in range(r.instances.shape[0])
    ]
    groups = group_overlapping(inst, 0.2)
    merged = np.stack([inst[g].any(axis=0) for g in groups])
    support = [int(sum(inliers[i] for i in g)) for g in groups]
    return KeypointResult(
        merged,
        support,
        n_matches,
        float(max(support)),
        transforms=[[t for i in g for t in transforms[i]] for g in groups],
    )


class Detector:
    """A network checkpoint (optional), matcher settings and a post-processing config."""

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None,
        keypoints: Mapping[str, Any] | None,
        postprocess: PostprocessConfig,
        device: str = "cpu",
        dense: Mapping[str, Any] | None = None,
        matchers: Sequence[str] = MATCHERS,
    ) -> None:
        from forgeseg.matchers.dense.core import DenseConfig
        from forgeseg.matchers.sift import KeypointConfig

        unknown = set(matchers) - set(MATCHERS)
        if unknown:
            raise ParamsError(
                f"detect.matchers: unknown {sorted(unknown)}; choose from {list(MATCHERS)}"
            )
        self.cfg = postprocess
        self.predictor = None
        if model_path is not None and postprocess.method in ("network", "hybrid"):
            from forgeseg.models.predictor import Predictor

            self.predictor = Predictor(model_path, device=device)
        self.kp_cfg = KeypointConfig.from_dict(dict(keypoints or {}))
        self.dense_cfg = DenseConfig.from_dict(dict(dense or {}))
        self.matchers = tuple(matchers)
        self.use_kp = postprocess.method in ("keypoints", "hybrid") and bool(self.matchers)

    @classmethod
    def from_params(
        cls,
        detect_params: Mapping[str, Any],
        *,
        model_path: str | os.PathLike[str] | None,
        postprocess: PostprocessConfig,
        device: str = "cpu",
    ) -> Detector:
        """A detector from the ``detect`` section of ``params.yaml``."""
        return cls(
            model_path=model_path,
            keypoints=detect_params.get("keypoints"),
            dense=detect_params.get("dense"),
            matchers=detect_params.get("matchers", MATCHERS),
            postprocess=postprocess,
            device=device,
        )

    def match(self, image: np.ndarray) -> Any:
        """Every configured geometric matcher on one figure, merged."""
        from forgeseg.matchers.dense.core import detect as dense_detect
        from forgeseg.matchers.sift import detect as kp_detect

        results = []
        if "sift" in self.matchers:
            results.append(kp_detect(image, self.kp_cfg))
        if "dense" in self.matchers:
            results.append(dense_detect(image, self.dense_cfg))
        return combine_matches(results, image.shape[:2])

    def evidence(
        self, image: np.ndarray, uid: str = "", truth: np.ndarray | None = None
    ) -> Evidence:
        """(H,W,3) uint8 figure -> :class:`Evidence` from every detector in use."""
        net = self.predictor.predict(image) if self.predictor is not None else None
        kp = self.match(image) if self.use_kp else None
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
