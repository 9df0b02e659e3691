"""The report stage: the evidence report of the test split, in ``plots/report/index.html``."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from forgeseg.config import Params, resolve_device
from forgeseg.core.imageio import read_image
from forgeseg.data.layout import Record, read_index
from forgeseg.data.truth import read_truth
from forgeseg.decision.calibration import load_calibration
from forgeseg.decision.detector import Detector
from forgeseg.pipeline.paths import PATHS, Paths
from forgeseg.pipeline.report.build import build_page, write_page
from forgeseg.pipeline.report.settings import ReportConfig
from forgeseg.scoring.files import load_solution

__all__ = ["REPORT_DIR", "report_split"]

log = logging.getLogger(__name__)

REPORT_DIR = Path("plots/report")


def _figures(
    records: Sequence[Record], solution: dict[str, str] | None
) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    for rec in records:
        image = read_image(rec.image)
        yield rec.uid, image, read_truth(rec, image.shape[:2], solution)


def _flagged_first(records: Sequence[Record], paths: Paths) -> list[Record]:
    """Records the infer stage's submission calls forged first (a stable sort), so a report
    bounded by ``max_figures`` still shows every detection; input order without one."""
    from forgeseg.scoring.files import read_submission

    sub = paths.predictions / "submission.csv"
    if not sub.is_file():
        return list(records)
    called = dict(read_submission(sub))
    return sorted(records, key=lambda r: called.get(r.uid, "authentic") == "authentic")


def report_split(
    params: Params,
    *,
    paths: Paths = PATHS,
    out: str | Path = REPORT_DIR,
    cfg: ReportConfig | None = None,
    split: str = "test",
    progress: bool = True,
) -> Path:
    """The calibrated detector on every figure of ``split`` (``data/splits/<split>.csv``),
    as an evidence page under ``out``; true regions drawn when the data root knows them.
    Returns the page's path."""
    cfg = cfg or params.report
    decision = load_calibration(paths.calibration, params.detect)
    records = _flagged_first(read_index(paths.splits / f"{split}.csv"), paths)
    if cfg.max_figures:
        records = records[: cfg.max_figures]
    detector = Detector(
        params.detect,
        decision,
        model_path=paths.model,
        device=resolve_device(params.base.device),
    )
    log.info("examining %d %s figures with the %s detector", len(records), split, decision.method)
    solution = load_solution(Path(params.data.root))
    page = build_page(
        detector,
        _figures(records, solution),
        cfg,
        title=f"forgeseg evidence report: {split} split of {params.data.root}",
        total=len(records),
        progress=progress,
    )
    return write_page(out, page)
