"""Run the detectors on figures: one place that turns images into :class:`Evidence`.

The evaluate, infer and benchmark steps and ``forgeseg predict`` all go through
:class:`Detector`, so a figure is judged the same way wherever it is judged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from forgeseg.config.sections import DetectConfig
from forgeseg.core.errors import ParamsError
from forgeseg.core.imageio import read_image
from forgeseg.data.layout import Record
from forgeseg.data.truth import read_truth
from forgeseg.decision.evidence import Detection, Evidence
from forgeseg.decision.rules import DecisionConfig, decide

if TYPE_CHECKING:
    from forgeseg.matchers.base import MatchResult
    from forgeseg.panels.structure import Structure

__all__ = ["Detector", "Matched"]

log = logging.getLogger(__name__)


@dataclass
class Matched:
    """What the geometric matchers found on one figure: ``geometry`` merged over every
    matcher, the figure's ``structure`` (None when no matcher uses it), and the matcher
    whose rejected candidates were traced (``traced``, "" for none) with its working
    ``scale``."""

    geometry: MatchResult
    structure: Structure | None
    traced: str = ""
    scale: float = 1.0


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
        if model_path is not None and decision.method in ("network", "hybrid", "learned"):
            from forgeseg.models.predictor import Predictor

            self.predictor = Predictor(model_path, device=device)
        # Loaded whenever named, not only for method "learned": evaluate tabulates every
        # method from one hybrid pass, the learned decision included.
        self.learned = None
        if decision.learned_model is not None:
            from forgeseg.decision.learned import LearnedDecision

            self.learned = LearnedDecision.load(decision.learned_model)
        elif decision.method == "learned":
            raise ParamsError(
                "detect.method: learned needs models/decision.npz (run `dvc repro decision`)"
            )
        uses_geometry = decision.method in ("geometric", "hybrid", "learned")
        self.use_geometry = uses_geometry and bool(self.matchers)
        self.panels = None
        # A matcher told not to use the structure (``use_structure: false``) needs none.
        wants = [getattr(m.settings(detect), "use_structure", True) for m in self.matchers]
        if self.use_geometry and any(
            m.uses_structure and w for m, w in zip(self.matchers, wants, strict=True)
        ):
            from forgeseg.panels.learned import PanelDetector

            self.panels = PanelDetector(detect.panels_model)

    def match(self, image: np.ndarray, trace: list | None = None) -> Matched:
        """Every configured geometric matcher on one (H,W,3) uint8 figure, merged, with
        the figure's structure (None when no matcher uses it). With ``trace``, the first
        matcher that keeps a trace of its rejected candidates appends them to it."""
        from forgeseg.matchers import merge_results

        # Panels are found once per figure, for every matcher that compares them.
        structure = self.panels.find(image) if self.panels is not None else None
        results, traced, scale = [], "", 1.0
        for m in self.matchers:
            cfg = m.settings(self.detect_cfg)
            # One trace: its maps are at its matcher's working scale.
            kwargs = {"trace": trace} if trace is not None and not traced and m.traces else {}
            args = (image, cfg, structure) if m.uses_structure else (image, cfg)
            res = m.detect(*args, **kwargs)
            if kwargs:
                traced, scale = m.name, res.scale
            for trs in res.transforms:  # provenance survives the merge: a feature of the
                for t in trs:  # learned decision is which matchers saw a copy
                    t.matcher = m.name
            results.append(res)
        return Matched(merge_results(results, image.shape[:2]), structure, traced, scale)

    def evidence(
        self, image: np.ndarray, uid: str = "", truth: np.ndarray | None = None
    ) -> Evidence:
        """(H,W,3) uint8 figure -> :class:`Evidence` from every detector in use."""
        net = self.predictor.predict(image) if self.predictor is not None else None
        if not self.use_geometry:
            return Evidence(uid, image, net=net, truth=truth)
        got = self.match(image)
        return Evidence(
            uid, image, net=net, geometry=got.geometry, truth=truth, structure=got.structure
        )

    def detect(self, image: np.ndarray) -> Detection:
        return decide(self.evidence(image), self.cfg, self.learned)

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
