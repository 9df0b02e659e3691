"""The Detector runs the configured matchers (and the network when the method uses it)."""

import numpy as np
import pytest

from forgeseg.config import DetectConfig
from forgeseg.core.errors import ParamsError
from forgeseg.decision.detector import Detector
from forgeseg.decision.rules import DecisionConfig


def test_unknown_matcher_is_a_params_error():
    with pytest.raises(ParamsError, match=r"detect\.matchers"):
        Detector(DetectConfig(matchers=("sift", "orb")), DecisionConfig("geometric"))


def test_geometric_detector_needs_no_model_and_stays_silent_on_noise():
    det = Detector(DetectConfig(), DecisionConfig("geometric"))
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    assert not det.detect(image).forged


def test_a_pasted_copy_is_found_and_masked_on_both_sides():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)
    image = np.asarray(image, np.uint8)
    image[100:140, 130:180] = image[10:50, 20:70]  # an untouched copy of textured content
    found = Detector(DetectConfig(), DecisionConfig("geometric", min_area_fraction=0.0)).detect(
        image
    )
    assert found.forged
    union = found.instances.any(axis=0)
    assert union[30, 45] and union[120, 155]  # source and copy


def test_no_matchers_means_no_geometric_evidence():
    det = Detector(DetectConfig(matchers=()), DecisionConfig("geometric"))
    ev = det.evidence(np.zeros((64, 64, 3), np.uint8))
    assert ev.geometry is None and not det.detect(ev.image).forged
