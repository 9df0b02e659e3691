"""The report's settings live with the other params sections (:mod:`forgeseg.config.report`)."""

from forgeseg.config.report import ReportConfig

__all__ = ["ReportConfig"]
