"""Time the official score: forgeseg.scoring.score against a straightforward per-pixel reference.

    python benchmarks/bench_score.py [--n 2000] [--size 1000] [--seed 0]

Generates ``--n`` figures of about ``--size`` x ``--size`` pixels, each with 1-3 forged
instances (an elliptical source plus its pasted copy), and a submission that perturbs them
(shifted and rescaled blobs, some instances missed, some extra, a few figures called
authentic). Both CSVs go to a temporary folder. Then it scores the pair twice in the same run:

- ``forgeseg.scoring.score.score_files``: true positives counted on the run-length intervals;
- a reference that decodes every RLE into a full mask with a Python loop over the runs and
  computes each pair's F1 with plain boolean operations, then ``linear_sum_assignment``.

It checks both give the same mean (bit for bit), prints the times and the ratio, and writes
them to ``benchmarks/results/score.json``. Target: forgeseg under 10 s for 2,000 figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from forgeseg.core.atomic import write_json
from forgeseg.scoring.files import score_files, write_solution, write_submission

RESULT = Path(__file__).resolve().parent / "results" / "score.json"


# ------------------------------------------------------------------------ generated data


def _ellipse_runs(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    """0-based (begin, end) column-major runs (K, 2) of a filled ellipse, one run per column."""
    xs = np.arange(max(0, int(np.ceil(cx - rx))), min(w, int(np.floor(cx + rx)) + 1))
    half = ry * np.sqrt(np.clip(1 - ((xs - cx) / rx) ** 2, 0, None))
    y0 = np.clip(np.ceil(cy - half), 0, h).astype(np.int64)
    y1 = np.clip(np.floor(cy + half) + 1, 0, h).astype(np.int64)
    keep = y1 > y0
    xs, y0, y1 = xs[keep], y0[keep], y1[keep]
    return np.stack([xs * h + y0, xs * h + y1], axis=1)


def _to_annotation(parts: list[np.ndarray]) -> str:
    """One instance from several blobs: merge their runs into the competition list."""
    runs = np.concatenate(parts)
    runs = runs[np.argsort(runs[:, 0], kind="stable")]
    merged: list[list[int]] = []
    for b, e in runs.tolist():
        if merged and b <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([b, e])
    flat = [v for b, e in merged for v in (b + 1, e - b)]
    return json.dumps(flat)


def _instance(rng: np.random.Generator, h: int, w: int) -> tuple[float, ...]:
    """(cy, cx, ry, rx, dy, dx): a source blob and the offset of its copy."""
    ry, rx = rng.uniform(15, 60, 2)
    cy = rng.uniform(ry, h - ry)
    cx = rng.uniform(rx, w / 2 - rx)
    dy = rng.uniform(-cy + ry, h - ry - cy)
    dx = rng.uniform(w / 2 - cx, w - rx - cx)  # copy in the right half
    return cy, cx, ry, rx, dy, dx


def _blobs(h: int, w: int, inst: tuple[float, ...]) -> list[np.ndarray]:
    cy, cx, ry, rx, dy, dx = inst
    return [_ellipse_runs(h, w, cy, cx, ry, rx), _ellipse_runs(h, w, cy + dy, cx + dx, ry, rx)]


def make_files(n: int, size: int, seed: int, folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    sol_rows, sub_rows = [], []
    for i in range(n):
        h, w = (int(v) for v in rng.integers(int(size * 0.9), int(size * 1.1) + 1, 2))
        truth = [_instance(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
        preds = []
        for cy, cx, ry, rx, dy, dx in truth:
            if rng.random() < 0.15:
                continue  # missed instance
            sy, sx = rng.integers(-6, 7, 2)
            scale = rng.uniform(0.85, 1.15)
            preds.append((cy + sy, cx + sx, ry * scale, rx * scale, dy, dx))
        if rng.random() < 0.15:
            preds.append(_instance(rng, h, w))  # extra instance
        cid = f"fig{i:05d}"
        sol_rows.append(
            (cid, ";".join(_to_annotation(_blobs(h, w, t)) for t in truth), f"[{h}, {w}]")
        )
        if not preds or rng.random() < 0.05:
            sub_rows.append((cid, "authentic"))
        else:
            sub_rows.append((cid, ";".join(_to_annotation(_blobs(h, w, p)) for p in preds)))
    sol, sub = folder / "solution.csv", folder / "submission.csv"
    write_solution(sol_rows, sol)
    write_submission(sub_rows[::-1], sub)  # another order: rows are matched by case_id
    return sol, sub


# ------------------------------------------------------------------------ reference


def _ref_decode(text: str, shape: tuple[int, int]) -> np.ndarray:
    runs = json.loads(text)
    img = np.zeros(shape[0] * shape[1], dtype=bool)
    for start, length in zip(runs[0::2], runs[1::2], strict=True):
        img[start - 1 : start - 1 + length] = True
    return img.reshape(shape, order="F")


def _ref_f1(pred: np.ndarray, true: np.ndarray) -> float:
    tp = np.sum(pred & true)
    fp = np.sum(pred & ~true)
    fn = np.sum(~pred & true)
    precision = tp / (tp + fp) if tp + fp > 0 else 0
    recall = tp / (tp + fn) if tp + fn > 0 else 0
    return 2 * (precision * recall) / (precision + recall) if precision + recall > 0 else 0


def reference_score(solution: Path, submission: Path) -> float:
    with solution.open(newline="") as f:
        sol = list(csv.DictReader(f))
    with submission.open(newline="") as f:
        sub = {r["case_id"]: r["annotation"] for r in csv.DictReader(f)}
    scores = []
    for row in sol:
        label, pred = row["annotation"], sub[row["case_id"]]
        if label == "authentic" or pred == "authentic":
            scores.append(float(label == pred))
            continue
        shape = tuple(json.loads(row["shape"]))
        trues = [_ref_decode(t, shape) for t in label.split(";")]
        preds = [_ref_decode(p, shape) for p in pred.split(";")]
        f1 = np.array([[_ref_f1(p, t) for t in trues] for p in preds], dtype=np.float64)
        if len(preds) < len(trues):
            f1 = np.vstack((f1, np.zeros((len(trues) - len(preds), len(trues)))))
        r, c = linear_sum_assignment(-f1)
        scores.append(np.mean(f1[r, c]) * len(trues) / max(len(preds), len(trues)))
    return float(np.mean(scores))


# ------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="figures")
    ap.add_argument("--size", type=int, default=1000, help="about this many pixels a side")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULT)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="forgeseg_bench_score_") as tmp:
        t0 = time.perf_counter()
        sol, sub = make_files(args.n, args.size, args.seed, Path(tmp))
        t_gen = time.perf_counter() - t0
        print(f"generated {args.n} figures of ~{args.size}px in {t_gen:.1f} s")

        t0 = time.perf_counter()
        report = score_files(sol, sub)
        t_fast = time.perf_counter() - t0
        print(f"forgeseg.scoring.score : {report.mean!r} in {t_fast:.2f} s")

        t0 = time.perf_counter()
        ref = reference_score(sol, sub)
        t_ref = time.perf_counter() - t0
        print(f"reference      : {ref!r} in {t_ref:.2f} s")

    same = report.mean == ref
    result = {
        "n_figures": args.n,
        "size_px": args.size,
        "seed": args.seed,
        "mean_forgeseg": report.mean,
        "mean_reference": ref,
        "same_mean": same,
        "seconds_forgeseg": round(t_fast, 3),
        "seconds_reference": round(t_ref, 3),
        "speedup": round(t_ref / t_fast, 1),
        "target_seconds": 10.0,
        "breakdown": report.breakdown,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    write_json(args.out, result)
    print(f"speedup x{result['speedup']}; same mean: {same}; wrote {args.out}")
    if not same:
        raise SystemExit("forgeseg and the reference disagree")


if __name__ == "__main__":
    main()
