"""Does ``dvc plots show``'s page draw its curves in a browser with no network?

Checked, not assumed: headless Chromium opens ``index.html`` with every remote host
unreachable, runs the page's scripts on virtual time and dumps the DOM, where each vega
plot either holds drawn marks or is still the bare ``<script>`` DVC wrote. Used by
``tests/test_plots_offline.py`` and ``scripts/check_plots_offline.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from forgeseg.core.errors import ForgesegError

__all__ = [
    "OFFLINE_FLAGS",
    "PageCheck",
    "check_page",
    "find_chromium",
    "render_page",
    "run_chromium",
    "scan_dom",
    "stage_repo",
    "vega_plots",
]

# Both a dead proxy and a resolver that finds no host: either alone leaves a gap
# (QUIC, hosts already resolved); file:// pages are untouched by both.
OFFLINE_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# HTML elements without an end tag: they never enclose anything.
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
_SPEC = re.compile(r"var spec = (.*?);\s*vegaEmbed\('#([^']+)'", re.DOTALL)


@dataclass
class PageCheck:
    """What the browser drew: plot div ids by outcome."""

    drawn: list[str] = field(default_factory=list)
    blank: list[str] = field(default_factory=list)
    no_data: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.drawn) and not self.blank


def find_chromium() -> str | None:
    """``$FORGESEG_CHROMIUM``, else the first Chromium or Chrome on PATH."""
    override = os.environ.get("FORGESEG_CHROMIUM")
    if override:
        return shutil.which(override)
    return next(filter(None, map(shutil.which, _BROWSERS)), None)


def render_page(repo: Path, out_dir: Path, html_template: Path | None = None) -> Path:
    """Run ``dvc plots show -o out_dir`` in ``repo``; the path of the page it wrote."""
    cmd = [sys.executable, "-m", "dvc", "plots", "show", "-o", str(out_dir)]
    if html_template is not None:
        cmd += ["--html-template", str(html_template)]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)
    page = out_dir / "index.html"
    if done.returncode != 0 or not page.is_file():
        raise ForgesegError(f"dvc plots show in {repo} wrote no page:\n{done.stderr.strip()}")
    return page


def run_chromium(
    chromium: str, page: Path, screenshot: Path | None = None, budget_ms: int = 15000
) -> str:
    """The DOM of ``page`` after ``budget_ms`` of virtual time; optionally a screenshot too."""
    with tempfile.TemporaryDirectory(prefix="forgeseg-chromium-") as profile:
        base = [chromium, *OFFLINE_FLAGS, f"--user-data-dir={profile}"]
        base.append(f"--virtual-time-budget={budget_ms}")
        url = page.resolve().as_uri()
        dom = _chromium([*base, "--dump-dom", url]).stdout
        if screenshot is not None:
            # A second run: Chromium does one of --dump-dom / --screenshot per launch.
            shot = screenshot.resolve()
            _chromium([*base, f"--screenshot={shot}", "--window-size=1400,2400", url])
    return dom


def _chromium(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        raise ForgesegError(f"{cmd[0]} still running after 120 s: page not loaded") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ForgesegError(f"{cmd[0]} exited with {done.returncode}:\n{tail}")
    return done


def vega_plots(page_html: str) -> dict[str, bool]:
    """Each vega div id in DVC's page, and whether its spec carries any data."""
    plots: dict[str, bool] = {}
    for spec, div_id in _SPEC.findall(page_html):
        # DVC writes ``{}`` for a plot whose file is absent: nothing to draw there.
        plots[div_id] = json.loads(spec) != {}
    return plots


class _Scan(HTMLParser):
    """Marks which plot divs enclose a canvas or an SVG mark group with content."""

    def __init__(self, ids: set[str]) -> None:
        super().__init__()
        self.ids = ids
        self.drawn: set[str] = set()
        self._stack: list[tuple[str, str | None, bool]] = []  # tag, plot id, is mark group

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        _, plot, in_marks = self._stack[-1] if self._stack else ("", None, False)
        plot = a.get("id") if a.get("id") in self.ids else plot
        if plot is not None and (in_marks or tag == "canvas"):
            self.drawn.add(plot)
        if tag not in _VOID:
            # Vega puts each data mark's shapes in <g class="mark-<type> role-mark ...">.
            self._stack.append((tag, plot, tag == "g" and "role-mark" in (a.get("class") or "")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self._stack.pop()

    def handle_endtag(self, tag: str) -> None:
        # Pop to the matching tag: tolerant of the odd unclosed element.
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                return


def scan_dom(dom: str, plots: dict[str, bool]) -> PageCheck:
    """Sort ``plots`` (from :func:`vega_plots`) by what ``dom`` shows of them."""
    scan = _Scan(set(plots))
    scan.feed(dom)
    result = PageCheck()
    for div_id, has_data in plots.items():
        # An empty spec still gets a (blank) canvas: no data is no data, drawn or not.
        bucket = result.drawn if div_id in scan.drawn else result.blank
        (bucket if has_data else result.no_data).append(div_id)
    return result


def check_page(chromium: str, page: Path, screenshot: Path | None = None) -> PageCheck:
    """Open ``page`` offline in ``chromium`` and report which vega plots drew."""
    plots = vega_plots(page.read_text(encoding="utf-8"))
    if not plots:
        raise ForgesegError(f"{page}: no vega plots on the page")
    return scan_dom(run_chromium(chromium, page, screenshot), plots)


def stage_repo(repo: Path, dest: Path) -> Path:
    """A DVC repo in ``dest`` with ``repo``'s plot definitions, config and plot data.

    Without ``dvc.lock``: in a workspace whose cached plot folders are absent (a fresh
    clone), DVC drops every plot of the revision; here it shows those whose files exist.
    ``build`` is linked so that the configured template path resolves as in ``repo``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=dest, check=True)
    for name in ("dvc.yaml", "params.yaml", ".dvc/config"):
        shutil.copy2(repo / name, dest / name)
    for name in ("metrics", "plots"):
        if (repo / name).is_dir():
            shutil.copytree(repo / name, dest / name, symlinks=True)
    if (repo / "build").is_dir():
        (dest / "build").symlink_to((repo / "build").resolve(), target_is_directory=True)
    return dest
