"""Where between-panel reuse is lost: the panel cut, or the pair matching.

    python benchmarks/bench_reuse_cut.py [--large 300] [--large-seed 11] [--workers 2]
        [--features rootsift] [--panels-model models/panels.pt] [--structures true,classical]

The ``pairs`` matcher alone (params.yaml's ``detect.pairs``, ``--features`` overriding its
keypoints) on the generated compound test figures of ``bench_reuse.py`` (made or reused
under ``benchmarks/.work``), given three structures of each figure:

- ``true``: the generator's own panel boxes, classes and text boxes (``structure.csv``):
  what pair matching finds when the cut is perfect;
- ``classical``: ``forgeseg.panels.find_panels``, the default;
- ``learned``: the panels stage's network (``--panels-model``, when the file exists).

Per structure: between-panel instances found (pixel F1 >= 0.5 with an instance of the
matcher), by reuse kind; authentic figures flagged; seconds. Per cut: panel recall and
precision at IoU 0.5 against the truth, and the class accuracy of the panels it finds.
Writes ``benchmarks/results/reuse_cut.json`` and ``reuse_cut.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench_reuse import _large_root, _meta, add_set_arguments, best_f1, parse_set_arguments
from forgeseg.config import as_dict, load_params
from forgeseg.core.atomic import write_json, write_text
from forgeseg.core.imageio import read_image
from forgeseg.core.logs import run_main
from forgeseg.core.rle import decode_annotation
from forgeseg.matchers.pairs import PairsConfig, detect
from forgeseg.panels import Structure, find_panels, read_structure_csv
from forgeseg.panels.metrics import box_iou
from forgeseg.scoring.files import read_solution

log = logging.getLogger("bench_reuse_cut")

RESULTS = Path(__file__).resolve().parent / "results"
FOUND_F1 = 0.5


_NETS: dict[str, Any] = {}  # the panel network, loaded once per worker process


def _structure(kind: str, image: np.ndarray, truth: Structure, model: str) -> Structure:
    if kind == "true":
        return truth
    if kind == "classical":
        return find_panels(image)
    if model not in _NETS:
        import torch

        from forgeseg.panels.learned import PanelDetector

        torch.set_num_threads(1)
        _NETS[model] = PanelDetector(model)
    return _NETS[model].find(image)


def _cut_scores(found: Structure, truth: Structure) -> tuple[int, int, int, int]:
    """(true panels matched at IoU 0.5, true panels, panels found, matched with the right
    class)."""
    hit = right = 0
    for p in truth.panels:
        best = max(found.panels, key=lambda q: box_iou(p.box, q.box), default=None)
        if best is not None and box_iou(p.box, best.box) >= 0.5:
            hit += 1
            right += best.cls == p.cls
    return hit, len(truth.panels), len(found.panels), right


def _one(task: tuple) -> dict[str, Any]:
    root, cid, kinds, annotation, truth, kind, cfg, model = task
    image = read_image(Path(root) / "test_images" / f"{cid}.png")
    h, w = image.shape[:2]
    start = time.perf_counter()
    structure = _structure(kind, image, truth, model)
    res = detect(image, cfg, structure)
    seconds = time.perf_counter() - start
    true = decode_annotation(annotation, (h, w), case_id=cid)
    f1 = best_f1(res.instances, true) if len(true) else np.zeros(0)
    return {
        "kinds": kinds,
        "f1": [float(v) for v in f1],
        "flagged": len(res.instances) > 0,
        "seconds": seconds,
        "cut": _cut_scores(structure, truth),
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        for k, f in zip(r["kinds"], r["f1"], strict=True):
            by[k][0] += 1
            by[k][1] += f >= FOUND_F1
    authentic = [r for r in rows if not r["kinds"]]
    hit, n_true, n_found, right = (sum(r["cut"][i] for r in rows) for i in range(4))
    return {
        "by_kind": {k: {"true": t, "found": f} for k, (t, f) in sorted(by.items())},
        "found": sum(f for _, f in by.values()),
        "true": sum(t for t, _ in by.values()),
        "authentic": len(authentic),
        "authentic_flagged": sum(r["flagged"] for r in authentic),
        "seconds_per_figure": float(np.mean([r["seconds"] for r in rows])),
        "panel_recall": hit / max(n_true, 1),
        "panel_precision": hit / max(n_found, 1),
        "class_accuracy": right / max(hit, 1),
    }


def _markdown(res: dict[str, Any]) -> str:
    kinds = sorted({k for s in res["structures"].values() for k in s["by_kind"]})
    lines = [
        f"pairs matcher alone ({res['features']}) on {res['set']}; found = pixel F1 >= 0.5.",
        "",
        "| structure | panel recall | panel precision | class accuracy | found | "
        + " | ".join(kinds)
        + " | authentic flagged | s / figure |",
        "|---|---|---|---|---|" + "---|" * len(kinds) + "---|---|",
    ]
    for name, s in res["structures"].items():
        cells = [f"{s['by_kind'][k]['found']}/{s['by_kind'][k]['true']}" for k in kinds]
        lines.append(
            f"| {name} | {s['panel_recall']:.3f} | {s['panel_precision']:.3f} | "
            f"{s['class_accuracy']:.3f} | {s['found']}/{s['true']} "
            f"({s['found'] / max(s['true'], 1):.1%}) | " + " | ".join(cells) + f" | "
            f"{s['authentic_flagged']}/{s['authentic']} | {s['seconds_per_figure']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(ap)
    ap.add_argument("--features", default=None, help="rootsift | aliked (default: params)")
    ap.add_argument("--panels-model", default="models/panels.pt")
    ap.add_argument("--structures", default="true,classical,learned", help="comma-separated")
    ap.add_argument("--out", default=str(RESULTS / "reuse_cut.json"))
    ap.add_argument("--md", default=str(RESULTS / "reuse_cut.md"))
    args = parse_set_arguments(ap)
    params = load_params(args.params)
    cfg = params.detect.pairs
    if args.features is not None:
        cfg = PairsConfig.from_mapping({**as_dict(cfg), "features": args.features})
    root = _large_root(params, args.large, args.large_seed, Path(args.work), args.workers)
    meta = _meta(root)
    solution = {r[0]: r[1] for r in read_solution(root / "test_solution.csv")}
    truths = read_structure_csv(root / "structure.csv")
    kinds = [k for k in args.structures.split(",") if k]
    if unknown := set(kinds) - {"true", "classical", "learned"}:
        ap.error(f"--structures: unknown {', '.join(sorted(unknown))}")
    if "learned" in kinds and not Path(args.panels_model).is_file():
        log.info("no panel network at %s: the learned structure is left out", args.panels_model)
        kinds.remove("learned")
    res: dict[str, Any] = {
        "set": f"{args.large} generated compound test figures (seed {args.large_seed})",
        "features": cfg.features,
        "structures": {},
    }
    for kind in kinds:
        tasks = [
            (
                str(root),
                cid,
                row["reuse"].split(";") if row["reuse"] else [],
                solution[cid],
                truths[f"test_images/{cid}.png"],
                kind,
                cfg,
                args.panels_model,
            )
            for cid, row in sorted(meta.items())
        ]
        log.info("%s structure: pairs on %d figures, %d worker(s)", kind, len(tasks), args.workers)
        with ProcessPoolExecutor(args.workers) as pool:
            rows = list(
                tqdm(pool.map(_one, tasks, chunksize=4), total=len(tasks), desc=kind, unit="figure")
            )
        res["structures"][kind] = _summary(rows)
        found = Counter({k: v["found"] for k, v in res["structures"][kind]["by_kind"].items()})
        log.info("%s: found %s", kind, dict(found))
    write_json(args.out, res)
    md = _markdown(res)
    write_text(args.md, md)
    print(md)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    run_main(main)
