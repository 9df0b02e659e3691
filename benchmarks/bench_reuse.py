"""Between-panel reuse: what the pipeline's detector finds, by reuse kind and figure kind.

    python benchmarks/bench_reuse.py [--large 300] [--large-seed 11] [--workers 2]

The default detector as the infer stage builds it (params.yaml's ``detect``, the calibrated
``models/postprocess.json``, ``models/model.pt``: run ``dvc repro`` first), on two sets:

- ``test``: the default test split (``data/splits/test.csv``, the root's test solution);
- ``large``: ``--large`` generated test figures, every one a compound figure with reuse
  between panels (``reuse_fraction`` 1.0, another seed); its authentic figures are the
  authentic compound twins, the same layouts with every panel from its own source.

Per set: official oF1, the all-authentic floor, forged-only oF1, authentic figures flagged;
per reuse kind (meta.csv's ``reuse``: one kind per instance, in instance order; no reuse:
copy-moves inside a panel) true instances, those found (a predicted instance of the figure
has pixel F1 >= 0.5 with it) and mean best F1; per figure kind oF1, floor and found share;
seconds; the targets; the flagged authentic figures with the largest flagged area.
Writes ``benchmarks/results/reuse.json`` and ``reuse.md``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.config import load_params, resolve_device
from forgeseg.core.atomic import write_json, write_text
from forgeseg.core.errors import DataError
from forgeseg.core.logs import run_main
from forgeseg.core.rle import AUTHENTIC, decode_annotation
from forgeseg.data.layout import Record, read_index, scan
from forgeseg.decision.calibration import load_calibration
from forgeseg.pipeline.corpus import DetectorSpec, FigureTask, run_corpus
from forgeseg.pipeline.paths import PATHS
from forgeseg.scoring.files import SOLUTION_NAME, read_solution
from forgeseg.scoring.score import f1_matrix, score_frames
from workcache import SRC, file_digest, is_fresh, mark_fresh, source_digest, work_key

log = logging.getLogger("bench_reuse")

RESULTS = Path(__file__).resolve().parent / "results"
INSIDE = "inside_panel"  # a forged figure without reuse: the copy-move inside a panel
REUSE_LABELS = {
    "duplicated_panel": "duplicated panel",
    "overlapping_view": "overlapping fields of view",
    "blot_lane": "lane / strip",
    "panel_part": "partial paste",
    INSIDE: "inside a panel",
}
FOUND_F1 = 0.5  # a true instance counts as found at this pixel F1 with a predicted one
# (goal, +1 for "at least", -1 for "at most"); margin: oF1 above the all-authentic floor.
TARGETS = {"found_share": (0.80, 1), "authentic_flagged_share": (0.02, -1), "margin": (0.30, 1)}


def _test_rows(root: Path, name: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a generated root's ``name`` CSV, checked for ``columns``."""
    path = root / name
    if not path.is_file():
        raise DataError(path, "not found: this benchmark needs a generated data root")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if lacking := [c for c in columns if c not in (reader.fieldnames or [])]:
            raise DataError(path, f"lacks column(s) {', '.join(lacking)}")
        return list(reader)


def _meta(root: Path) -> dict[str, dict[str, str]]:
    """``case_id -> meta.csv row`` of the root's test figures (test case_ids are unique)."""
    rows = _test_rows(root, "meta.csv", ("case_id", "subset", "label", "kind", "reuse"))
    return {r["case_id"]: r for r in rows if r["subset"] == "test"}


def _panels(root: Path) -> dict[str, list[tuple[str, tuple[int, int, int, int]]]]:
    """``image (relative to root) -> [(panel class, (x0, y0, x1, y1))]`` from structure.csv."""
    out: dict[str, list] = defaultdict(list)
    for r in _test_rows(root, "structure.csv", ("image", "kind", "cls", "x0", "y0", "x1", "y1")):
        if r["kind"] == "panel":
            box = tuple(int(r[k]) for k in ("x0", "y0", "x1", "y1"))
            out[r["image"]].append((r["cls"], box))
    return out


def _large_root(params, n: int, seed: int, work: Path, workers: int) -> Path:
    """A generated root of ``n`` test figures, all compound figures with reuse, reused
    from ``work`` while the generator's code and sizes are unchanged."""
    s = params.synth
    root = work / f"reuse_{n}_{seed}"
    sides = [s.min_side, s.max_side]
    key = work_key(n=n, seed=seed, reuse=1.0, sides=sides, source=source_digest(SRC / "synth"))
    if not is_fresh(root, key):
        from forgeseg.synth import generate_dataset

        shutil.rmtree(root, ignore_errors=True)
        log.info("generating %d compound test figures with reuse (seed %d)", n, seed)
        kw = {"n_test": n, "n_supplemental": 0, "reuse_fraction": 1.0, "workers": workers}
        generate_dataset(root, n=2, seed=seed, min_side=s.min_side, max_side=s.max_side, **kw)
        mark_fresh(root, key)
    return root


def test_sets(
    params, n: int, seed: int, work: Path, workers: int
) -> dict[str, tuple[str, Path, list[Record]]]:
    """``{name: (label, data root, test records)}``: the default test split, and ``n``
    generated compound test figures with reuse (made or reused by :func:`_large_root`)."""
    large = _large_root(params, n, seed, work, workers)
    return {
        "test": ("default test", Path(params.data.root), read_index(PATHS.splits / "test.csv")),
        "large": (
            f"large ({n}, seed {seed})",
            large,
            [r for r in scan(large, strict=True, progress=False).records if r.subset == "test"],
        ),
    }


def _inputs(params) -> dict[str, str]:
    """Digest of every file the detector reads. A missing panel checkpoint would not stop
    the detector (it falls back to the classical cut) but would change what is measured."""
    from forgeseg.matchers import get_matcher

    paths = [PATHS.model, PATHS.calibration]
    # null: the classical cut, no file to read.
    uses_structure = any(get_matcher(m).uses_structure for m in params.detect.matchers)
    if uses_structure and params.detect.panels_model is not None:
        paths.append(Path(params.detect.panels_model))
    for p in paths:
        if not p.is_file():
            raise DataError(p, "not found (run `dvc repro` first)")
    return {str(p): file_digest(p) for p in paths}


def best_f1(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(M,) best pixel F1 of each true instance, bool (M, H, W), with any predicted one,
    bool (N, H, W) (N may be 0)."""
    if len(pred) == 0 or len(true) == 0:
        return np.zeros(len(true))
    p = pred.reshape(len(pred), -1).astype(np.float32)
    t = true.reshape(len(true), -1).astype(np.float32)
    tp = np.rint(p @ t.T)
    return f1_matrix(tp, p.sum(axis=1), t.sum(axis=1)).max(axis=0)


def _flag_panels(pred: np.ndarray, panels: list) -> str:
    """Panel classes under the union of ``pred`` (bool (N, H, W)), by share of its pixels."""
    union = pred.any(axis=0)
    total = max(int(union.sum()), 1)
    shares: dict[str, float] = defaultdict(float)
    for cls, (x0, y0, x1, y1) in panels:
        shares[cls] += union[y0:y1, x0:x1].sum() / total
    parts = [f"{c} {v:.0%}" for c, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v > 0]
    return ", ".join(parts) or "outside every panel"


def _figures(name: str, root: Path, records: list[Record], spec: DetectorSpec, workers: int):
    """Detect every figure of one set; per-figure facts, the official report, seconds."""
    meta, panels = _meta(root), _panels(root)
    solution = {r[0]: r for r in read_solution(root / SOLUTION_NAME)}
    if missing := [r.uid for r in records if r.uid not in solution or r.case_id not in meta]:
        raise DataError(root, f"{len(missing)} {name} figure(s) lack a solution or meta row")
    log.info("%s: detecting %d figures on %d worker(s)", name, len(records), workers)
    tasks = [FigureTask(i, r.uid, r.image) for i, r in enumerate(records)]
    start = time.perf_counter()
    results = run_corpus(spec, tasks, workers=workers, desc=name)
    seconds = time.perf_counter() - start
    sub = [(r.uid, r.annotation) for r in results]
    report = score_frames([solution[r.uid] for r in records], sub)
    figs = []
    for rec, res in zip(records, results, strict=True):
        row = meta[rec.case_id]
        shape = (rec.height, rec.width)
        pred = decode_annotation(res.annotation, shape, case_id=rec.uid)
        true = decode_annotation(solution[rec.uid][1], shape, case_id=rec.uid)
        reuse = row["reuse"].split(";") if row["reuse"] else [INSIDE] * len(true)
        if len(reuse) != len(true):
            msg = f"case {rec.case_id}: {len(reuse)} reuse kinds for {len(true)} true instances"
            raise DataError(root / "meta.csv", msg)
        fig = {
            "case_id": rec.case_id,
            "kind": row["kind"],
            "forged": len(true) > 0,
            "flagged": res.annotation != AUTHENTIC,
            "skipped": res.skip,
            "of1": report.per_case[rec.uid],
            "instances": [(k, float(f)) for k, f in zip(reuse, best_f1(pred, true), strict=True)],
            "flagged_share": float(pred.any(axis=0).mean()) if len(pred) else 0.0,
            "predicted_instances": len(pred),
        }
        if not fig["forged"] and fig["flagged"]:
            fig["flag_panels"] = _flag_panels(pred, panels[f"test_images/{Path(rec.image).name}"])
        figs.append(fig)
    return figs, report, seconds


def _count(instances: list[tuple[str, float]]) -> dict[str, Any]:
    f1 = np.array([f for _, f in instances])
    found = int((f1 >= FOUND_F1).sum())
    return {
        "true": len(f1),
        "found": found,
        "found_share": round(found / len(f1), 4) if len(f1) else None,
        "mean_best_f1": round(float(f1.mean()), 4) if len(f1) else None,
    }


def _summary(figs: list[dict], report, seconds: float) -> dict[str, Any]:
    """Headline, per reuse kind, between-panel pooled and per figure kind of one set."""
    auth = [f for f in figs if not f["forged"]]
    flagged = sum(f["flagged"] for f in auth)
    insts = [i for f in figs for i in f["instances"]]
    b, forged_only = report.breakdown, report.breakdown["forged_only_mean"]
    out: dict[str, Any] = {
        "figures": len(figs),
        "forged": b["n_forged"],
        "authentic": b["n_authentic"],
        "of1": round(report.mean, 4),
        "floor": round(b["floor"], 4),
        "forged_only_of1": None if forged_only is None else round(forged_only, 4),
        "authentic_flagged": flagged,
        "authentic_flagged_share": round(flagged / len(auth), 4) if auth else None,
        "skipped": sum(f["skipped"] is not None for f in figs),
        "seconds": round(seconds, 1),
        "figures_per_s": round(len(figs) / seconds, 3) if seconds else None,
        "by_reuse": {k: _count([i for i in insts if i[0] == k]) for k in REUSE_LABELS},
        "between_panel": _count([i for i in insts if i[0] != INSIDE]),
        "by_kind": {},
    }
    for kind in sorted({f["kind"] for f in figs}):
        sel = [f for f in figs if f["kind"] == kind]
        counts = _count([i for f in sel for i in f["instances"]])
        n_auth = sum(not f["forged"] for f in sel)
        out["by_kind"][kind] = {
            "figures": len(sel),
            "of1": round(float(np.mean([f["of1"] for f in sel])), 4),
            "floor": round(n_auth / len(sel), 4),
            "found_share": counts["found_share"],
            "authentic_flagged": sum(f["flagged"] for f in sel if not f["forged"]),
        }
    return out


def _targets(s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target's value on the set and its gap (>= 0: met by that much, else missed)."""
    values = {
        "found_share": s["between_panel"]["found_share"],
        "authentic_flagged_share": s["authentic_flagged_share"],
        "margin": round(s["of1"] - s["floor"], 4),
    }
    out = {}
    for key, (goal, sign) in TARGETS.items():
        v = values[key]
        out[key] = {"value": v, "gap": None if v is None else round(sign * (v - goal), 4)}
    return out


def _fooled(sets: dict[str, list[dict]], n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` flagged authentic figures with the largest flagged share, over all sets."""
    rows = [
        {"set": name, **{k: f[k] for k in ("case_id", "kind", "flagged_share")}}
        | {"predicted_instances": f["predicted_instances"], "panels": f["flag_panels"]}
        for name, figs in sets.items()
        for f in figs
        if not f["forged"] and f["flagged"]
    ]
    return sorted(rows, key=lambda r: -r["flagged_share"])[:n]


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _verdict(gap: float | None, points: bool) -> str:
    if gap is None:
        return "not measured (no figure)"
    size = f"{100 * abs(gap):.1f} points" if points else f"{abs(gap):.3f}"
    return f"met by {size}" if gap >= 0 else f"missed by {size}"


def _markdown(res: dict[str, Any]) -> str:
    sets = res["sets"]
    names = list(sets)
    lines = [
        f"Detector: {res['detector']}; {res['workers']} workers; "
        f"found = pixel F1 >= {FOUND_F1} with a predicted instance.",
        "",
        "| set | figures | forged | authentic | oF1 | floor | oF1 - floor | forged-only oF1 "
        "| authentic flagged | seconds | figures/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sets.values():
        lines.append(
            f"| {s['label']} | {s['figures']} | {s['forged']} | {s['authentic']} | "
            f"{_num(s['of1'])} | {_num(s['floor'])} | {s['of1'] - s['floor']:+.3f} | "
            f"{_num(s['forged_only_of1'])} | {s['authentic_flagged']} "
            f"({_pct(s['authentic_flagged_share'])}) | {s['seconds']} | {s['figures_per_s']} |"
        )
    lines += ["", "| target | " + " | ".join(sets[n]["label"] for n in names) + " |"]
    lines.append("|---" * (len(names) + 1) + "|")
    rows = [
        ("between-panel reuse found >= 80%", "found_share", True, _pct),
        ("authentic figures flagged <= 2%", "authentic_flagged_share", True, _pct),
        ("oF1 >= floor + 0.30", "margin", False, lambda v: f"{v:+.3f}"),
    ]
    for title, key, points, fmt in rows:
        cells = []
        for n in names:
            t = res["targets"][n][key]
            value = "–" if t["value"] is None else fmt(t["value"])
            cells.append(f"{value}: {_verdict(t['gap'], points)}")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    head = " | ".join(f"{sets[n]['label']}: true | found | share | mean best F1" for n in names)
    lines += ["", f"| reuse kind | {head} |", "|---" * (1 + 4 * len(names)) + "|"]
    for key, label in [*REUSE_LABELS.items(), ("between_panel", "all between panels")]:
        cells = []
        for n in names:
            c = sets[n]["between_panel"] if key == "between_panel" else sets[n]["by_reuse"][key]
            cells += [str(c["true"]), str(c["found"]), _pct(c["found_share"])]
            cells.append(_num(c["mean_best_f1"]))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| set | figure kind | figures | oF1 | floor share | found share | authentic flagged |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in names:
        for kind, k in sets[n]["by_kind"].items():
            lines.append(
                f"| {sets[n]['label']} | {kind} | {k['figures']} | {_num(k['of1'])} | "
                f"{_pct(k['floor'])} | {_pct(k['found_share'])} | {k['authentic_flagged']} |"
            )
    lines += [
        "",
        "What would fool the detector: the flagged authentic figures with the largest flagged "
        "area (panel classes under the flag, by share of its pixels).",
        "",
        "| set | case_id | kind | flagged share | predicted instances | panels under the flag |",
        "|---|---|---|---|---|---|",
    ]
    for f in res["fooled"]:
        lines.append(
            f"| {sets[f['set']]['label']} | {f['case_id']} | {f['kind']} | "
            f"{_pct(f['flagged_share'])} | {f['predicted_instances']} | {f['panels']} |"
        )
    if not res["fooled"]:
        lines.append("| – | no authentic figure was flagged | | | | |")
    return "\n".join(lines) + "\n"


def add_set_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of the large generated set (:func:`test_sets`) every benchmark on it
    takes: ``--params``, ``--large``, ``--large-seed``, ``--workers``, ``--work``."""
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--large", type=int, default=300, help="compound test figures generated")
    ap.add_argument("--large-seed", type=int, default=11)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", default="benchmarks/.work")


def parse_set_arguments(ap: argparse.ArgumentParser) -> argparse.Namespace:
    """``ap``'s arguments, with those of :func:`add_set_arguments` checked."""
    args = ap.parse_args()
    if args.large < 1 or args.workers < 1:
        ap.error("--large and --workers must be at least 1")
    return args


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(ap)
    ap.add_argument("--out", default=str(RESULTS / "reuse.json"))
    ap.add_argument("--md", default=str(RESULTS / "reuse.md"))
    args = parse_set_arguments(ap)
    params = load_params(args.params)
    decision = load_calibration(PATHS.calibration, params.detect)
    inputs = _inputs(params)
    device = resolve_device(params.base.device)
    spec = DetectorSpec(params.detect, decision, model_path=str(PATHS.model), device=device)
    plan = test_sets(params, args.large, args.large_seed, Path(args.work), args.workers)
    res: dict[str, Any] = {
        "detector": f"{decision.method} (threshold {decision.threshold}, gate {decision.gate}, "
        f"min_support {decision.min_support}; matchers {', '.join(params.detect.matchers)})",
        "workers": args.workers,
        "inputs": inputs,
        "targets_wanted": TARGETS,
        "sets": {},
        "targets": {},
    }
    per_set = {}
    for name, (label, root, records) in plan.items():
        figs, report, seconds = _figures(name, root, records, spec, args.workers)
        per_set[name] = figs
        res["sets"][name] = {"label": label, "root": str(root), **_summary(figs, report, seconds)}
        res["targets"][name] = _targets(res["sets"][name])
        s, found = res["sets"][name], res["sets"][name]["between_panel"]["found_share"]
        msg = "%s: oF1 %.4f (floor %.4f), between-panel reuse found %s, %.0f s"
        log.info(msg, name, s["of1"], s["floor"], _pct(found), s["seconds"])
    # A `dvc repro` rewriting a model mid-run would mix two detectors in one table.
    if changed := [p for p, h in _inputs(params).items() if inputs.get(p) != h]:
        raise DataError(changed[0], "changed while the benchmark ran: run it again")
    res["fooled"] = _fooled(per_set)
    write_json(args.out, res)
    md = _markdown(res)
    write_text(args.md, md)
    print(md)


if __name__ == "__main__":
    # A missing model, calibration or data root is one line on stderr, not a traceback.
    run_main(main)
