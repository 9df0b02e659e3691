"""The ``panels`` stage: train the figure-structure net on generated figures, then measure
it beside the classical detector on generated val figures.

Writes ``models/panels.pt`` (the network, loadable with ``weights_only=True``) and
``metrics/panels.json``: panel recall and precision at IoU 0.5, class accuracy of the
matched panels and text-mask F1 of both detectors, their cost per figure, and what the
training spent.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.config import BaseConfig, SynthConfig, resolve_device
from forgeseg.config.panels import PanelsConfig
from forgeseg.panels.classical import find_panels
from forgeseg.panels.learned import PanelDetector, save_structure_net, to_rgb
from forgeseg.panels.metrics import structure_scores
from forgeseg.panels.structure import Structure
from forgeseg.panels.train import encode, fit, generate_samples
from forgeseg.pipeline.headline import write_metrics

__all__ = ["METRICS", "MODEL", "evaluate_detector", "run_stage"]

log = logging.getLogger(__name__)

MODEL = Path("models/panels.pt")
METRICS = Path("metrics/panels.json")
# Everything else the stage measured (class accuracy, ms per figure, fallbacks).
SUMMARY = Path("plots/panels/summary.json")
IOU = 0.5


def evaluate_detector(
    find: Callable[[np.ndarray], Structure], samples: Sequence[tuple[np.ndarray, Structure]]
) -> dict[str, Any]:
    """Headline scores of one detector on (figure, truth) pairs: panel recall and precision
    at IoU 0.5, class accuracy of the matched panels, text F1, milliseconds per figure."""
    pairs, seconds = [], 0.0
    for image, truth in samples:
        start = time.perf_counter()
        pred = find(image)
        seconds += time.perf_counter() - start
        pairs.append((pred, truth))
    s = structure_scores(pairs, iou=IOU)
    matched = s["panel_recall"] * s["panels_true"]
    # structure_scores counts right classes over all true panels; the share among the
    # matched ones says how good the classes are where the boxes are right.
    cls = s["class_accuracy"] * s["panels_true"] / matched if matched else 0.0
    return {
        "panel_recall": round(float(s["panel_recall"]), 4),
        "panel_precision": round(float(s["panel_precision"]), 4),
        "class_accuracy": round(float(cls), 4),
        "text_f1": round(float(s["text_f1"]), 4),
        "ms_per_figure": round(1000.0 * seconds / max(1, len(samples)), 2),
    }


def run_stage(
    cfg: PanelsConfig,
    base: BaseConfig,
    synth: SynthConfig,
    model_path: str | os.PathLike[str] = MODEL,
    metrics_path: str | os.PathLike[str] = METRICS,
    summary_path: str | os.PathLike[str] = SUMMARY,
    progress: bool = True,
) -> dict[str, Any]:
    """Train on ``cfg.n_train`` generated figures (``cfg.seed``), save the network, score it
    and the classical detector on ``cfg.n_val`` others (``cfg.seed + 1``); return the
    metrics written. Figure sizes follow ``synth.min_side`` / ``synth.max_side``."""
    device = resolve_device(base.device)
    sides = {"min_side": synth.min_side, "max_side": synth.max_side}
    log.info("generating %d training and %d val figures", cfg.n_train, cfg.n_val)
    train = generate_samples(cfg.n_train, cfg.seed, cfg.compound_share, **sides, progress=progress)
    val = generate_samples(cfg.n_val, cfg.seed + 1, cfg.compound_share, **sides)
    data = encode(train, cfg.size)
    del train
    log.info(
        "training the structure net: %d figures at %d px, %d epochs on %s",
        len(data),
        cfg.size,
        cfg.epochs,
        device,
    )
    model, history = fit(data, cfg, base.seed, device=device, progress=progress)
    save_structure_net(model_path, model, cfg, {"history": history})
    log.info(
        "saved %s after %.0f s (final loss %.4f)",
        model_path,
        history["seconds"],
        history["loss"][-1],
    )
    detector = PanelDetector(model_path, cfg, device=device)
    fallbacks = 0

    def learned(image: np.ndarray) -> Structure:
        nonlocal fallbacks
        s = detector.find(image)
        fallbacks += detector.last_fallback
        return s

    metrics = {
        "learned": evaluate_detector(learned, val),
        "classical": evaluate_detector(lambda im: find_panels(to_rgb(im)), val),
        "val_figures": len(val),
        "learned_fallbacks": fallbacks,
        "train_seconds": history["seconds"],
    }
    write_metrics("panels", metrics, metrics_path, Path(summary_path))
    for name in ("learned", "classical"):
        m = metrics[name]
        log.info(
            "%s on %d val figures: panel recall %.3f, precision %.3f, class accuracy %.3f, "
            "text F1 %.3f, %.1f ms per figure",
            name,
            len(val),
            m["panel_recall"],
            m["panel_precision"],
            m["class_accuracy"],
            m["text_f1"],
            m["ms_per_figure"],
        )
    return metrics
