"""Write a generated dataset in exactly the layout of the real competition data.

    train_images/authentic/<case_id>.png   authentic twins (most forged cases have one)
    train_images/forged/<case_id>.png      forged figures
    train_masks/<case_id>.npy              uint8 0/1 (N, H, W); single instances sometimes (H, W)
    supplemental_images/<case_id>.png      extra forged figures
    supplemental_masks/<case_id>.npy
    test_images/<case_id>.png              independent test figures (~45% authentic)
    sample_submission.csv                  case_id,annotation (all "authentic")
    test_solution.csv                      case_id,annotation,shape (official solution format)
    meta.csv                               one row per figure: kind, size, instances, ...
    structure.csv                          panel, text, letter and scale-bar boxes per figure

Every case gets its own generator from ``SeedSequence(seed).spawn``, so the bytes written
do not depend on the number of worker processes or their scheduling (see
:mod:`forgeseg.synth.parallel` for how workers fail).
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from forgeseg.core.atomic import atomic_dir, save_npy, save_png, write_text
from forgeseg.core.errors import ParamsError
from forgeseg.synth.case import Case, make_case
from forgeseg.synth.layout import STRUCTURE_COLUMNS
from forgeseg.synth.parallel import CASE_TIMEOUT, run_parallel

__all__ = ["CASE_TIMEOUT", "META_COLUMNS", "generate_dataset", "run_parallel"]

META_COLUMNS = (
    "case_id",
    "subset",
    "label",
    "kind",
    "height",
    "width",
    "channels",
    "n_instances",
    "forged_fraction",
    "transforms",
    "jpeg",
    "reuse",
)
_SINGLE_2D = 0.3  # share of single-instance masks saved (H, W), as some real files are
_DIRS = (
    "train_images/authentic",
    "train_images/forged",
    "train_masks",
    "supplemental_images",
    "supplemental_masks",
    "test_images",
)

Job = tuple[str, str, np.random.SeedSequence, dict[str, Any]]


def _meta_row(case_id: str, subset: str, label: str, meta: dict[str, Any]) -> dict[str, Any]:
    forged = label == "forged"
    return {
        "case_id": case_id,
        "subset": subset,
        "label": label,
        "kind": meta["kind"],
        "height": meta["height"],
        "width": meta["width"],
        "channels": meta["channels"],
        "n_instances": meta["n_instances"] if forged else 0,
        "forged_fraction": meta["forged_fraction"] if forged else 0.0,
        "transforms": "+".join(meta["transforms"]) if forged else "",
        "jpeg": bool(meta["jpeg"] if forged else meta["authentic_jpeg"]),
        # Reuse between panels per instance; empty for copy-move inside a panel.
        "reuse": ";".join(i["reuse"] for i in meta["instances"] if "reuse" in i) if forged else "",
    }


def _structure(image: str, case: Case) -> list[dict[str, Any]]:
    """``structure.csv`` rows of the figure written at ``image`` (relative to the root)."""
    return [dict(zip(STRUCTURE_COLUMNS, (image, *row), strict=True)) for row in case.structure]


def _save_masks(path: Path, masks: np.ndarray, rng: np.random.Generator) -> None:
    arr = masks.astype(np.uint8)
    if arr.shape[0] == 1 and rng.random() < _SINGLE_2D:
        arr = arr[0]
    save_npy(path, arr)


def _run_job(job: Job) -> dict[str, Any]:
    """Generate and write one case; return its meta rows and (for test) solution row."""
    from forgeseg.core.rle import encode_annotation

    subset, case_id, seq, cfg = job
    root = Path(cfg["root"])
    rng = np.random.default_rng(seq)
    sizes = {
        "min_side": cfg["min_side"],
        "max_side": cfg["max_side"],
        "reuse_fraction": cfg["reuse"],
    }
    rows: list[dict[str, Any]] = []
    structure: list[dict[str, Any]] = []
    solution = None
    if subset == "train":
        twin = bool(rng.random() < cfg["twin"])
        case = make_case(rng, forged=True, with_authentic=twin, **sizes)
        rel = f"train_images/forged/{case_id}.png"
        save_png(root / rel, case.forged)
        _save_masks(root / "train_masks" / f"{case_id}.npy", case.masks, rng)
        rows.append(_meta_row(case_id, "train", "forged", case.meta))
        structure += _structure(rel, case)
        if twin:
            rel = f"train_images/authentic/{case_id}.png"
            save_png(root / rel, case.authentic)
            rows.append(_meta_row(case_id, "train", "authentic", case.meta))
            structure += _structure(rel, case)
    elif subset == "supplemental":
        case = make_case(rng, forged=True, with_authentic=False, **sizes)
        rel = f"supplemental_images/{case_id}.png"
        save_png(root / rel, case.forged)
        _save_masks(root / "supplemental_masks" / f"{case_id}.npy", case.masks, rng)
        rows.append(_meta_row(case_id, "supplemental", "forged", case.meta))
        structure += _structure(rel, case)
    else:
        authentic = bool(rng.random() < cfg["test_authentic"])
        case = make_case(rng, forged=not authentic, with_authentic=authentic, **sizes)
        image = case.authentic if authentic else case.forged
        rel = f"test_images/{case_id}.png"
        save_png(root / rel, image)
        label = "authentic" if authentic else "forged"
        rows.append(_meta_row(case_id, "test", label, case.meta))
        structure += _structure(rel, case)
        h, w = image.shape[:2]
        solution = {
            "case_id": case_id,
            "annotation": "authentic" if authentic else encode_annotation(case.masks),
            "shape": "authentic" if authentic else json.dumps([h, w]),
        }
    return {
        "rows": rows,
        "solution": solution,
        "kind": case.meta["kind"],
        "structure": structure,
    }


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _check(
    n: int,
    n_test: int,
    n_supplemental: int,
    min_side: int,
    max_side: int,
    authentic_twin_fraction: float,
    test_authentic_fraction: float,
    workers: int,
    case_timeout: float,
    reuse_fraction: float,
) -> None:
    if n < 1:
        raise ParamsError(f"synth n must be at least 1, got {n}")
    if n_test < 0 or n_supplemental < 0:
        raise ParamsError(
            f"synth n_test and n_supplemental must be >= 0, got {n_test}, {n_supplemental}"
        )
    if not 32 <= min_side <= max_side:
        raise ParamsError(
            f"synth sides must satisfy 32 <= min_side <= max_side, got {min_side}, {max_side}"
        )
    for name, v in (
        ("authentic_twin_fraction", authentic_twin_fraction),
        ("test_authentic_fraction", test_authentic_fraction),
        ("reuse_fraction", reuse_fraction),
    ):
        if not 0.0 <= v <= 1.0:
            raise ParamsError(f"synth {name} must lie in [0, 1], got {v}")
    if workers < 1:
        raise ParamsError(f"workers must be at least 1, got {workers}")
    if not case_timeout > 0:
        raise ParamsError(f"synth case_timeout must be positive, got {case_timeout}")


def _plan(
    seed: int, n: int, n_supplemental: int, n_test: int
) -> list[tuple[str, str, np.random.SeedSequence]]:
    """(subset, case_id, seed sequence) of every case, in the order they are written."""
    total = n + n_supplemental + n_test
    children = np.random.SeedSequence(seed).spawn(total + 1)
    id_rng = np.random.default_rng(children[0])
    ids = id_rng.choice(np.arange(10, 10 + max(100_000, 20 * total)), size=total, replace=False)
    subsets = ["train"] * n + ["supplemental"] * n_supplemental + ["test"] * n_test
    return [
        (s, str(int(i)), children[k + 1]) for k, (s, i) in enumerate(zip(subsets, ids, strict=True))
    ]


def _run_jobs(
    jobs: list[Job],
    workers: int,
    out_dir: str | os.PathLike[str],
    case_timeout: float,
    progress: bool,
) -> list[dict[str, Any]]:
    """:func:`_run_job` on every job, in order; in this process when parallelism can't pay."""
    bar = tqdm(total=len(jobs), desc="synth", unit="case", disable=not progress)
    try:
        if workers == 1 or len(jobs) < 4:
            results = []
            for job in jobs:
                results.append(_run_job(job))
                bar.update()
            return results
        ids = [job[1] for job in jobs]
        return run_parallel(_run_job, jobs, ids, workers, out_dir, timeout=case_timeout, bar=bar)
    finally:
        bar.close()


def _write_tables(root: Path, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write meta.csv, structure.csv, test_solution.csv and sample_submission.csv; return
    the meta rows."""
    meta_rows = [row for res in results for row in res["rows"]]
    solution = [res["solution"] for res in results if res["solution"] is not None]
    write_text(root / "meta.csv", _csv(meta_rows, META_COLUMNS))
    structure = [row for res in results for row in res["structure"]]
    write_text(root / "structure.csv", _csv(structure, STRUCTURE_COLUMNS))
    write_text(root / "test_solution.csv", _csv(solution, ("case_id", "annotation", "shape")))
    write_text(
        root / "sample_submission.csv",
        _csv(
            [{"case_id": s["case_id"], "annotation": "authentic"} for s in solution],
            ("case_id", "annotation"),
        ),
    )
    return meta_rows


def generate_dataset(
    out_dir: str | os.PathLike[str],
    n: int,
    seed: int,
    *,
    n_test: int | None = None,
    n_supplemental: int | None = None,
    min_side: int = 100,
    max_side: int = 1024,
    authentic_twin_fraction: float = 0.85,
    test_authentic_fraction: float = 0.45,
    reuse_fraction: float = 0.5,
    workers: int = 1,
    progress: bool = True,
    case_timeout: float = CASE_TIMEOUT,
) -> dict[str, Any]:
    """Write a dataset of ``n`` train cases (plus test and supplemental) into ``out_dir``.

    ``reuse_fraction``: share of cases drawn as compound figures with reuse between panels
    (authentic test figures too, so "compound" tells nothing about the label).
    ``out_dir`` is replaced as a whole, atomically. Same arguments -> byte-identical files,
    whatever ``workers``. Returns a summary: ``figures`` (total), ``subsets`` (figure counts
    per ``subset/label``), ``kinds`` (cases per kind), ``seconds``. With ``workers > 1``, a
    dead worker, a failing case or a case taking over ``case_timeout`` seconds raises
    :class:`forgeseg.core.errors.ForgesegError` (and nothing is written) instead of hanging.
    """
    n_test = max(2, n // 5) if n_test is None else n_test
    n_supplemental = max(1, n // 50) if n_supplemental is None else n_supplemental
    _check(
        n,
        n_test,
        n_supplemental,
        min_side,
        max_side,
        authentic_twin_fraction,
        test_authentic_fraction,
        workers,
        case_timeout,
        reuse_fraction,
    )
    start = time.perf_counter()
    plan = _plan(seed, n, n_supplemental, n_test)
    with atomic_dir(out_dir) as tmp:
        cfg = {
            "root": str(tmp),
            "min_side": min_side,
            "max_side": max_side,
            "twin": authentic_twin_fraction,
            "test_authentic": test_authentic_fraction,
            "reuse": reuse_fraction,
        }
        jobs = [(s, case_id, seq, cfg) for s, case_id, seq in plan]
        results = _run_jobs(jobs, workers, out_dir, case_timeout, progress)
        for sub in _DIRS:
            (tmp / sub).mkdir(parents=True, exist_ok=True)
        meta_rows = _write_tables(tmp, results)
    counts = Counter(f"{r['subset']}/{r['label']}" for r in meta_rows)
    return {
        "figures": len(meta_rows),
        "subsets": dict(sorted(counts.items())),
        "kinds": dict(sorted(Counter(res["kind"] for res in results).items())),
        "seconds": round(time.perf_counter() - start, 3),
    }
