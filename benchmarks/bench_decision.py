"""Hand-set against learned decision, beside the floor, on the default test set and a larger one.

    python benchmarks/bench_decision.py [--large 300] [--large-seed 11] [--workers 2]

Every detector the evaluate stage calibrated on val (``plots/evaluate/summary.json``: the
hand-set ``hybrid`` and ``geometric`` rules, the ``network`` alone, the ``learned``
decision over every candidate, and the all-``authentic`` floor) is replayed with its val
settings on two sets, all from one pass of the matchers and the network per figure:

- ``test``: the default test split (``data/splits/test.csv``, the root's test solution);
- ``large``: ``--large`` generated compound test figures with reuse between panels and
  their authentic compound twins (the set of ``bench_reuse.py``, shared through
  ``benchmarks/.work``).

Per set and detector: official oF1, the floor, forged-only oF1, forged figures caught,
authentic figures flagged; the target (learned >= hand-set + 0.05 on the large set with no
more authentic figures flagged); the authentic figures the learned decision flags.
Needs ``dvc repro`` first (models/, plots/evaluate/summary.json); ``--decision`` and
``--summary`` replay another learned decision (one trained on more figures by
``dvc exp run -S learned.figures=...``, kept with the evaluate summary that calibrated it).
Writes ``benchmarks/results/decision.json`` and ``decision.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from bench_reuse import _meta, add_set_arguments, parse_set_arguments, test_sets
from forgeseg.config import load_params, resolve_device
from forgeseg.core.atomic import write_json, write_text
from forgeseg.core.errors import DataError
from forgeseg.core.logs import run_main
from forgeseg.decision.calibration import CALIBRATED, outcome
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.evaluate import collect_tables, summarize
from forgeseg.pipeline.paths import PATHS
from forgeseg.scoring.files import load_solution
from workcache import file_digest

log = logging.getLogger("bench_decision")

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ("authentic", "network", "geometric", "hybrid", "learned")
HAND_SET = "hybrid"
TARGET_GAIN = 0.05


def _calibrated(params, path: Path) -> dict[str, DecisionConfig]:
    """Each detector with the settings evaluate chose for it on val (``path``: the
    evaluate stage's summary.json)."""
    if not path.is_file():
        raise DataError(path, "not found (run `dvc repro evaluate` first)")
    methods = json.loads(path.read_text(encoding="utf-8")).get("methods", {})
    if "learned" not in methods or "calibrated" not in methods["learned"]:
        raise DataError(path, "holds no calibrated learned decision (rerun `dvc repro`)")
    d = params.detect
    areas = {"min_area": d.min_area, "min_area_fraction": d.min_area_fraction}
    out = {}
    for m in ORDER:
        chosen = {k: methods[m]["calibrated"][k] for k in CALIBRATED}
        out[m] = DecisionConfig(m, **chosen, **areas)
    return out


def _row(s: dict[str, Any], figures: int, forged: int) -> dict[str, Any]:
    authentic = figures - forged
    return {
        "of1": s["of1"],
        "floor": s["floor"],
        "forged_only_of1": s["forged_only_of1"],
        "forged_caught": round((s["forged_detected"] or 0.0) * forged),
        "authentic_flagged": round((s["authentic_fpr"] or 0.0) * authentic),
        "image_auc": s["image_auc"],
    }


def _run_set(name, root, records, params, configs, workers, trees):
    solution = load_solution(root)
    if solution is None:
        raise DataError(root, "has no test_solution.csv: this benchmark needs the truth")
    ev = params.evaluate
    log.info("%s: matchers, network and trees on %d figures", name, len(records))
    start = time.perf_counter()
    tables = collect_tables(
        records,
        evaluate=ev,
        detect=params.detect,
        model_path=PATHS.model,
        device=resolve_device(params.base.device),
        workers=workers,
        solution=solution,
        desc=name,
        decision_path=trees,
    )
    seconds = time.perf_counter() - start
    grids = (ev.thresholds, ev.min_support, ev.accepts)
    forged = sum(not t.truth_authentic for t in tables)
    rows, flagged = {}, []
    for m, cfg in configs.items():
        out = outcome(tables, cfg, *grids)
        rows[m] = _row(summarize(out), len(tables), forged)
        if m == "learned":
            flagged = [
                t.uid
                for t, p in zip(tables, out.forged_pred, strict=True)
                if p and t.truth_authentic
            ]
    return {
        "figures": len(tables),
        "forged": forged,
        "seconds": round(seconds, 1),
        "methods": rows,
        "learned_flags_authentic": flagged,
    }


def _markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Hand-set against learned decision",
        "",
        f"`python benchmarks/bench_decision.py --large {res['large']}` ({res['workers']} "
        "workers). Every detector replayed with the settings evaluate calibrated on val; "
        "one pass of matchers and network per figure.",
        "",
        "| set | detector | oF1 | floor | forged-only oF1 | forged caught | "
        "authentic flagged | image AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in res["sets"].values():
        authentic = s["figures"] - s["forged"]
        for m, r in s["methods"].items():
            auc = "–" if r["image_auc"] is None else f"{r['image_auc']:.3f}"
            fo = "–" if r["forged_only_of1"] is None else f"{r['forged_only_of1']:.4f}"
            lines.append(
                f"| {s['label']} | {m} | {r['of1']:.4f} | {r['floor']:.4f} | {fo} | "
                f"{r['forged_caught']}/{s['forged']} | {r['authentic_flagged']}/{authentic} "
                f"| {auc} |"
            )
    t = res["target"]
    lines += [
        "",
        f"Target: learned >= {HAND_SET} + {TARGET_GAIN} oF1 on the large set with no more "
        f"authentic figures flagged: gain {t['gain']:+.4f}, flagged {t['learned_flagged']} "
        f"against {t['hand_set_flagged']}: **{'met' if t['met'] else 'missed'}**.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_set_arguments(ap)
    ap.add_argument("--decision", default=str(PATHS.decision), help="the learned trees")
    ap.add_argument(
        "--summary",
        default=str(PATHS.evaluate_plots / "summary.json"),
        help="the evaluate summary that calibrated them",
    )
    ap.add_argument("--out", default=str(RESULTS / "decision.json"))
    ap.add_argument("--md", default=str(RESULTS / "decision.md"))
    args = parse_set_arguments(ap)
    params = load_params(args.params)
    configs = _calibrated(params, Path(args.summary))
    trees = Path(args.decision)
    inputs = {str(p): file_digest(p) for p in (PATHS.model, trees, Path(args.summary))}
    plan = test_sets(params, args.large, args.large_seed, Path(args.work), args.workers)
    _meta(plan["large"][1])  # a generated root: meta.csv with the reuse kinds
    res: dict[str, Any] = {
        "decision": str(trees),
        "large": args.large,
        "workers": args.workers,
        "inputs": inputs,
        "sets": {},
    }
    for name, (label, root, records) in plan.items():
        res["sets"][name] = {
            "label": label,
            **_run_set(name, root, records, params, configs, args.workers, trees),
        }
    if changed := [p for p, h in inputs.items() if file_digest(p) != h]:
        raise DataError(changed[0], "changed while the benchmark ran: run it again")
    big = res["sets"]["large"]["methods"]
    gain = big["learned"]["of1"] - big[HAND_SET]["of1"]
    res["target"] = {
        "gain": round(gain, 4),
        "learned_flagged": big["learned"]["authentic_flagged"],
        "hand_set_flagged": big[HAND_SET]["authentic_flagged"],
        "met": gain >= TARGET_GAIN
        and big["learned"]["authentic_flagged"] <= big[HAND_SET]["authentic_flagged"],
    }
    write_json(args.out, res)
    md = _markdown(res)
    write_text(args.md, md)
    print(md)


if __name__ == "__main__":
    run_main(main)
