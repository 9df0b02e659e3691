"""Time panel-against-panel matching (forgeseg.matchers.pairs) on one CPU core.

    python benchmarks/bench_pairs.py [--repeats 3] [--seed 0] [--no-aliked]

Builds a 2000 x 2000 compound figure of 8 panels (microscopy and blots on a grid with white
gutters, panel letters and one identical scale bar in every panel; one panel is a mirrored
copy of another, so the verification path runs too), then, with torch and OpenCV held to
one thread:

- ``panels``: ``forgeseg.panels.classical.find_panels`` on the figure (when installed);
- ``pairs``: ``forgeseg.matchers.pairs.detect`` given the figure's true structure, so the
  pair matching is timed on the panels the figure really has;
- ``total``: both, the target being at most 2 s for RootSIFT (issue 15, item 6).

Then the cost as panel pairs grow: 2000 x 2000 figures of 2, 4, 8 and 12 panels, the pairs
possible, the pairs the shortlist kept, and the seconds of ``detect``. Each time is the
median of ``--repeats`` runs (ALIKED: one run per figure, it takes seconds). Writes
``benchmarks/results/pairs.json`` and ``pairs.md`` and prints them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from forgeseg.config.matchers import PairsConfig
from forgeseg.core.atomic import write_json, write_text
from forgeseg.matchers.pairs import detect
from forgeseg.matchers.pairs.match import compared_panels
from forgeseg.matchers.pairs.shortlist import shortlist, summarise
from forgeseg.panels import Panel, Structure
from forgeseg.synth.kinds import render_single

RESULTS = Path(__file__).resolve().parent / "results"
SIDE = 2000
GUTTER = 16
GRIDS = {2: (1, 2), 4: (2, 2), 8: (4, 2), 12: (4, 3)}  # panels -> (rows, cols)
_KINDS = (("fluorescence", "microscopy"), ("histology", "microscopy"), ("western_blot", "blot"))


def figure(n: int, seed: int) -> tuple[np.ndarray, Structure]:
    """A SIDE x SIDE figure of ``n`` panels (the last a mirrored copy of the first) and its
    true structure."""
    rng = np.random.default_rng(seed)
    rows, cols = GRIDS[n]
    ph = (SIDE - GUTTER * (rows + 1)) // rows
    pw = (SIDE - GUTTER * (cols + 1)) // cols
    img = np.full((SIDE, SIDE, 3), 255, np.uint8)
    text = np.zeros((SIDE, SIDE), bool)
    panels, first = [], None
    for k in range(n):
        kind, cls = _KINDS[k % 3] if k < n - 1 else _KINDS[0]
        tile = render_single(rng, kind, ph, pw).image if k < n - 1 else first[:, ::-1]
        first = tile if k == 0 else first
        tile = tile.copy()
        cv2.putText(tile, "ABCDEFGHIJKL"[k], (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 3)
        cv2.rectangle(tile, (pw - 120, ph - 30), (pw - 20, ph - 20), (255, 255, 255), -1)
        r, c = divmod(k, cols)
        y0, x0 = GUTTER + r * (ph + GUTTER), GUTTER + c * (pw + GUTTER)
        img[y0 : y0 + ph, x0 : x0 + pw] = tile
        text[y0 + 5 : y0 + 50, x0 + 5 : x0 + 45] = True
        text[y0 + ph - 32 : y0 + ph - 18, x0 + pw - 122 : x0 + pw - 18] = True
        panels.append(Panel((x0, y0, x0 + pw, y0 + ph), cls))
    return img, Structure(tuple(panels), text)


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _find_panels() -> Callable[[np.ndarray], Structure] | None:
    try:
        from forgeseg.panels.classical import find_panels
    except ModuleNotFoundError:
        return None
    return find_panels


def _kinds(aliked: bool) -> dict[str, PairsConfig]:
    kinds = {"rootsift": PairsConfig()}
    if aliked:
        kinds["aliked"] = PairsConfig(features="aliked")
    return kinds


def eight_panels(seed: int, repeats: int, aliked: bool) -> dict[str, Any]:
    img, truth = figure(8, seed)
    find = _find_panels()
    out: dict[str, Any] = {"figure": f"{SIDE}x{SIDE}, 8 panels"}
    if find is not None:
        t_panels, found = _median_time(lambda: find(img), repeats)
        out["panels_s"] = round(t_panels, 3)
        out["panels_found"] = len(found.panels)
    else:
        t_panels = 0.0
        out["panels_s"] = None  # the classical finder is not installed
    for name, cfg in _kinds(aliked).items():
        detect(img, cfg, truth)  # warm-up: ALIKED loads its weights, OpenCV its code
        t_pairs, res = _median_time(lambda cfg=cfg: detect(img, cfg, truth), repeats)
        out[name] = {
            "pairs_s": round(t_pairs, 3),
            "total_s": round(t_pairs + t_panels, 3),
            "instances": int(res.instances.shape[0]),
            "keypoints": res.n_keypoints,
            "matches": res.n_matches,
        }
    return out


def growth(seed: int, repeats: int, aliked: bool) -> list[dict[str, Any]]:
    rows = []
    for n in GRIDS:
        img, truth = figure(n, seed)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        for name, cfg in _kinds(aliked).items():
            panels = compared_panels(truth, gray.shape, cfg)
            crops = [gray[p.box[1] : p.box[3], p.box[0] : p.box[2]] for p in panels]
            cands = shortlist(
                [summarise(c) for c in crops], [p.cls for p in panels], [p.box for p in panels], cfg
            )
            reps = repeats if name == "rootsift" else 1
            t, res = _median_time(lambda c=cfg, i=img, s=truth: detect(i, c, s), reps)
            rows.append(
                {
                    "features": name,
                    "panels": n,
                    "pairs_possible": n * (n - 1) // 2,
                    "pairs_matched": len(cands),
                    "seconds": round(t, 3),
                    "ms_per_pair": round(1000 * t / max(len(cands), 1), 1),
                    "instances": int(res.instances.shape[0]),
                }
            )
            print(rows[-1], flush=True)
    return rows


def _markdown(result: dict[str, Any]) -> str:
    e = result["eight_panels"]
    lines = [
        "# Panel-against-panel matching on one core (`python benchmarks/bench_pairs.py`)",
        "",
        f"Machine: {result['machine']}; load average at start {result['load_average']}.",
        "",
        "| 2000x2000, 8 panels | panels s | pairs s | total s | target | instances |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("rootsift", "aliked"):
        if name in e:
            lines.append(
                f"| {name} | {e['panels_s']} | {e[name]['pairs_s']} | {e[name]['total_s']} "
                f"| 2 s | {e[name]['instances']} |"
            )
    lines += [
        "",
        "| features | panels | pairs possible | pairs matched | seconds | ms per pair |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["growth"]:
        lines.append(
            f"| {r['features']} | {r['panels']} | {r['pairs_possible']} | {r['pairs_matched']} "
            f"| {r['seconds']} | {r['ms_per_pair']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-aliked", action="store_true", help="time RootSIFT only")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    aliked = not args.no_aliked
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, 1 thread used",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "eight_panels": eight_panels(args.seed, args.repeats, aliked),
    }
    print(result["eight_panels"], flush=True)
    result["growth"] = growth(args.seed, args.repeats, aliked)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "pairs.json", result)
    md = _markdown(result)
    write_text(RESULTS / "pairs.md", md)
    print(md)


if __name__ == "__main__":
    main()
