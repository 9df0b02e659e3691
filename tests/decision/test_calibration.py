"""Calibration picks the settings that maximise oF1, authentic figures included."""

import numpy as np
import pytest

from forgeseg.core.errors import ParamsError
from forgeseg.decision.calibration import FigureTable, calibrate, outcome
from forgeseg.decision.rules import DecisionConfig

THRESHOLDS = [0.3, 0.6]
KP = [0, 20]


def table(
    uid,
    authentic,
    net_score,
    net_of1,
    geo_any=(False, False),
    geo_of1=(0.0, 0.0),
    geo_best=0,
    net_any=(True, True),
):
    return FigureTable(
        uid,
        authentic,
        np.array(net_any),
        np.array(net_score, float),
        np.array(net_of1, float),
        np.zeros((2, 3), np.int64),
        np.array(geo_any),
        np.array(geo_of1, float),
        np.zeros((2, 3), np.int64),
        geo_best,
        0 if authentic else 100,
    )


def figures():
    return [
        # Authentic figures: the network is mildly excited by one of them.
        table("a1", True, net_score=[0.55, 0.45], net_of1=[0, 0]),
        table("a2", True, net_score=[0.2, 0.1], net_of1=[0, 0]),
        # Forged: the network finds one well, the other only at the low threshold.
        table("f1", False, net_score=[0.9, 0.8], net_of1=[0.7, 0.9]),
        table("f2", False, net_score=[0.7, 0.3], net_of1=[0.6, 0.5]),
        # The matchers verify a transform in f3 with 25 inliers; the network misses it.
        table(
            "f3",
            False,
            net_score=[0.1, 0.1],
            net_of1=[0, 0],
            geo_any=(True, True),
            geo_of1=(0.8, 0.8),
            geo_best=25,
        ),
        # The matchers misfire on an authentic figure with a weak (12-inlier) transform.
        table(
            "a3",
            True,
            net_score=[0.1, 0.1],
            net_of1=[0, 0],
            geo_any=(True, False),
            geo_of1=(0.0, 0.0),
            geo_best=12,
        ),
    ]


def brute_force(tables, method, gates):
    best = -1.0
    for t in THRESHOLDS:
        for g in gates:
            for k in KP:
                cfg = DecisionConfig(method, t, g, k, 0)
                best = max(best, outcome(tables, cfg, THRESHOLDS, KP).of1.mean())
    return best


@pytest.mark.parametrize("method", ["network", "geometric", "hybrid"])
def test_calibration_finds_the_best_setting(method):
    gates = [0.4, 0.5, 0.6]
    cfg, of1, rows = calibrate(
        figures(), method, thresholds=THRESHOLDS, gates=gates, min_support=KP, min_area=0
    )
    assert of1 == pytest.approx(brute_force(figures(), method, gates))
    assert max(r["of1"] for r in rows) == pytest.approx(of1)
    assert cfg.method == method


def test_hybrid_beats_each_part_and_floor_is_authentic_fraction():
    gates = [0.4, 0.5, 0.6]
    scores = {
        m: calibrate(figures(), m, thresholds=THRESHOLDS, gates=gates, min_support=KP, min_area=0)[
            1
        ]
        for m in ("authentic", "network", "geometric", "hybrid")
    }
    assert scores["authentic"] == pytest.approx(3 / 6)
    assert scores["hybrid"] > max(scores["network"], scores["geometric"])
    # Worked by hand: threshold 0.3, gate 0.6 (a1 at 0.55 is let through as authentic),
    # inlier floor 20 (a3's 12-inlier misfire dropped): a1 1, a2 1, f1 .7, f2 .6, f3 .8, a3 1.
    assert scores["hybrid"] == pytest.approx((1 + 1 + 0.7 + 0.6 + 0.8 + 1) / 6)


def test_mask_on_an_authentic_figure_scores_zero():
    cfg = DecisionConfig("network", 0.3, 0.5, 0, 0)
    out = outcome(figures(), cfg, THRESHOLDS, KP)
    assert out.forged_pred[0] and out.of1[0] == 0.0  # a1 called forged
    assert not out.forged_pred[1] and out.of1[1] == 1.0


def test_settings_outside_the_grid_and_unknown_methods_are_refused():
    with pytest.raises(ValueError, match=r"threshold=0\.45"):
        outcome(figures(), DecisionConfig("network", 0.45, 0.5), THRESHOLDS, KP)
    with pytest.raises(ParamsError, match="method"):
        DecisionConfig("magic")


def test_tiny_instances_are_dropped_by_the_relative_area_floor():
    from forgeseg.decision.evidence import Evidence
    from forgeseg.decision.rules import area_floor, decide
    from forgeseg.matchers import MatchResult

    assert area_floor((1000, 1000), 48, 0.001) == 1000
    assert area_floor((100, 100), 48, 0.001) == 48
    image = np.zeros((200, 200, 3), np.uint8)
    inst = np.zeros((2, 200, 200), bool)
    inst[0, :5, :5] = True  # 25 px: a glyph-sized "copy"
    inst[1, 50:100, 50:100] = True  # 2,500 px: 6% of the figure
    found = MatchResult(inst, [30, 30], n_matches=60, score=30.0)
    ev = Evidence("x", image, geometry=found)
    kept = decide(ev, DecisionConfig("geometric", min_area=10, min_area_fraction=0.01))
    assert kept.instances.shape[0] == 1 and kept.instances[0, 60, 60]
    loose = decide(ev, DecisionConfig("geometric", min_area=10, min_area_fraction=0.0))
    assert loose.instances.shape[0] == 2


def test_ties_go_to_the_setting_that_calls_fewer_figures_forged():
    # The network fires on f4 at gate 0.4 only, where its mask scores 0: val oF1 is the same
    # at gates 0.4 and 0.6, and the quieter gate must win (on new figures, such firings
    # land on authentic figures too).
    tables = [
        table("a1", True, net_score=[0.1, 0.1], net_of1=[0, 0]),
        table("f1", False, net_score=[0.9, 0.9], net_of1=[0.8, 0.8]),
        table("f4", False, net_score=[0.5, 0.5], net_of1=[0.0, 0.0]),
    ]
    cfg, of1, rows = calibrate(
        tables, "network", thresholds=THRESHOLDS, gates=[0.4, 0.6], min_support=KP, min_area=0
    )
    assert of1 == pytest.approx((1 + 0.8 + 0) / 3)
    assert {r["of1"] for r in rows if r["threshold"] == 0.3} == {of1}
    assert cfg.gate == 0.6


def test_ties_with_as_many_firings_take_the_widest_margin():
    # Nothing separates gates 0.4 and 0.6 on these figures (f1 passes both, a1 neither):
    # the higher gate keeps the most margin against figures scored a little higher.
    tables = [
        table("a1", True, net_score=[0.1, 0.1], net_of1=[0, 0]),
        table("f1", False, net_score=[0.9, 0.9], net_of1=[0.8, 0.8]),
    ]
    cfg, _, _ = calibrate(
        tables, "network", thresholds=THRESHOLDS, gates=[0.4, 0.6], min_support=KP, min_area=0
    )
    assert cfg.gate == 0.6


def test_learned_decision_is_calibrated_on_its_accept_score():
    tabs = figures()
    accepts = [0.3, 0.7]
    # The trees' verdicts: f1 and f3 found at either accept score, a1's look-alike kept
    # only at the low one.
    kept = {"f1": (True, True), "f3": (True, True), "a1": (True, False)}
    found = {"f1": (0.9, 0.9), "f3": (0.8, 0.8), "a1": (0.0, 0.0)}
    for t in tabs:
        t.learn_any = np.array(kept.get(t.uid, (False, False)))
        t.learn_of1 = np.array(found.get(t.uid, (0.0, 0.0)))
        t.learn_px = np.zeros((2, 3), np.int64)
    cfg, of1, rows = calibrate(
        tabs, "learned", thresholds=THRESHOLDS, gates=[0.5], accepts=accepts, min_area=0
    )
    assert cfg.method == "learned" and cfg.accept == 0.7
    assert of1 == pytest.approx((1 + 1 + 0.9 + 0 + 0.8 + 1) / 6)
    assert [r["accept"] for r in rows] == accepts
    # Tables computed without a learned decision cannot be scored as one.
    with pytest.raises(ValueError, match="no learned decision"):
        outcome(figures(), cfg, THRESHOLDS, KP, accepts)
