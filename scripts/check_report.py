"""Open an evidence report in headless Chromium, network off; say what loaded.

    python scripts/check_report.py [plots/report/index.html] [--screenshot docs/report.png]

Exit status 0 when every image decoded and the page heard no error (script errors,
failed loads, blocked URLs, console.error).
"""

import argparse
from pathlib import Path

from forgeseg.core.errors import DataError, ForgesegError
from forgeseg.core.logs import run_main
from forgeseg.pipeline.plots_browser import find_chromium
from forgeseg.pipeline.report.browser import check_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", type=Path, default=Path("plots/report/index.html"))
    parser.add_argument("--screenshot", type=Path, help="also save a PNG of the page here")
    args = parser.parse_args()
    if not args.page.is_file():
        raise DataError(args.page, "no report here (run `dvc repro report` or forgeseg report)")
    chromium = find_chromium()
    if chromium is None:
        raise ForgesegError("no Chromium on PATH (Debian: apt-get install chromium)")
    result = check_report(chromium, args.page, args.screenshot)
    size = args.page.stat().st_size / 1e6
    print(f"{args.page}: {size:.2f} MB, {result.loaded} of {result.images} images loaded")
    for alt in result.broken:
        print(f"  BROKEN  {alt}")
    for err in result.errors:
        print(f"  ERROR   {err}")
    if not result.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    run_main(main)
