"""Where the dense matcher loses each forged figure: a per-stage account.

    python benchmarks/bench_dense_stages.py [--splits val,test]

For every forged figure of the splits (truth from the mask files, or from the data root's
`test_solution.csv` for test figures) the dense matcher runs with a trace, and the figure
lands in exactly one row:

- `found`: an instance covers the truth (most of the instance lies on it);
- `rejected: <check>`: a candidate transform lay on the truth, but the named check
  (`forgeseg.matchers.dense.Reason`, after the setting of `detect.dense` that decides it)
  stopped it (the first such candidate's check is counted);
- `no candidate`: no candidate transform lay on the truth (the votes never gathered: the
  copy is rotated or rescaled, too small for `min_blocks`, or drowned by other votes).

Authentic figures count as `flagged` when any instance is reported (and are listed per
figure in the JSON, row `flagged` or `clean`). The transforms the
generator applied (from `meta.csv`, when the data root has one) are tallied per row, so the
next improvement can aim at the largest loss. Writes `benchmarks/results/dense_stages.json`
and `benchmarks/results/dense_stages.md`.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from forgeseg.config import load_params
from forgeseg.config.matchers import DenseConfig
from forgeseg.core.atomic import write_json, write_text
from forgeseg.core.imageio import read_image
from forgeseg.core.logs import run_main
from forgeseg.data.layout import read_index
from forgeseg.data.truth import read_truth
from forgeseg.matchers.dense import Verdict, detect
from forgeseg.scoring.files import load_solution

ON_TRUTH = 0.5  # share of a footprint or instance that must lie on the truth


def classify(trace: list[Verdict], instances: np.ndarray, truth: np.ndarray) -> str:
    """The row of one forged figure: ``found``, ``rejected: <check>`` or ``no candidate``.

    ``instances``: bool (N, H, W) reported; ``truth``: bool (M, H, W), M >= 1.
    """
    union = truth.any(axis=0)
    for inst in instances:
        if union[inst].mean() > ON_TRUTH:
            return "found"
    for v in trace:
        if v.footprint.any() and union[v.footprint].mean() > ON_TRUTH:
            return f"rejected: {v.outcome}"
    return "no candidate"


def _meta(root: Path) -> dict[tuple[str, str], dict[str, str]]:
    path = root / "meta.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {(r["case_id"], r["label"]): r for r in csv.DictReader(f)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--splits", default="val,test")
    ap.add_argument("--json", default="benchmarks/results/dense_stages.json")
    ap.add_argument("--md", default="benchmarks/results/dense_stages.md")
    args = ap.parse_args()
    params = load_params(args.params)
    root = Path(params.data.root)
    cfg: DenseConfig = params.detect.dense
    solution = load_solution(root)
    meta = _meta(root)

    rows: Counter[str] = Counter()
    by_transform: dict[str, Counter[str]] = {}
    flagged = n_authentic = 0
    figures: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for split in args.splits.split(","):
        for rec in tqdm(read_index(f"data/splits/{split}.csv"), desc=split):
            image = read_image(rec.image)
            truth = read_truth(rec, image.shape[:2], solution)
            if truth is None:
                continue
            trace: list[Verdict] = []
            res = detect(image, cfg, trace=trace)
            if truth.shape[0] == 0:
                n_authentic += 1
                hit = res.instances.shape[0] > 0
                flagged += int(hit)
                # Kept per figure too: which kinds of look-alike a change lets through.
                figures.append(
                    {
                        "uid": rec.uid,
                        "split": split,
                        "kind": rec.kind,
                        "row": "flagged" if hit else "clean",
                        "meta": meta.get((rec.case_id, "authentic"), {}),
                    }
                )
                continue
            row = classify(trace, res.instances, truth)
            rows[row] += 1
            m = meta.get((rec.case_id, "forged"), {})
            for t in (m.get("transforms") or "unknown").split("+"):
                by_transform.setdefault(t, Counter())[row] += 1
            figures.append(
                {"uid": rec.uid, "split": split, "kind": rec.kind, "row": row, "meta": m}
            )
    seconds = time.perf_counter() - t0

    n_forged = sum(rows.values())
    result = {
        "splits": args.splits,
        "n_forged": n_forged,
        "n_authentic": n_authentic,
        "authentic_flagged": flagged,
        "rows": dict(rows.most_common()),
        "by_transform": {t: dict(c) for t, c in sorted(by_transform.items())},
        "seconds": round(seconds, 1),
        "figures": figures,
    }
    write_json(args.json, result)
    names = [r for r, _ in rows.most_common()]
    lines = [
        f"Dense matcher on the {args.splits} splits: {n_forged} forged figures, "
        f"{flagged} of {n_authentic} authentic figures flagged ({seconds:.0f} s).",
        "",
        "| forged figures | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| all | " + " | ".join(str(rows[r]) for r in names) + " |",
    ]
    for t, c in sorted(by_transform.items()):
        lines.append(f"| {t} | " + " | ".join(str(c.get(r, 0)) for r in names) + " |")
    lines.append("")
    lines.append("A figure with several transforms counts once in each of their rows.")
    table = "\n".join(lines) + "\n"
    write_text(args.md, table)
    print(table)


if __name__ == "__main__":
    # A bad params file or data root is one line on stderr, not a traceback.
    run_main(main)
