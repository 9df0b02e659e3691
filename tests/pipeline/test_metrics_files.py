"""The metrics files a person reads: a dozen headline numbers each, `dvc metrics show` of
one file fits a terminal 200 columns wide, `dvc metrics diff` shows the headline change, and
every other number is kept in a summary JSON or a per-kind table, not lost."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forgeseg.config import BaseConfig, DataConfig
from forgeseg.core.atomic import write_json
from forgeseg.data.layout import read_index
from forgeseg.decision.calibration import Outcome
from forgeseg.pipeline.eda import run_eda
from forgeseg.pipeline.evaluate import summarize
from forgeseg.pipeline.headline import (
    SUMMARY_NAME,
    evaluate_report,
    infer_report,
    kind_rows,
    numeric_leaves,
    write_metrics,
)
from forgeseg.pipeline.ingest import ingest
from forgeseg.pipeline.paths import Paths
from forgeseg.scoring.score import score_frames
from forgeseg.synth import generate_dataset

WIDTH = 200
MAX_NUMBERS = 12
DVC = shutil.which("dvc") or str(Path(__file__).resolve().parents[2] / ".venv/bin/dvc")

# What DVCLive writes for the train stage (metrics/train/metrics.json after `dvc repro`).
TRAIN = {
    "train": {"loss": 0.6792161961396536},
    "val": {"loss": 0.48252484798431394, "dice": 0.0, "iou": 0.0, "of1": 0.4533333333333333},
    "lr": 0.0,
    "best/of1": 0.4533333333333333,
    "best/epoch": 3,
    "step": 2,
    "train/seconds": 640.8,
    "train/figures_per_second": 1.35,
}


def _outcome(rng: np.random.Generator, truth: np.ndarray, fire: float) -> Outcome:
    """One method's calls on the same val figures: it catches a share ``fire`` of forgeries."""
    n = truth.size
    pred = truth & (rng.random(n) < fire)
    of1 = np.where(truth, np.where(pred, rng.random(n), 0.0), ~pred * 1.0)
    px = rng.integers(0, 5000, size=(n, 3))
    return Outcome(pred, of1, px, rng.random(n), truth)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every stage's metrics written as the stages write them, from tiny generated data."""
    tmp = tmp_path_factory.mktemp("metrics")
    paths = Paths().under(tmp)
    root = tmp / "kaggle-root"
    generate_dataset(root, n=6, seed=5, n_test=4, max_side=160, progress=False)
    ingest(DataConfig(root=str(root)), BaseConfig(workers=1), paths=paths, progress=False)
    splits = {s: read_index(paths.splits / f"{s}.csv") for s in ("train", "val", "test")}
    run_eda(
        splits,
        metrics_path=paths.eda_metrics,
        plots_dir=paths.eda_plots,
        contact_sheet_path=paths.eda_plots / "sheet.png",
        per_kind=1,
        tile=32,
    )
    rng = np.random.default_rng(0)
    truth = rng.random(75) < 0.55
    per_method = {
        m: summarize(_outcome(rng, truth, fire))
        for m, fire in (("authentic", 0.0), ("network", 0.1), ("geometric", 0.4), ("hybrid", 0.4))
    }
    chosen = {"threshold": 0.8, "gate": 0.9, "min_support": 12}
    evaluate = evaluate_report("hybrid", per_method, chosen)
    write_metrics("evaluate", evaluate, paths.evaluate_metrics, paths.evaluate_plots / SUMMARY_NAME)
    solution = [(f"c{i}", "authentic", "authentic") for i in range(30)] + [
        (f"f{i}", "[101, 50]", "[300, 400]") for i in range(30)
    ]
    submission = [(c, "[101, 40]" if c in ("f1", "f2") else "authentic") for c, _, _ in solution]
    report = score_frames(solution, submission)
    infer = infer_report("hybrid", submission, {"of1": report.mean, **report.breakdown})
    write_metrics("infer", infer, paths.infer_metrics, paths.predictions / SUMMARY_NAME)
    write_json(paths.train_live / "metrics.json", TRAIN)
    return {"tmp": tmp, "paths": paths, "root": root}


def _files(paths: Paths) -> list[Path]:
    return [
        paths.ingest_metrics,
        paths.eda_metrics,
        paths.train_live / "metrics.json",
        paths.evaluate_metrics,
        paths.infer_metrics,
    ]


def test_each_metrics_file_holds_a_dozen_numbers_at_most(written):
    for path in _files(written["paths"]):
        data = json.loads(path.read_text())
        assert 5 <= numeric_leaves(data) <= MAX_NUMBERS, (path.name, sorted(data))


def test_headline_keeps_the_names_users_diff(written):
    paths = written["paths"]
    evaluate = json.loads(paths.evaluate_metrics.read_text())
    for key in ("of1", "floor", "forged_only_of1", "authentic_fpr", "dice", "iou"):
        assert isinstance(evaluate[key], float), key
    assert evaluate["method"] == "hybrid" and evaluate["n_figures"] == 75
    infer = json.loads(paths.infer_metrics.read_text())
    assert infer["scored"] is True and infer["of1"] == pytest.approx(0.5 + 2 * (40 / 45) / 60)
    assert infer["floor"] == 0.5 and infer["predicted_forged"] == 2
    ingest = json.loads(paths.ingest_metrics.read_text())
    assert ingest["case_ids_in_train_and_val"] == 0
    assert ingest["figures"] == sum(ingest[s]["figures"] for s in ("train", "val", "test"))
    eda = json.loads(paths.eda_metrics.read_text())
    assert eda["figures"] == ingest["figures"] and "kinds" not in eda


def test_every_other_number_lands_in_the_summary(written):
    paths = written["paths"]
    evaluate = json.loads((paths.evaluate_plots / SUMMARY_NAME).read_text())
    assert set(evaluate["methods"]) == {"authentic", "network", "geometric", "hybrid"}
    assert evaluate["methods"]["authentic"]["of1"] == pytest.approx(evaluate["floor"])
    assert evaluate["calibrated"] == {"threshold": 0.8, "gate": 0.9, "min_support": 12}
    assert "image_recall" in evaluate and "methods" not in json.loads(
        paths.evaluate_metrics.read_text()
    )
    ingest = json.loads((paths.splits / SUMMARY_NAME).read_text())
    assert ingest["root"] == str(written["root"]) and "case_ids" in ingest["val"]
    eda = json.loads((paths.eda_plots / SUMMARY_NAME).read_text())
    assert sum(eda["kinds"].values()) == eda["figures"]


def test_an_unscored_infer_run_writes_no_null_score(tmp_path):
    report = infer_report("geometric", [("a", "authentic"), ("b", "[1, 2]")], None)
    top = write_metrics("infer", report, tmp_path / "infer.json", tmp_path / "summary.json")
    assert top == json.loads((tmp_path / "infer.json").read_text())
    assert top["scored"] is False and "of1" not in top and top["predicted_forged"] == 1


def test_kind_rows_score_each_kind_apart():
    rows = kind_rows(
        ["gel", "blot", "gel", ""],
        [1.0, 0.5, 0.0, 1.0],
        [False, True, True, False],
        [False, True, False, False],
    )
    assert [r["kind"] for r in rows] == ["blot", "gel", "unknown"]
    gel = rows[1]
    assert gel["figures"] == 2 and gel["of1"] == 0.5 and gel["floor"] == 0.5
    assert gel["forged_detected"] == 0.0 and gel["authentic_flagged"] == 0.0
    assert rows[0]["authentic_flagged"] == ""  # no authentic blot: no rate, not a zero
    with pytest.raises(ValueError, match="2 kinds, 1 scores"):
        kind_rows(["a", "b"], [1.0], [True, True], [True, True])


def _dvc(args: list[str], cwd: Path) -> str:
    done = subprocess.run(
        [DVC, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _git(args: list[str], cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(not Path(DVC).exists(), reason="dvc is not installed")
def test_dvc_metrics_show_fits_200_columns_and_diff_shows_headline(written, tmp_path):
    repo = tmp_path / "repo"
    files = [p.relative_to(written["tmp"]) for p in _files(written["paths"])]
    for rel in files:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(written["tmp"] / rel, repo / rel)
    (repo / "dvc.yaml").write_text("metrics:\n" + "".join(f"  - {rel}\n" for rel in files))
    _git(["init", "-q"], repo)
    _dvc(["init", "-q"], repo)
    _git(["-c", "user.email=t@t", "-c", "user.name=t", "add", "-A"], repo)
    _git(["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base"], repo)
    for rel in files:
        table = _dvc(["metrics", "show", str(rel)], repo)
        assert str(rel) in table
        widest = max(len(line) for line in table.splitlines())
        assert widest <= WIDTH, f"{rel}: `dvc metrics show` is {widest} columns wide\n{table}"
    evaluate = repo / "metrics/evaluate.json"
    data = json.loads(evaluate.read_text())
    data["of1"] = round(data["of1"] + 0.125, 4)
    evaluate.write_text(json.dumps(data))
    diff = _dvc(["metrics", "diff"], repo)
    rows = [line.split() for line in diff.splitlines()]
    assert [r[1] for r in rows if r and r[0] == "metrics/evaluate.json"] == ["of1"], diff
    assert max(len(line) for line in diff.splitlines()) <= WIDTH
