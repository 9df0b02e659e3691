"""Figures in, one report page out: each figure examined, drawn and dropped in turn."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forgeseg.core.atomic import atomic_dir, write_text
from forgeseg.decision.detector import Detector
from forgeseg.pipeline.report.collect import FigureReport, examine
from forgeseg.pipeline.report.draw import copy_crops, data_uri, encode_jpeg, figure_view
from forgeseg.pipeline.report.page import (
    Entry,
    authentic_row,
    forged_section,
    forged_title,
    page_html,
)
from forgeseg.pipeline.report.settings import ReportConfig

__all__ = ["PAGE_NAME", "ReportPage", "build_page", "figure_entry", "write_page"]

log = logging.getLogger(__name__)

PAGE_NAME = "index.html"
# Room left in a figure's byte budget for its text (headings, tables of scores).
_TEXT_BYTES = 8 * 1024


@dataclass
class ReportPage:
    """The page and what it holds; ``largest_entry``: bytes of the largest figure's part."""

    html: str
    n_forged: int
    n_authentic: int
    largest_entry: int


def figure_entry(image: np.ndarray, rep: FigureReport, cfg: ReportConfig) -> Entry:
    """One figure's part of the page, its images within ``cfg.max_kb`` with its text.

    ``image``: the (H,W,3) uint8 figure ``rep`` describes. Base64 makes 4 bytes of 3, so
    the JPEG budget is 3/4 of what is left after the text.
    """
    budget = max(4096, (cfg.max_kb * 1024 - _TEXT_BYTES) * 3 // 4)
    if not rep.forged:
        view = figure_view(image, rep, cfg.authentic_side, 0)
        html = authentic_row(rep, data_uri(encode_jpeg(view, budget)))
        strength = float(rep.rejected.strength) if rep.rejected is not None else -1.0
        return Entry(rep.uid, False, (strength, 0.0), rep.uid, html, len(html.encode()))
    copies = [c for f in rep.findings for c in f.copies][: cfg.max_copies]
    figure_budget = budget // 2 if copies else budget
    crop_budget = (budget - figure_budget) // max(1, 3 * len(copies))
    view = figure_view(image, rep, cfg.figure_side, cfg.max_lines)
    crops = [
        (c, [data_uri(encode_jpeg(x, crop_budget)) for x in copy_crops(image, c, cfg.crop_side)])
        for c in copies
    ]
    html = forged_section(rep, data_uri(encode_jpeg(view, figure_budget)), crops)
    best = float(max((f.support for f in rep.findings), default=0))
    key = (rep.score, best)
    return Entry(rep.uid, True, key, forged_title(rep), html, len(html.encode()))


def build_page(
    detector: Detector,
    figures: Iterable[tuple[str, np.ndarray, np.ndarray | None]],
    cfg: ReportConfig | None = None,
    *,
    title: str = "forgeseg evidence report",
    total: int | None = None,
    progress: bool = True,
) -> ReportPage:
    """Examine each (uid, (H,W,3) uint8 figure, truth (M,H,W) bool or None) and lay the
    page out: figures called forged by decreasing score (then support), then the
    authentic ones by decreasing support of their strongest rejected candidate (ties by
    uid).

    ``figures`` may be a generator: one figure is held at a time.
    """
    from tqdm import tqdm

    cfg = cfg or ReportConfig()
    entries = []
    for uid, image, truth in tqdm(figures, desc="report", total=total, disable=not progress):
        rep = examine(detector, image, uid, truth, max_copies=cfg.max_copies)
        entries.append(figure_entry(image, rep, cfg))
    entries.sort(key=lambda e: (-e.rank_key[0], -e.rank_key[1], e.uid))
    forged = [e for e in entries if e.forged]
    authentic = [e for e in entries if not e.forged]
    html = page_html(title, forged, authentic)
    largest = max((e.nbytes for e in entries), default=0)
    return ReportPage(html, len(forged), len(authentic), largest)


def write_page(out_dir: str | Path, page: ReportPage) -> Path:
    """Replace ``out_dir`` with a folder holding the page; the path of the page."""
    with atomic_dir(out_dir) as tmp:
        write_text(tmp / PAGE_NAME, page.html)
    path = Path(out_dir) / PAGE_NAME
    size = path.stat().st_size / 1e6
    log.info(
        "wrote %s: %d figures called forged, %d authentic, %.1f MB",
        path,
        page.n_forged,
        page.n_authentic,
        size,
    )
    return path
