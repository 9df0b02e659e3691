"""Does the report open in a browser with no network: every image decoded, no error?

Headless Chromium (through :mod:`forgeseg.pipeline.plots_browser`, network off) loads the
page; the page's own check (:mod:`forgeseg.pipeline.report.page`) writes what it saw into
``<div id="selfcheck">``, which the dumped DOM carries back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from forgeseg.core.errors import ForgesegError
from forgeseg.pipeline.plots_browser import run_chromium

__all__ = ["ReportCheck", "check_report", "read_selfcheck"]


@dataclass
class ReportCheck:
    """What the browser saw: ``<img>`` elements in the DOM, how many decoded, the alt text
    of those that did not, and every error the page heard (scripts, loads, blocked URLs,
    ``console.error``)."""

    images: int
    loaded: int
    broken: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.images > 0 and self.loaded == self.images and not self.errors


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images = 0
        self.check: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images += 1
        elif a.get("id") == "selfcheck":
            self.check = a


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(" | ") if v]


def read_selfcheck(dom: str, page: Path | str = "page") -> ReportCheck:
    """The page's own check out of a dumped DOM.

    Raises:
        ForgesegError: naming ``page`` when the check never ran (the page did not finish
            loading, or its script was blocked).
    """
    scan = _Scan()
    scan.feed(dom)
    check = scan.check
    if check is None or check.get("data-done") != "1":
        raise ForgesegError(f"{page}: the page's self-check did not run (page not loaded?)")
    reported = int(check.get("data-images") or 0)
    errors = _split(check.get("data-errors"))
    if reported != scan.images:
        errors.append(f"the page counted {reported} images, the DOM holds {scan.images}")
    loaded = int(check.get("data-loaded") or 0)
    return ReportCheck(scan.images, loaded, _split(check.get("data-broken")), errors)


def check_report(chromium: str, page: Path, screenshot: Path | None = None) -> ReportCheck:
    """Open ``page`` in ``chromium`` with every remote host unreachable; what it saw.
    ``screenshot``: also save a PNG of the page's top there."""
    return read_selfcheck(run_chromium(chromium, page, screenshot), page)
