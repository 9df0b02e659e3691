"""Does the self-correlation U-Net learn more than the plain U-Net on the same budget?

    python benchmarks/bench_networks.py [--size 128] [--epochs 4] [--synthetic 1500]

Both networks are trained with the project's params except the overrides below (input size,
epochs, generated figures per epoch, loader workers, batch size), the plain U-Net with
``model.arch: unet``. On CPU budgets both stay under the calibrated authentic gate, so their
oF1 is the floor and says nothing about progress; this benchmark measures what they learned
before that: pixel ROC AUC (copied or source pixels against the rest, every 4th pixel of
every figure of the split) and image ROC AUC of the image head (forged against authentic
figures). 0.5 is chance.

Writes `benchmarks/results/networks.json` and `benchmarks/results/networks.md`;
checkpoints go to `--work` (reused while params, splits and code are unchanged, so a rerun
only scores).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from forgeseg.config import load_params, override, resolve_device
from forgeseg.core.atomic import write_json, write_text
from forgeseg.core.imageio import read_image
from forgeseg.core.logs import run_main
from forgeseg.data.layout import read_index
from forgeseg.data.truth import read_truth
from forgeseg.models.predictor import Predictor
from forgeseg.scoring.files import load_solution
from forgeseg.scoring.metrics import roc_auc
from workcache import is_fresh, mark_fresh, training_key

log = logging.getLogger("bench_networks")

ARCHS = {"plain U-Net": "unet", "self-correlation U-Net": "selfcorr_unet"}
PIXEL_STEP = 4  # every 4th pixel along each axis: ROC AUC needs every score in memory


def score_split(predictor: Predictor, records: list, solution: Any) -> dict[str, Any]:
    """Pixel and image ROC AUC and mean pixel probability on and off the truth."""
    pix_y, pix_p, img_y, img_p = [], [], [], []
    for rec in tqdm(records, desc="score", leave=False):
        image = read_image(rec.image)
        truth = read_truth(rec, image.shape[:2], solution)
        if truth is None:
            continue
        out = predictor.predict(image)
        union = truth.any(axis=0) if truth.shape[0] else np.zeros(image.shape[:2], bool)
        pix_y.append(union[::PIXEL_STEP, ::PIXEL_STEP].ravel())
        pix_p.append(out.prob[::PIXEL_STEP, ::PIXEL_STEP].ravel())
        img_y.append(truth.shape[0] > 0)
        img_p.append(out.image_score)
    y, p = np.concatenate(pix_y), np.concatenate(pix_p)
    return {
        "pixel_auc": roc_auc(y, p),
        "image_auc": roc_auc(img_y, img_p),
        "prob_on_truth": float(p[y].mean()) if y.any() else None,
        "prob_elsewhere": float(p[~y].mean()),
        "n_figures": len(img_y),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--synthetic", type=int, default=1500, help="generated figures per epoch")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--work", default="benchmarks/.work/networks")
    ap.add_argument("--out", default="benchmarks/results/networks.json")
    ap.add_argument("--md", default="benchmarks/results/networks.md")
    args = ap.parse_args()
    params = load_params(args.params)
    device = resolve_device(params.base.device)
    overrides = {
        "size": args.size,
        "epochs": args.epochs,
        "synthetic_per_epoch": args.synthetic,
        "num_workers": args.workers,
        "batch_size": args.batch,
    }
    tag = "_".join(f"{v}" for v in overrides.values())
    work = Path(args.work)
    splits = {
        "val": (read_index("data/splits/val.csv"), None),
        "test": (read_index("data/splits/test.csv"), load_solution(Path(params.data.root))),
    }
    out = Path(args.out)
    previous = json.loads(out.read_text()) if out.exists() else {}
    # Timings of an earlier run are kept only when it trained these same checkpoints.
    previous = previous["rows"] if previous.get("train_overrides") == overrides else {}
    results: dict[str, Any] = {"train_overrides": overrides, "device": device, "rows": {}}
    for row, arch in ARCHS.items():
        ckpt = work / f"{arch}_{tag}.pt"
        entry: dict[str, Any] = {"arch": arch}
        p = override(
            params, {"model.arch": arch, **{f"train.{k}": v for k, v in overrides.items()}}
        )
        key = training_key(p)
        if is_fresh(ckpt, key):
            # Scored again without training: keep the timing the training run recorded.
            if "train" in previous.get(row, {}):
                entry["train"] = previous[row]["train"]
        else:
            from forgeseg.pipeline.train import train

            # A half-finished run of older data or code must not be resumed.
            (work / f"{arch}_last.pt").unlink(missing_ok=True)
            log.info("training %s (no checkpoint for these params, data and code)", arch)
            t0 = time.perf_counter()
            res = train(
                p, model_out=ckpt, last_out=work / f"{arch}_last.pt", live_dir=work / f"{arch}_live"
            )
            entry["train"] = {
                "seconds": round(time.perf_counter() - t0, 1),
                "figures_per_second": round(res.figures_per_second, 2),
            }
            mark_fresh(ckpt, key)
        predictor = Predictor(ckpt, device)
        for split, (records, solution) in splits.items():
            entry[split] = score_split(predictor, records, solution)
        results["rows"][row] = entry
    write_json(args.out, results)

    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [
        f"Both networks trained at {args.size} px for {args.epochs} epochs, each the train split "
        f"plus {args.synthetic} newly generated figures ({device}); ROC AUC, 0.5 is chance.",
        "",
        "| network | val pixel AUC | val image AUC | test pixel AUC | test image AUC | "
        "mean prob on / off truth (test) | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row, e in results["rows"].items():
        v, t = e["val"], e["test"]
        lines.append(
            f"| {row} | {fmt(v['pixel_auc'])} | {fmt(v['image_auc'])} | {fmt(t['pixel_auc'])} "
            f"| {fmt(t['image_auc'])} | {fmt(t['prob_on_truth'])} / {fmt(t['prob_elsewhere'])} "
            f"| {e.get('train', {}).get('seconds', '–')} |"
        )
    write_text(args.md, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    # A bad params file or data root is one line on stderr, not a traceback.
    run_main(main)
