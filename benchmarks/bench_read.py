"""Benchmark: read and validate a Kaggle-layout folder of about 5,000 figures.

Target: :func:`forgeseg.data.layout.scan` (decode every figure and mask, check them) over
5,000 figures in at most 2 minutes with 2 worker processes. Also timed: decoding figures
and masks one by one with :mod:`forgeseg.core.imageio` (what the data loaders do), and the
index round trip.

The figures are generated once with :func:`forgeseg.synth.generate_dataset` and cached
under ``--data`` (default ``/tmp/forgeseg-bench-read``); a sidecar JSON beside the folder
records the generation settings, so a cache made with other settings is regenerated.

    python benchmarks/bench_read.py [--data DIR] [--figures 5000] [--workers 2]

Writes ``benchmarks/results/read.json`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from forgeseg.core.atomic import write_json
from forgeseg.core.imageio import read_image, read_mask
from forgeseg.data.layout import read_index, scan, write_index

RESULTS = Path(__file__).resolve().parent / "results" / "read.json"
TIME_LIMIT_S = 120.0


def _ensure_data(root: Path, figures: int, seed: int, max_side: int, workers: int) -> dict:
    """Generate (or reuse) a dataset holding at least ``figures`` figures."""
    settings = {"figures": figures, "seed": seed, "max_side": max_side}
    sidecar = root.with_name(root.name + ".bench.json")
    if root.is_dir() and sidecar.is_file():
        cached = json.loads(sidecar.read_text())
        if cached.get("settings") == settings:
            return {**cached, "generated_now": False}
    from forgeseg.synth import generate_dataset

    # A train case yields about 2.05 figures (85% have an authentic twin, plus the test
    # and supplemental cases): half as many cases as figures gives slightly more than asked.
    n = max(1, -(-figures // 2))
    t0 = time.perf_counter()
    summary = generate_dataset(root, n=n, seed=seed, max_side=max_side, workers=workers)
    gen_s = time.perf_counter() - t0
    info = {"settings": settings, "n_cases": n, "generate_s": round(gen_s, 1), "summary": summary}
    write_json(sidecar, info)
    return {**info, "generated_now": True}


def _decode_sample(records: list, k: int, seed: int) -> dict[str, float]:
    """Mean ms to decode a figure (and its mask) with imageio, in this one process."""
    rng = np.random.default_rng(seed)
    pick = [records[i] for i in rng.choice(len(records), size=min(k, len(records)), replace=False)]
    t0 = time.perf_counter()
    pixels = 0
    for rec in pick:
        img = read_image(rec.image)
        pixels += img.shape[0] * img.shape[1]
        if rec.mask:
            read_mask(rec.mask, shape=img.shape[:2])
    dt = time.perf_counter() - t0
    return {
        "figures": len(pick),
        "ms_per_figure": round(1000 * dt / len(pick), 2),
        "megapixels_per_s": round(pixels / 1e6 / dt, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(tempfile.gettempdir()) / "forgeseg-bench-read"
    )
    ap.add_argument("--figures", type=int, default=5000, help="figures to validate (default 5000)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=200, help="figures decoded one by one")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    data = _ensure_data(args.data, args.figures, args.seed, args.max_side, args.workers)

    t0 = time.perf_counter()
    result = scan(args.data, strict=False, workers=args.workers, progress=False)
    scan_s = time.perf_counter() - t0
    n = len(result.records) + len(result.skipped)
    mp = sum(r.height * r.width for r in result.records) / 1e6

    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        write_index(Path(tmp) / "index.csv", result.records)
        back = read_index(Path(tmp) / "index.csv")
        index_s = time.perf_counter() - t1
    assert back == result.records

    per_5000 = scan_s * 5000 / max(n, 1)
    out = {
        "data": str(args.data),
        "generated_now": data["generated_now"],
        "generate_s": data.get("generate_s"),
        "workers": args.workers,
        "figures": len(result.records),
        "skipped": len(result.skipped),
        "megapixels": round(mp, 1),
        "masks": sum(1 for r in result.records if r.mask),
        "scan_s": round(scan_s, 2),
        "figures_per_s": round(n / scan_s, 1),
        "scan_s_per_5000_figures": round(per_5000, 1),
        "limit_s_per_5000_figures": TIME_LIMIT_S,
        "within_limit": per_5000 <= TIME_LIMIT_S,
        "index_round_trip_s": round(index_s, 3),
        "decode_one_process": _decode_sample(result.records, args.sample, args.seed),
        # ru_maxrss is in KiB on Linux; children: the largest worker process.
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_worker_mib": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
        ),
    }
    write_json(args.out, out)
    print(json.dumps(out, indent=2))
    return 0 if out["within_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
