"""The evidence report's settings (``report`` in ``params.yaml``): thumbnail sizes, the byte
budget of one figure, and how many figures the stage examines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from forgeseg.config.build import Section, setting

__all__ = ["ReportConfig"]


@dataclass(frozen=True)
class ReportConfig(Section):
    """How the evidence report draws each figure.

    ``max_kb`` bounds every figure's images together (the page embeds them), so a report
    on 1,000 figures stays under 200 MB at the default; JPEG quality and then size give
    way until a figure fits.
    """

    KEY: ClassVar[str] = "report"
    figure_side: int = setting(480, ge=64, le=2048)  # long side of a flagged figure, px
    authentic_side: int = setting(240, ge=64, le=2048)  # ... of a figure called authentic
    crop_side: int = setting(200, ge=32, le=1024)  # long side of a source / copy crop
    max_lines: int = setting(20, ge=0, le=1000)  # matched point pairs drawn per copy
    max_copies: int = setting(4, ge=1, le=64)  # copy-moves shown per figure, strongest first
    max_kb: int = setting(200, ge=20, le=100_000)  # all images of one figure, KiB
    # Figures examined (0: all). The stage takes those the submission calls forged first,
    # then the rest in input order, so a bounded report keeps every detection.
    max_figures: int = setting(0, ge=0)
