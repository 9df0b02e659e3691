"""``forgeseg report --images DIR``: the evidence report of any folder of figures."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from forgeseg.config import DetectConfig, resolve_device
from forgeseg.core.imageio import read_image
from forgeseg.decision.calibration import load_calibration
from forgeseg.decision.detector import Detector
from forgeseg.pipeline.infer import figure_files
from forgeseg.pipeline.report.build import build_page, write_page
from forgeseg.pipeline.report.settings import ReportConfig

__all__ = ["report_folder"]


def _figures(files: Sequence[Path]) -> Iterator[tuple[str, np.ndarray, None]]:
    for path in files:
        yield path.stem, read_image(path), None


def report_folder(
    images: str | Path,
    out_dir: str | Path,
    *,
    model_path: str | Path,
    calibration_path: str | Path,
    detect: DetectConfig | None = None,
    device: str = "auto",
    cfg: ReportConfig | None = None,
    progress: bool = True,
) -> Path:
    """Every PNG/JPEG/TIFF/BMP in ``images`` through the calibrated detector, as one
    self-contained page ``out_dir/index.html``; returns its path.

    ``model_path``: the network checkpoint, read only when the calibrated method uses the
    network (``hybrid``, ``network``).
    """
    folder = Path(images)
    files = figure_files(folder)
    cfg = cfg or ReportConfig()
    if cfg.max_figures:
        files = files[: cfg.max_figures]
    detect = detect or DetectConfig()
    detector = Detector(
        detect,
        load_calibration(calibration_path, detect),
        model_path=model_path,
        device=resolve_device(device),
    )
    page = build_page(
        detector,
        _figures(files),
        cfg,
        title=f"forgeseg evidence report: {folder}",
        total=len(files),
        progress=progress,
    )
    return write_page(out_dir, page)
