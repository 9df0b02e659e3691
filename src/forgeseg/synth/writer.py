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

Every case gets its own generator from ``SeedSequence(seed).spawn``, so the bytes written
do not depend on the number of worker processes or their scheduling.

Workers run in a ``concurrent.futures.ProcessPoolExecutor`` rather than a
``multiprocessing.Pool``: when a worker dies (OOM killer, a crash in native code, a spawn
bootstrap error) a Pool silently starts a replacement and waits forever for the lost
task, while the executor marks itself broken and fails every pending future, which we
turn into a clear error. A watchdog bounds the wait for any single case as well.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from forgeseg.core.atomic import atomic_dir, save_npy, save_png, write_text
from forgeseg.core.errors import ForgesegError, ParamsError
from forgeseg.synth.case import make_case

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
)
_SINGLE_2D = 0.3  # share of single-instance masks saved (H, W), as some real files are
# Seconds to wait for the next case in order; one takes well under a second, so only a
# stuck worker (or a machine thrashing far beyond use) gets near this.
CASE_TIMEOUT = 600.0
_IN_FLIGHT = 8  # cases queued per worker: keeps both busy without holding every result


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
    }


def _save_masks(path: Path, masks: np.ndarray, rng: np.random.Generator) -> None:
    arr = masks.astype(np.uint8)
    if arr.shape[0] == 1 and rng.random() < _SINGLE_2D:
        arr = arr[0]
    save_npy(path, arr)


def _run_job(job: tuple[str, str, np.random.SeedSequence, dict[str, Any]]) -> dict[str, Any]:
    """Generate and write one case; return its meta rows and (for test) solution row."""
    from forgeseg.core.rle import encode_annotation

    subset, case_id, seq, cfg = job
    root = Path(cfg["root"])
    rng = np.random.default_rng(seq)
    sizes = {"min_side": cfg["min_side"], "max_side": cfg["max_side"]}
    rows: list[dict[str, Any]] = []
    solution = None
    if subset == "train":
        twin = bool(rng.random() < cfg["twin"])
        case = make_case(rng, forged=True, with_authentic=twin, **sizes)
        save_png(root / "train_images" / "forged" / f"{case_id}.png", case.forged)
        _save_masks(root / "train_masks" / f"{case_id}.npy", case.masks, rng)
        rows.append(_meta_row(case_id, "train", "forged", case.meta))
        if twin:
            save_png(root / "train_images" / "authentic" / f"{case_id}.png", case.authentic)
            rows.append(_meta_row(case_id, "train", "authentic", case.meta))
    elif subset == "supplemental":
        case = make_case(rng, forged=True, with_authentic=False, **sizes)
        save_png(root / "supplemental_images" / f"{case_id}.png", case.forged)
        _save_masks(root / "supplemental_masks" / f"{case_id}.npy", case.masks, rng)
        rows.append(_meta_row(case_id, "supplemental", "forged", case.meta))
    else:
        authentic = bool(rng.random() < cfg["test_authentic"])
        case = make_case(rng, forged=not authentic, with_authentic=authentic, **sizes)
        image = case.authentic if authentic else case.forged
        save_png(root / "test_images" / f"{case_id}.png", image)
        label = "authentic" if authentic else "forged"
        rows.append(_meta_row(case_id, "test", label, case.meta))
        h, w = image.shape[:2]
        solution = {
            "case_id": case_id,
            "annotation": "authentic" if authentic else encode_annotation(case.masks),
            "shape": "authentic" if authentic else json.dumps([h, w]),
        }
    return {"rows": rows, "solution": solution, "kind": case.meta["kind"]}


def _init_worker() -> None:
    import cv2

    # Two processes on two cores: OpenCV's own thread pool would only oversubscribe them.
    cv2.setNumThreads(1)


def run_parallel(
    fn: Callable[[Any], Any],
    jobs: list[Any],
    ids: list[str],
    workers: int,
    out_dir: str | os.PathLike[str],
    *,
    timeout: float = CASE_TIMEOUT,
    bar: tqdm | None = None,
) -> list[Any]:
    """``[fn(job) for job in jobs]`` on ``workers`` spawned processes, in job order.

    ``fn`` must be picklable (module level); ``ids`` names each job in errors. Raises
    :class:`forgeseg.core.errors.ForgesegError` naming the job and ``out_dir`` when a worker
    process dies, ``fn`` raises, or a job's result does not arrive within ``timeout``
    seconds of the previous one; workers still running are then terminated.
    """
    results: list[Any] = []
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker)
    pending: deque[tuple[str, Future[Any]]] = deque()
    it = iter(zip(ids, jobs, strict=True))
    failed = True
    try:
        while True:
            # Keep a bounded window in flight; collect strictly in submission order.
            while len(pending) < workers * _IN_FLIGHT:
                nxt = next(it, None)
                if nxt is None:
                    break
                pending.append((nxt[0], pool.submit(fn, nxt[1])))
            if not pending:
                break
            case_id, fut = pending.popleft()
            try:
                results.append(fut.result(timeout=timeout))
            except BrokenProcessPool as err:
                raise ForgesegError(
                    f"synth {out_dir}: a worker process died while generating case {case_id} "
                    "(killed by the OS, e.g. out of memory, or failed to start); "
                    "retry with fewer workers or smaller figures"
                ) from err
            except FutureTimeout as err:
                raise ForgesegError(
                    f"synth {out_dir}: case {case_id} produced nothing in {timeout:.0f} s; "
                    "a worker is stuck or the machine is overloaded"
                ) from err
            except Exception as err:
                raise ForgesegError(
                    f"synth {out_dir}: generating case {case_id} failed: "
                    f"{type(err).__name__}: {err}"
                ) from err
            if bar is not None:
                bar.update()
        failed = False
    finally:
        if failed:
            # Do not wait for queued cases, and stop workers that may be stuck, so the
            # error surfaces now instead of after the pool drains (or never).
            for _, fut in pending:
                fut.cancel()
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
        else:
            pool.shutdown(wait=True)
    return results


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
    ):
        if not 0.0 <= v <= 1.0:
            raise ParamsError(f"synth {name} must lie in [0, 1], got {v}")
    if workers < 1:
        raise ParamsError(f"workers must be at least 1, got {workers}")
    if not case_timeout > 0:
        raise ParamsError(f"synth case_timeout must be positive, got {case_timeout}")


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
    workers: int = 1,
    progress: bool = True,
    case_timeout: float = CASE_TIMEOUT,
) -> dict[str, Any]:
    """Write a dataset of ``n`` train cases (plus test and supplemental) into ``out_dir``.

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
    )
    start = time.perf_counter()
    total = n + n_supplemental + n_test
    children = np.random.SeedSequence(seed).spawn(total + 1)
    id_rng = np.random.default_rng(children[0])
    ids = id_rng.choice(np.arange(10, 10 + max(100_000, 20 * total)), size=total, replace=False)
    subsets = ["train"] * n + ["supplemental"] * n_supplemental + ["test"] * n_test
    with atomic_dir(out_dir) as tmp:
        cfg = {
            "root": str(tmp),
            "min_side": min_side,
            "max_side": max_side,
            "twin": authentic_twin_fraction,
            "test_authentic": test_authentic_fraction,
        }
        jobs = [
            (s, str(int(i)), children[k + 1], cfg)
            for k, (s, i) in enumerate(zip(subsets, ids, strict=True))
        ]
        bar = tqdm(total=total, desc="synth", unit="case", disable=not progress)
        results: list[dict[str, Any]] = []
        try:
            if workers == 1 or total < 4:
                for job in jobs:
                    results.append(_run_job(job))
                    bar.update()
            else:
                ids_ = [job[1] for job in jobs]
                results = run_parallel(
                    _run_job, jobs, ids_, workers, out_dir, timeout=case_timeout, bar=bar
                )
        finally:
            bar.close()
        meta_rows = [row for res in results for row in res["rows"]]
        solution = [res["solution"] for res in results if res["solution"] is not None]
        for sub in (
            "train_images/authentic",
            "train_images/forged",
            "train_masks",
            "supplemental_images",
            "supplemental_masks",
            "test_images",
        ):
            (tmp / sub).mkdir(parents=True, exist_ok=True)
        write_text(tmp / "meta.csv", _csv(meta_rows, META_COLUMNS))
        write_text(tmp / "test_solution.csv", _csv(solution, ("case_id", "annotation", "shape")))
        write_text(
            tmp / "sample_submission.csv",
            _csv(
                [{"case_id": s["case_id"], "annotation": "authentic"} for s in solution],
                ("case_id", "annotation"),
            ),
        )
    counts = Counter(f"{r['subset']}/{r['label']}" for r in meta_rows)
    return {
        "figures": len(meta_rows),
        "subsets": dict(sorted(counts.items())),
        "kinds": dict(sorted(Counter(res["kind"] for res in results).items())),
        "seconds": round(time.perf_counter() - start, 3),
    }
