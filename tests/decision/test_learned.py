"""The learned decision: candidates and features, the trees without pickle, the decision."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from forgeseg.config import LearnedConfig, SiftConfig
from forgeseg.core.errors import DataError, ParamsError
from forgeseg.decision.evidence import Evidence
from forgeseg.decision.learned import (
    FEATURES,
    LearnedDecision,
    TreeEnsemble,
    candidates,
    fit_decision,
    label_candidates,
)
from forgeseg.decision.rules import DecisionConfig, decide
from forgeseg.matchers import sift
from forgeseg.panels.structure import Panel, Structure

LABELS = ("Bcl-2", "GAPDH", "p53", "Actin", "Tubulin")
SIDE = 320


def _texture(rng, h, w):
    import cv2

    t = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 2.0)
    t = (t - t.min()) / (t.max() - t.min())
    return np.repeat((40 + 180 * t)[..., None], 3, 2).astype(np.uint8)


def _figure(seed: int, copy: bool) -> Evidence:
    """A textured panel above a white strip holding one label written twice (identical
    pixels, as repeated antibody names are); with ``copy``, a patch of the texture pasted
    elsewhere. The structure's text mask covers the labels, as a text detector's would."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((SIDE, SIDE, 3), 255, np.uint8)
    img[:200] = _texture(rng, 200, SIDE)
    text = np.zeros((SIDE, SIDE), bool)
    label = LABELS[seed % len(LABELS)]
    scale = float(rng.uniform(1.0, 1.4))
    for x in (int(rng.integers(5, 30)), int(rng.integers(170, 190))):
        cv2.putText(img, label, (x, 270), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3)
    ink = (img[200:] < 128).any(axis=2)
    text[200:] = cv2.dilate(ink.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    truth = np.zeros((0, SIDE, SIDE), bool)
    if copy:
        y, x = int(rng.integers(100, 130)), int(rng.integers(10, 60))
        img[15:75, 200:280] = img[y : y + 60, x : x + 80]
        m = np.zeros((SIDE, SIDE), bool)
        m[15:75, 200:280] = m[y : y + 60, x : x + 80] = True
        truth = m[None]
    # A loose SIFT (flat regions allowed) proposes the repeated label as a copy: the kind
    # of look-alike the learned decision must turn down.
    geo = sift.detect(img, SiftConfig(max_flat=1.0))
    for trs in geo.transforms:
        for t in trs:
            t.matcher = "sift"
    structure = Structure((Panel((0, 0, SIDE, SIDE), "microscopy"),), text)
    return Evidence(f"fig{seed}", img, geometry=geo, truth=truth, structure=structure)


def _training_set(seeds):
    xs, ys, gs = [], [], []
    for s in seeds:
        ev = _figure(s, copy=s % 2 == 0)
        cands = candidates(ev, 0.5, 48)
        xs += [c.features for c in cands]
        ys += list(label_candidates(cands, ev.truth, 0.5))
        gs += [s] * len(cands)
    return np.array(xs), np.array(ys), np.array(gs)


@pytest.fixture(scope="module")
def decision():
    x, y, g = _training_set(range(16))
    cfg = LearnedConfig(max_iter=30, min_samples_leaf=2)
    fitted, report = fit_decision(x, y, g, cfg)
    assert report.positives > 0 and report.candidates > report.positives
    return fitted


def test_features_name_every_column_of_a_candidate():
    ev = _figure(0, copy=True)
    cands = candidates(ev, 0.5, 48)
    for c in cands:
        assert c.features.shape == (len(FEATURES),)
        assert c.mask.shape == (SIDE, SIDE)
    text_share = [c.features[FEATURES.index("text_share")] for c in cands]
    # The pasted patch, and the repeated label (whole, or glyph groups of it).
    assert sorted(t > 0.2 for t in text_share) == [False] + [True] * (len(cands) - 1)
    # No network ran: its features are missing, not made up.
    assert np.isnan(cands[0].features[FEATURES.index("net_inside_mean")])
    assert list(label_candidates(cands, ev.truth, 0.5)) == [int(t == 0.0) for t in text_share]


def test_learned_decision_rejects_repeated_text_and_accepts_a_verified_copy(decision):
    for seed in (101, 103):  # figures the trees never saw
        ev = _figure(seed, copy=True)
        cands, p = decision.scored(ev, 48)
        text = np.array([c.features[FEATURES.index("text_share")] > 0.2 for c in cands])
        assert text.any() and (~text).any()
        assert p[text].max() < 0.5 < p[~text].min()
        det = decide(ev, DecisionConfig("learned", accept=0.5), decision)
        assert det.instances.shape[0] == 1
        assert not (det.instances[0] & ev.structure.text_mask).any()
    # An authentic figure with the repeated label only is called authentic.
    ev = _figure(105, copy=False)
    assert not decide(ev, DecisionConfig("learned", accept=0.5), decision).forged


def test_learned_method_without_trees_is_a_clear_error():
    ev = _figure(0, copy=True)
    with pytest.raises(ParamsError, match=r"decision\.npz"):
        decide(ev, DecisionConfig("learned"))


def test_trees_predict_as_sklearn_does_missing_values_included():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES)))
    x[rng.random(x.shape) < 0.2] = np.nan
    y = (np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 3]) > 0).astype(int)
    clf = HistGradientBoostingClassifier(max_iter=25, random_state=0).fit(x, y)
    trees = TreeEnsemble.from_sklearn(clf, FEATURES)
    np.testing.assert_allclose(trees.predict_proba(x), clf.predict_proba(x)[:, 1], atol=1e-9)
    shares = trees.importances()
    assert abs(sum(shares.values()) - 1.0) < 1e-9
    assert max(shares, key=shares.get) == FEATURES[0]


def test_decision_file_round_trips_without_pickle(tmp_path, decision):
    path = tmp_path / "decision.npz"
    decision.save(path)
    with np.load(path, allow_pickle=False) as z:  # nothing in it needs unpickling
        assert int(z["format"]) == 1
    loaded = LearnedDecision.load(path)
    ev = _figure(107, copy=True)
    np.testing.assert_array_equal(loaded.scored(ev, 48)[1], decision.scored(ev, 48)[1])


def test_bad_decision_files_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"missing\.npz.*dvc repro decision"):
        LearnedDecision.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"junk\.npz.*not a forgeseg decision file"):
        LearnedDecision.load(junk)


def test_one_class_of_candidates_gives_a_constant_decision(caplog):
    x = np.zeros((10, len(FEATURES)))
    with caplog.at_level("WARNING"):
        fitted, report = fit_decision(x, np.zeros(10, int), np.arange(10), LearnedConfig())
    assert "nothing to learn" in caplog.text
    assert report.cv_auc is None and report.positives == 0
    assert (fitted.trees.predict_proba(np.ones((3, len(FEATURES)))) < 1e-5).all()
    with pytest.raises(ValueError, match="proposed nothing"):
        fit_decision(x[:0], np.zeros(0, int), np.zeros(0), LearnedConfig())
