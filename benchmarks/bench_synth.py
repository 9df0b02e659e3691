"""Benchmark the synthetic dataset generator.

    python benchmarks/bench_synth.py [--figures 1000] [--workers 2] [--max-side 1024]

Generates a dataset of about ``--figures`` figures (train forged + authentic twins +
supplemental + test, with the default proportions) into a temporary folder, then writes
seconds and figures per second to `benchmarks/results/synth.json` and prints them.
Target: 1,000 figures of up to 1024 px in at most 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from forgeseg.core.atomic import write_json
from forgeseg.synth import generate_dataset

RESULT = Path(__file__).resolve().parent / "results" / "synth.json"


def train_cases_for(figures: int, twin: float = 0.85) -> int:
    """Train case_ids giving about ``figures`` figures with the default test/supp shares."""
    # Per train case: 1 forged + twin authentic + 1/5 test + 1/50 supplemental.
    return max(1, round(figures / (1 + twin + 0.2 + 0.02)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figures", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--min-side", type=int, default=100)
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n = train_cases_for(args.figures)
    with tempfile.TemporaryDirectory(prefix="bench_synth_") as tmp:
        start = time.perf_counter()
        summary = generate_dataset(
            Path(tmp) / "data",
            n=n,
            seed=args.seed,
            min_side=args.min_side,
            max_side=args.max_side,
            workers=args.workers,
            progress=False,
        )
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (Path(tmp) / "data").rglob("*") if p.is_file())
    result = {
        "figures": summary["figures"],
        "train_cases": n,
        "workers": args.workers,
        "max_side": args.max_side,
        "seconds": round(seconds, 2),
        "figures_per_second": round(summary["figures"] / seconds, 2),
        "megabytes": round(size / 1e6, 1),
        "subsets": summary["subsets"],
        "kinds": summary["kinds"],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    write_json(RESULT, result)
    print(
        f"{result['figures']} figures in {result['seconds']} s "
        f"({result['figures_per_second']} figures/s, {args.workers} workers, "
        f"up to {args.max_side} px, {result['megabytes']} MB) -> {RESULT}"
    )


if __name__ == "__main__":
    main()
