"""Benchmark predicting a corpus: seconds per megapixel, 1 worker against all workers.

    python benchmarks/bench_predict.py [--generated 8] [--real 16] [--real-side 2000 3000]
                                       [--workers N] [--profile] [--params params.yaml]

Generates two sets of figures with ``forgeseg.synth`` (generated sizes, 128-640 px as in
the pipeline's data, and real sizes, a long side of ``--real-side`` px as in the Kaggle
data), then predicts each set with the pipeline's detector (``detect`` of ``--params``: its
matchers and panel cut; the hybrid decision with an untrained network of the default
architecture, whose cost is that of a trained one) on 1 worker and on ``--workers``
(default: every core),
through :func:`forgeseg.pipeline.infer.predict_folder`, the code ``forgeseg predict`` runs.
It checks that both CSVs are identical and writes seconds, seconds per megapixel (and per
megapixel per core), the speed-up and the peak resident memory of a worker to
``benchmarks/results/predict.json`` and ``predict.md``.
``--profile`` adds where the dense matcher spends its time on the largest figure.
Targets: at least 1.8x faster on 2 cores than on one; at most 5 s per megapixel per core
for the default detector on real-size figures.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.config import DetectConfig, ModelConfig, TrainConfig, as_dict
from forgeseg.core.atomic import save_png, write_json, write_text
from forgeseg.core.imageio import MAX_PIXELS, image_size, read_image
from forgeseg.decision.calibration import save_calibration
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.corpus import default_workers
from forgeseg.pipeline.infer import predict_folder
from forgeseg.synth import make_case

RESULTS = Path(__file__).resolve().parent / "results"


def _write_set(folder: Path, n: int, min_side: int, max_side: int, seed: int) -> float:
    """``n`` forged figures with long sides in [min_side, max_side]; returns megapixels."""
    rng = np.random.default_rng(seed)
    mp = 0.0
    for i in range(n):
        case = make_case(rng, min_side=min_side, max_side=max_side, with_authentic=False)
        save_png(folder / f"{i:03d}.png", case.forged)
        h, w = case.forged.shape[:2]
        mp += h * w / 1e6
    return mp


def _untrained_model(path: Path) -> None:
    import torch

    from forgeseg.models import build_model
    from forgeseg.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = ModelConfig()
    model = build_model(cfg)
    save_checkpoint(
        path,
        {"model_cfg": as_dict(cfg), "size": TrainConfig().size, "state_dict": model.state_dict()},
    )


def _detect(work: str | Path) -> DetectConfig:
    """The detector settings of the run (``--params``' ``detect``, copied into ``work``)."""
    from forgeseg.config import load_params

    return load_params(Path(work) / "params.yaml").detect


def _predict_once(folder: str, out: str, work: str, workers: int) -> None:
    """The child of :func:`_timed_run`: one ``predict_folder`` call, its summary as JSON."""
    detect = _detect(work)
    summary = predict_folder(
        folder,
        out,
        model_path=Path(work) / "model.pt",
        calibration_path=Path(work) / "postprocess.json",
        detect=dataclasses.replace(detect, method="hybrid"),
        device="cpu",
        workers=workers,
        progress=False,
    )
    print(json.dumps({"skipped": summary.n_skipped, "peak_rss_mb": summary.peak_rss_mb}))


def _timed_run(
    folder: Path, out: Path, work: Path, workers: int, one_core: bool = False
) -> dict[str, Any]:
    """A fresh process per run, as a user's ``forgeseg predict`` is: both sides pay the
    interpreter start and the imports (torch's among them), none inherits a warm cache.
    ``one_core``: the run may use one CPU only (its affinity), the baseline of "faster on
    N cores than on one"; a plain 1-worker run also uses the matchers' own threads."""
    cmd = [sys.executable, __file__, "--child", str(folder), str(out), str(work), str(workers)]
    first = min(os.sched_getaffinity(0))
    pin = (lambda: os.sched_setaffinity(0, {first})) if one_core else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, preexec_fn=pin)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    # CPU seconds of the run and its workers: over the wall time, the cores it really got
    # (on a shared machine, fewer than it asked for).
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        **json.loads(proc.stdout.strip().splitlines()[-1]),
    }


def _measure(name: str, folder: Path, mp: float, work: Path, workers: int) -> dict[str, Any]:
    one = _timed_run(folder, work / f"{name}_1.csv", work, 1)
    core = _timed_run(folder, work / f"{name}_c.csv", work, 1, one_core=True)
    many = _timed_run(folder, work / f"{name}_n.csv", work, workers)
    same = (work / f"{name}_1.csv").read_bytes() == (work / f"{name}_n.csv").read_bytes()
    sides = [max(read_image(p).shape[:2]) for p in sorted(folder.glob("*.png"))]
    return {
        "figures": len(sides),
        "long_sides": sides,
        "megapixels": round(mp, 2),
        "workers": workers,
        "seconds_1_worker": one["seconds"],
        "seconds_all_workers": many["seconds"],
        "s_per_mp_1_worker": round(one["seconds"] / mp, 2),
        "s_per_mp_all_workers": round(many["seconds"] / mp, 2),
        "s_per_mp_per_core": round(many["seconds"] * workers / mp, 2),
        "speedup": round(one["seconds"] / many["seconds"], 2),
        "seconds_one_core": core["seconds"],
        "speedup_vs_one_core": round(core["seconds"] / many["seconds"], 2),
        "cpu_seconds_1_worker": one["cpu_seconds"],
        "cpu_seconds_all_workers": many["cpu_seconds"],
        "cores_used_all_workers": round(many["cpu_seconds"] / many["seconds"], 2),
        "identical_csv": same,
        "skipped": one["skipped"],
        "peak_rss_mb_1_worker_process": one["peak_rss_mb"],
        "peak_rss_mb_per_worker": many["peak_rss_mb"],
    }


def _at_limit(largest: Path, work: Path) -> dict[str, Any]:
    """Peak RSS of one worker on a figure at the reader's size limit: the largest real-size
    figure upscaled to just under :data:`forgeseg.core.imageio.MAX_PIXELS`."""
    import cv2

    image = read_image(largest)
    h, w = image.shape[:2]
    scale = (MAX_PIXELS / (h * w)) ** 0.5
    size = (int(w * scale), int(h * scale))  # (width, height), below the limit
    folder = work / "at_limit"
    save_png(folder / "limit.png", cv2.resize(image, size, interpolation=cv2.INTER_CUBIC))
    run = _timed_run(folder, work / "limit.csv", work, 1)
    return {
        "shape": [size[1], size[0]],
        "megapixels": round(size[0] * size[1] / 1e6, 2),
        "seconds": run["seconds"],
        "peak_rss_mb": run["peak_rss_mb"],
        "skipped": run["skipped"],
    }


def _breakdown(image: np.ndarray, work: Path, profile: bool) -> tuple[dict[str, float], str]:
    """Seconds of each part of the default detector on one figure, and optionally the
    dense matcher's profile (top functions by cumulative time)."""
    from forgeseg.matchers import get_matcher
    from forgeseg.models.predictor import Predictor

    detect = _detect(work)
    parts: dict[str, float] = {}
    predictor = Predictor(work / "model.pt", device="cpu")
    start = time.perf_counter()
    predictor.predict(image)
    parts["network"] = round(time.perf_counter() - start, 2)
    text = ""
    structure = None
    if any(get_matcher(n).uses_structure for n in detect.matchers):
        from forgeseg.panels.learned import PanelDetector

        start = time.perf_counter()
        structure = PanelDetector(detect.panels_model).find(image)
        parts["panels"] = round(time.perf_counter() - start, 2)
    for name in detect.matchers:
        matcher = get_matcher(name)
        prof = cProfile.Profile() if profile and name == "dense" else None
        start = time.perf_counter()
        if prof is not None:
            prof.enable()
        cfg = matcher.settings(detect)
        if matcher.uses_structure:
            matcher.detect(image, cfg, structure)
        else:
            matcher.detect(image, cfg)
        if prof is not None:
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(18)
            text = buf.getvalue()
        parts[name] = round(time.perf_counter() - start, 2)
    return parts, text


def _markdown(result: dict[str, Any], profile: str) -> str:
    lines = [
        "# Predicting a corpus: seconds per megapixel",
        "",
        f"`python benchmarks/bench_predict.py` on {result['cpu_count']} cores "
        f"(1-minute load average {result['load_before']} before the run, "
        f"{result['load_after']} after: other work shared the cores), default detector "
        f"(hybrid: network + {' + '.join(result['matchers'])}), 1 worker against all workers; "
        "each run is a "
        "fresh process (interpreter start, imports and model loading included).",
        "",
        "| set | figures | long sides px | MP | s, 1 worker | s, 1 worker on 1 core "
        "| s, all workers | s/MP, 1 worker | s/MP/core, all workers | speed-up over 1 worker "
        "| speed-up over 1 core | cores the run got | same CSV | peak RSS per worker MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("generated", "real_size"):
        r = result[name]
        lines.append(
            f"| {name} | {r['figures']} | {min(r['long_sides'])}-{max(r['long_sides'])} "
            f"| {r['megapixels']} | {r['seconds_1_worker']} | {r['seconds_one_core']} "
            f"| {r['seconds_all_workers']} "
            f"| {r['s_per_mp_1_worker']} | {r['s_per_mp_per_core']} | {r['speedup']}x "
            f"| {r['speedup_vs_one_core']}x "
            f"| {r['cores_used_all_workers']} | {r['identical_csv']} "
            f"| {r['peak_rss_mb_per_worker']} |"
        )
    b = result["breakdown"]
    lines += [
        "",
        f"One real-size figure ({b['shape'][0]}x{b['shape'][1]} px, {b['megapixels']} MP), "
        "seconds per part in one process: "
        + ", ".join(f"{k} {v}" for k, v in b["seconds"].items()),
        "",
        "Targets: >= 1.8x on 2 cores than on one (the 1-core column: the run's CPU affinity is "
        "one core); <= 5 s/MP per core on real-size figures.",
    ]
    if "at_limit" in result:
        a = result["at_limit"]
        lines += [
            "",
            f"At the reader's size limit ({a['shape'][0]}x{a['shape'][1]} px, "
            f"{a['megapixels']} MP, a real-size figure upscaled): one worker peaked at "
            f"{a['peak_rss_mb']} MB resident, {a['seconds']} s.",
        ]
    if profile:
        lines += ["", "## Dense matcher profile (largest figure)", "", "```", profile, "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generated", type=int, default=8, help="figures of 128-640 px")
    # 16: with 8, the two workers' start (imports, network) is a tenth of the run; a corpus
    # is hundreds of figures.
    ap.add_argument("--real", type=int, default=16, help="figures of real size")
    ap.add_argument("--real-side", type=int, nargs=2, default=(2000, 3000), metavar=("MIN", "MAX"))
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--params", default="params.yaml", help="whose detect settings to time")
    ap.add_argument("--profile", action="store_true", help="profile the dense matcher")
    ap.add_argument(
        "--no-at-limit",
        dest="at_limit",
        action="store_false",
        help="skip the peak-memory run on one figure at the reader's 50 MP limit",
    )
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        folder, out, work, workers = args.child
        _predict_once(folder, out, work, int(workers))
        return
    load = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="bench_predict_") as tmp:
        work = Path(tmp)
        _untrained_model(work / "model.pt")
        shutil.copyfile(args.params, work / "params.yaml")
        save_calibration(work / "postprocess.json", DecisionConfig("hybrid", gate=0.9))
        mp_gen = _write_set(work / "generated", args.generated, 128, 640, args.seed)
        mp_real = _write_set(work / "real", args.real, *args.real_side, args.seed + 1)
        result: dict[str, Any] = {"cpu_count": os.cpu_count(), "load_before": load}
        result["matchers"] = list(_detect(work).matchers)
        result["generated"] = _measure("generated", work / "generated", mp_gen, work, args.workers)
        print("generated:", result["generated"])
        result["real_size"] = _measure("real", work / "real", mp_real, work, args.workers)
        print("real size:", result["real_size"])
        largest = max(sorted((work / "real").glob("*.png")), key=lambda p: np.prod(image_size(p)))
        image = read_image(largest)
        parts, profile = _breakdown(image, work, args.profile)
        if args.at_limit:
            result["at_limit"] = _at_limit(largest, work)
            print("at the size limit:", result["at_limit"])
    h, w = image.shape[:2]
    result["breakdown"] = {"shape": [h, w], "megapixels": round(h * w / 1e6, 2), "seconds": parts}
    result["load_after"] = round(os.getloadavg()[0], 2)
    result["python"] = platform.python_version()
    write_json(RESULTS / "predict.json", result)
    write_text(RESULTS / "predict.md", _markdown(result, profile))
    print("breakdown:", result["breakdown"], "->", RESULTS / "predict.json")


if __name__ == "__main__":
    main()
