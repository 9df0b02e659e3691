import numpy as np
import pytest

from forgeseg.core.errors import ParamsError
from forgeseg.decision.detector import Detector, combine_matches
from forgeseg.decision.rules import PostprocessConfig
from forgeseg.matchers.sift import KeypointResult


def _result(boxes, inliers, shape=(40, 40)):
    inst = np.zeros((len(boxes), *shape), bool)
    for i, (y0, x0, y1, x1) in enumerate(boxes):
        inst[i, y0:y1, x0:x1] = True
    return KeypointResult(
        inst, list(inliers), n_matches=10 * len(boxes), score=max(inliers, default=0)
    )


def test_overlapping_findings_of_two_matchers_become_one_instance():
    sift = _result([(0, 0, 10, 10)], [6])
    dense = _result([(2, 2, 10, 10), (20, 20, 30, 30)], [15, 40])
    both = combine_matches([sift, dense], (40, 40))
    assert both.instances.shape[0] == 2
    assert sorted(both.inliers) == [21, 40]  # 6 + 15 for the shared copy-move
    assert both.score == 40.0
    assert both.n_matches == 30


def test_nothing_found_gives_an_empty_result_of_the_right_shape():
    empty = combine_matches([_result([], []), _result([], [])], (40, 40))
    assert empty.instances.shape == (0, 40, 40) and empty.score == 0.0


def test_unknown_matcher_is_a_params_error():
    with pytest.raises(ParamsError, match=r"detect\.matchers"):
        Detector(
            model_path=None,
            keypoints=None,
            postprocess=PostprocessConfig("keypoints"),
            matchers=["sift", "orb"],
        )


def test_keypoints_detector_needs_no_model_and_stays_silent_on_noise():
    det = Detector.from_params({}, model_path=None, postprocess=PostprocessConfig("keypoints"))
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    assert not det.detect(image).forged
