"""Benchmark every detector on the same figures in one run.

    python benchmarks/bench_methods.py [--large 300] [--out metrics/benchmark.json]

Rows: the all-authentic floor, the plain U-Net, the self-correlation U-Net, keypoints
alone, and the hybrid (self-correlation U-Net + keypoints). Each is calibrated on the val
split (as the evaluate stage does) and scored on the default generated test set and on a
larger generated test set made with another seed.

The self-correlation model is the pipeline's own `models/model.pt` (run `dvc repro` first);
the plain U-Net is trained here with the same params except `model.arch: unet`, so both see
the same data for the same number of steps.

Writes `metrics/benchmark.json` (a DVC metrics file) and `benchmarks/results/methods.md`.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from forgeseg.config import load_params, override, resolve_device
from forgeseg.core.atomic import write_json, write_text
from forgeseg.core.imageio import read_image
from forgeseg.core.logs import run_main
from forgeseg.data.layout import read_index, scan
from forgeseg.data.truth import read_truth
from forgeseg.decision.calibration import calibrate, outcome, tabulate
from forgeseg.decision.detector import Detector
from forgeseg.decision.evidence import Evidence
from forgeseg.decision.rules import DecisionConfig
from forgeseg.matchers import merge_results
from forgeseg.models.predictor import Predictor
from forgeseg.pipeline.evaluate import summarize
from forgeseg.scoring.files import load_solution
from workcache import SRC, is_fresh, mark_fresh, source_digest, training_key, work_key

log = logging.getLogger("bench_methods")

ROWS = [  # (row name, detector method, network, matchers)
    ("all-authentic floor", "authentic", None, None),
    ("plain U-Net", "network", "unet", None),
    ("self-correlation U-Net", "network", "selfcorr", None),
    ("SIFT + RANSAC", "geometric", None, "sift"),
    ("dense block matching", "geometric", None, "dense"),
    ("SIFT + dense", "geometric", None, "both"),
    ("hybrid: self-corr U-Net + SIFT", "hybrid", "selfcorr", "sift"),
    ("hybrid: plain U-Net + SIFT + dense", "hybrid", "unet", "both"),
    ("hybrid: self-corr U-Net + SIFT + dense (pipeline default)", "hybrid", "selfcorr", "both"),
]
COMBOS = sorted({(net, m) for _, _, net, m in ROWS}, key=str)


def _tables(records, nets: dict[str, Predictor], detector: Detector, grids, solution=None, desc=""):
    """Figure tables per (network, matchers) combination; each detector runs once a figure."""
    from tqdm import tqdm

    from forgeseg.matchers import get_matcher

    out: dict[tuple, list] = {c: [] for c in COMBOS}
    for rec in tqdm(records, desc=desc):
        image = read_image(rec.image)
        truth = read_truth(rec, image.shape[:2], solution)
        if truth is None:
            continue
        found = {
            name: get_matcher(name).detect(image, getattr(detector.detect_cfg, name))
            for name in ("sift", "dense")
        }
        found["both"] = merge_results([found["sift"], found["dense"]], image.shape[:2])
        outs = {name: p.predict(image) for name, p in nets.items()}
        for net, m in COMBOS:
            ev = Evidence(rec.uid, image, net=outs.get(net), geometry=found.get(m), truth=truth)
            out[(net, m)].append(
                tabulate(
                    ev,
                    grids["thresholds"],
                    grids["min_support"],
                    grids["min_area"],
                    grids["min_area_fraction"],
                )
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--large", type=int, default=300, help="figures in the larger test set")
    ap.add_argument("--large-seed", type=int, default=1001)
    ap.add_argument("--work", default="benchmarks/.work")
    ap.add_argument("--out", default="metrics/benchmark.json")
    ap.add_argument("--md", default="benchmarks/results/methods.md")
    args = ap.parse_args()
    params = load_params(args.params)
    work = Path(args.work)
    device = resolve_device(params.base.device)

    # 1. The plain U-Net, same params but the architecture.
    unet_path = work / "unet.pt"
    p = override(params, {"model.arch": "unet"})
    unet_key = training_key(p)
    t0 = time.perf_counter()
    if not is_fresh(unet_path, unet_key):
        from forgeseg.pipeline.train import train

        # A half-finished run of older data or code must not be resumed.
        (work / "unet_last.pt").unlink(missing_ok=True)
        log.info("training the plain U-Net (no checkpoint for these params, data and code)")
        train(p, model_out=unet_path, last_out=work / "unet_last.pt", live_dir=work / "unet_live")
        mark_fresh(unet_path, unet_key)
    train_s = time.perf_counter() - t0
    nets = {"unet": Predictor(unet_path, device), "selfcorr": Predictor("models/model.pt", device)}

    # 2. A larger generated test set from another seed (its own train part is unused).
    large_root = work / f"large_{args.large}_{args.large_seed}"
    s = params.synth
    large_key = work_key(sides=[s.min_side, s.max_side], source=source_digest(SRC / "synth"))
    # The key sits beside the folder: inside it, the strict scan would call it a stray file.
    if not is_fresh(large_root, large_key):
        from forgeseg.synth import generate_dataset

        # Figures of an older generator would be scored as if they were these.
        shutil.rmtree(large_root, ignore_errors=True)
        log.info("generating the large test set (%d figures, seed %d)", args.large, args.large_seed)
        generate_dataset(
            large_root,
            n=2,
            seed=args.large_seed,
            n_test=args.large,
            n_supplemental=0,
            min_side=s.min_side,
            max_side=s.max_side,
            workers=params.base.workers,
        )
        mark_fresh(large_root, large_key)

    det, ev_cfg = params.detect, params.evaluate
    grids = {
        "thresholds": ev_cfg.thresholds,
        "gates": ev_cfg.gates,
        "min_support": ev_cfg.min_support,
        "min_area": det.min_area,
        "min_area_fraction": det.min_area_fraction,
    }
    matcher = Detector(det, DecisionConfig("geometric"))

    sets = {
        "val": (read_index("data/splits/val.csv"), None),
        "test": (read_index("data/splits/test.csv"), load_solution(Path(params.data.root))),
        "test_large": (
            [
                r
                for r in scan(large_root, strict=True, progress=False).records
                if r.subset == "test"
            ],
            load_solution(large_root),
        ),
    }
    t1 = time.perf_counter()
    tables = {
        k: _tables(recs, nets, matcher, grids, sol, desc=k) for k, (recs, sol) in sets.items()
    }
    detect_s = time.perf_counter() - t1

    results: dict[str, Any] = {
        "rows": {},
        "seconds": {"train_unet": round(train_s, 1), "detect_all": round(detect_s, 1)},
    }
    for row, method, net, m in ROWS:
        cfg, _, _ = calibrate(
            tables["val"][(net, m)],
            method,
            thresholds=grids["thresholds"],
            gates=grids["gates"],
            min_support=grids["min_support"],
            min_area=grids["min_area"],
            min_area_fraction=grids["min_area_fraction"],
        )
        entry: dict[str, Any] = {
            "method": method,
            "network": net,
            "matchers": m,
            "calibrated": {
                "threshold": cfg.threshold,
                "gate": cfg.gate,
                "min_support": cfg.min_support,
            },
        }
        for split in ("val", "test", "test_large"):
            s = summarize(
                outcome(tables[split][(net, m)], cfg, grids["thresholds"], grids["min_support"])
            )
            entry[split] = {
                k: s[k]
                for k in ("of1", "floor", "forged_only_of1", "authentic_fpr", "dice", "n_figures")
            }
        results["rows"][row] = entry
    write_json(args.out, results)

    lines = [
        "| detector | test oF1 | floor | forged-only oF1 | authentic FPR | pixel F1 | "
        f"large test oF1 ({args.large}) | floor | forged-only | FPR | pixel F1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    for row, entry in results["rows"].items():
        t, lg = entry["test"], entry["test_large"]
        lines.append(
            f"| {row} | {fmt(t['of1'])} | {fmt(t['floor'])} | {fmt(t['forged_only_of1'])} | "
            f"{fmt(t['authentic_fpr'])} | {fmt(t['dice'])} | "
            f"{fmt(lg['of1'])} | {fmt(lg['floor'])} | "
            f"{fmt(lg['forged_only_of1'])} | {fmt(lg['authentic_fpr'])} | {fmt(lg['dice'])} |"
        )
    table = "\n".join(lines) + "\n"
    write_text(args.md, table)
    print(table)


if __name__ == "__main__":
    # A bad params file or data root is one line on stderr, not a traceback.
    run_main(main)
