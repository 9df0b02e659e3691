"""The learned structure detector: trained briefly it finds panels, its checkpoint loads
with ``weights_only=True``, and without a usable network the classical detector answers."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from forgeseg.config.panels import PanelsConfig
from forgeseg.core.errors import DataError
from forgeseg.models.checkpoint import save_checkpoint
from forgeseg.panels.classical import find_panels
from forgeseg.panels.learned import PanelDetector, load_structure_net, prepare, save_structure_net
from forgeseg.panels.metrics import structure_scores
from forgeseg.panels.net import N_MAPS
from forgeseg.panels.structure import Panel, Structure
from forgeseg.panels.train import encode, fit, generate_samples

CFG = PanelsConfig(size=64, channels=(8, 16, 16), epochs=40, batch_size=8, lr=0.01)


def _grid(rng: np.random.Generator) -> tuple[np.ndarray, Structure]:
    """A compound figure drawn here: 1-2 rows by 2-3 columns of textured panels (dark
    'microscopy' or grey 'blot' fields) on white, with gutters of 4-8 px."""
    rows, cols = int(rng.integers(1, 3)), int(rng.integers(2, 4))
    h, w = int(rng.integers(120, 200)), int(rng.integers(200, 320))
    g = int(rng.integers(4, 9))
    img = np.full((h, w, 3), 255, np.uint8)
    ph, pw = (h - g * (rows + 1)) // rows, (w - g * (cols + 1)) // cols
    panels = []
    for r in range(rows):
        for c in range(cols):
            x0, y0 = g + c * (pw + g), g + r * (ph + g)
            dark = bool(rng.random() < 0.5)
            base = 30 if dark else 170
            img[y0 : y0 + ph, x0 : x0 + pw] = rng.integers(base, base + 50, (ph, pw, 1))
            panels.append(Panel((x0, y0, x0 + pw, y0 + ph), "microscopy" if dark else "blot"))
    return img, Structure(tuple(panels), np.zeros((h, w), bool))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    data = encode([_grid(rng) for _ in range(24)], CFG.size)
    model, history = fit(data, CFG, seed=0, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    path = tmp_path_factory.mktemp("panels") / "panels.pt"
    save_structure_net(path, model, CFG, {"history": history})
    return path


def test_briefly_trained_detector_finds_the_panels_of_a_compound_figure(trained: Path) -> None:
    detector = PanelDetector(trained, CFG)
    assert detector.learned
    rng = np.random.default_rng(99)  # figures the network never saw
    pairs = []
    for _ in range(6):
        image, truth = _grid(rng)
        pred = detector.find(image)
        assert not detector.last_fallback
        pairs.append((pred, truth))
    s = structure_scores(pairs, iou=0.5)
    assert s["panel_recall"] >= 0.8 and s["panel_precision"] >= 0.8, s
    assert s["class_accuracy"] >= 0.8, s


def test_checkpoint_round_trips_with_weights_only(trained: Path) -> None:
    raw = torch.load(trained, map_location="cpu", weights_only=True)
    assert raw["size"] == CFG.size and raw["model_cfg"]["channels"] == list(CFG.channels)
    model, size = load_structure_net(trained)
    again = trained.with_name("again.pt")
    save_structure_net(again, model, CFG, {})
    reloaded, _ = load_structure_net(again)
    x, _ = prepare(np.full((50, 80, 3), 200, np.uint8), size)
    with torch.inference_mode():
        torch.testing.assert_close(model(x[None]), reloaded(x[None]))


def test_missing_checkpoint_falls_back_to_classical_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image, _ = _grid(np.random.default_rng(5))
    with caplog.at_level(logging.INFO, logger="forgeseg.panels.learned"):
        detector = PanelDetector(tmp_path / "absent.pt", CFG)
    assert not detector.learned
    assert "absent.pt" in caplog.text and "classical" in caplog.text
    got = detector.find(image)
    assert detector.last_fallback
    assert got.panels == find_panels(image).panels


def test_an_empty_prediction_falls_back_to_classical(trained: Path, tmp_path: Path) -> None:
    model, _ = load_structure_net(trained)
    with torch.no_grad():
        model.head.bias[:N_MAPS] = -50.0  # no core, no text anywhere
    silent = tmp_path / "silent.pt"
    save_structure_net(silent, model, CFG, {})
    image, _ = _grid(np.random.default_rng(6))
    detector = PanelDetector(silent, CFG)
    got = detector.find(image)
    assert detector.last_fallback
    classical = find_panels(image)
    assert got.panels == classical.panels
    assert np.array_equal(got.text_mask, classical.text_mask)


def test_classical_method_never_loads_the_network(trained: Path) -> None:
    detector = PanelDetector(trained, PanelsConfig(method="classical"))
    assert not detector.learned


def test_a_forgery_checkpoint_is_refused_naming_the_file(tmp_path: Path) -> None:
    other = tmp_path / "model.pt"
    save_checkpoint(other, {"model_cfg": {"arch": "unet"}, "size": 64, "state_dict": {}})
    with pytest.raises(DataError, match=r"model\.pt: not a panel-structure checkpoint"):
        PanelDetector(other, CFG)


def test_training_is_deterministic_for_a_seed() -> None:
    samples = generate_samples(4, seed=1, compound_share=1.0, min_side=96, max_side=160)
    assert len(samples) == 4 and all(len(t.panels) >= 1 for _, t in samples)
    data = encode(samples, 64)
    cfg = PanelsConfig(size=64, channels=(8, 8, 8), epochs=1, batch_size=2)
    a, _ = fit(data, cfg, seed=3, progress=False)
    b, _ = fit(data, cfg, seed=3, progress=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_stage_writes_a_loadable_model_and_headline_metrics(tmp_path: Path) -> None:
    from forgeseg.config import BaseConfig, SynthConfig
    from forgeseg.pipeline.panels_stage import run_stage

    cfg = PanelsConfig(size=64, channels=(8, 8, 8), epochs=1, n_train=6, n_val=3, batch_size=3)
    model, metrics = tmp_path / "models" / "panels.pt", tmp_path / "metrics" / "panels.json"
    got = run_stage(
        cfg,
        BaseConfig(device="cpu"),
        SynthConfig(min_side=96, max_side=160),
        model_path=model,
        metrics_path=metrics,
        summary_path=tmp_path / "plots" / "summary.json",
        progress=False,
    )
    # The metrics file holds the headline; the summary beside the plots holds everything.
    assert json.loads((tmp_path / "plots" / "summary.json").read_text()) == got
    head = json.loads(metrics.read_text())
    assert head["learned"]["panel_recall"] == got["learned"]["panel_recall"]
    assert "class_accuracy" not in head["learned"] and "val_figures" not in head
    assert got["val_figures"] == 3 and 0 <= got["learned_fallbacks"] <= 3
    for name in ("learned", "classical"):
        m = got[name]
        assert set(m) == {
            "panel_recall",
            "panel_precision",
            "class_accuracy",
            "text_f1",
            "ms_per_figure",
        }
        assert all(0.0 <= m[k] <= 1.0 for k in m if k != "ms_per_figure")
    assert PanelDetector(model, cfg).learned
