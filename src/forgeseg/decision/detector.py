"""Run the detectors on figures: one place that turns images into :class:`Evidence`.

The evaluate, infer and benchmark steps and ``forgeseg predict`` all go through
:class:`Detector`, so a figure is judged the same way wherever it is judged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from forgeseg.config.sections import DetectConfig
from forgeseg.core.imageio import read_image
from forgeseg.data.layout import Record
from forgeseg.data.truth import read_truth
from forgeseg.decision.evidence import Detection, Evidence
from forgeseg.decision.rules import DecisionConfig, decide

__all__ = ["Detector"]

log = logging.getLogger(__name__)


class Detector:
    """A network checkpoint (optional), the geometric matchers and the decision."""

    def __init__(
        self,
        detect: DetectConfig,
        decision: DecisionConfig,
        *,
        model_path: str | os.PathLike[str] | None = None,
        device: str = "cpu",
    ) -> None:
        from forgeseg.matchers import get_matcher

        self.detect_cfg = detect
        self.cfg = decision
        self.matchers = [get_matcher(name) for name in detect.matchers]
        self.predictor = None
        if model_path is not None and decision.method in ("network", "hybrid"):
            from forgeseg.models.predictor import Predictor

            self.predictor = Predictor(model_path, device=device)
        self.use_geometry = decision.method in ("geometric", "hybrid") and bool(self.matchers)
        self.panels = None
        if self.use_geometry and any(m.uses_structure for m in self.matchers):
            from forgeseg.panels.learned import PanelDetector

            self.panels = PanelDetector(detect.panels_model)

    def match(self, image: np.ndarray):
        """Every configured geometric matcher on one (H,W,3) uint8 figure, merged."""
        from forgeseg.matchers import merge_results

        # Panels are found once per figure, for every matcher that compares them.
        structure = self.panels.find(image) if self.panels is not None else None
        results = [
            m.detect(image, m.settings(self.detect_cfg), structure)
            if m.uses_structure
            else m.detect(image, m.settings(self.detect_cfg))
            for m in self.matchers
        ]
        return merge_results(results, image.shape[:2])

    def evidence(
        self, image: np.ndarray, uid: str = "", truth: np.ndarray | None = None
    ) -> Evidence:
        """(H,W,3) uint8 figure -> :class:`Evidence` from every detector in use."""
        net = self.predictor.predict(image) if self.predictor is not None else None
        geometry = self.match(image) if self.use_geometry else None
        return Evidence(uid=uid, image=image, net=net, geometry=geometry, truth=truth)

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
