"""Open ``dvc plots show``'s page in headless Chromium, network off; say what drew.

    python scripts/check_plots_offline.py [--screenshot docs/plots_page.png] [--default]

``--default`` checks DVC's own CDN template instead (it should fail offline). Exit status
0 when every plot with data drew. Runs in a staged copy: see plots_browser.stage_repo.
"""

import argparse
import tempfile
from pathlib import Path

from dvc_render.html import PAGE_HTML

from forgeseg.core.errors import ForgesegError
from forgeseg.core.logs import run_main
from forgeseg.pipeline.plots_browser import check_page, find_chromium, render_page, stage_repo

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, help="also save a PNG of the page here")
    parser.add_argument("--default", action="store_true", help="use DVC's CDN template")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        raise ForgesegError("no Chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="forgeseg-plots-") as tmp:
        repo = stage_repo(REPO, Path(tmp) / "repo")
        template = None
        if args.default:
            template = Path(tmp) / "cdn.html"
            template.write_text(PAGE_HTML, encoding="utf-8")
        page = render_page(repo, Path(tmp) / "out", template)
        result = check_page(chromium, page, args.screenshot)
    print(f"template: {'DVC default (CDN)' if args.default else 'offline (inlined vega)'}")
    for label, ids in (
        ("drew", result.drawn),
        ("BLANK", result.blank),
        ("no data", result.no_data),
    ):
        for div_id in ids:
            print(f"  {label:8s} {div_id}")
    print(
        f"{len(result.drawn)} drawn, {len(result.blank)} blank, {len(result.no_data)} without data"
    )
    if not result.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    run_main(main)
