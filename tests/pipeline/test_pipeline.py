"""End to end: `dvc repro` in a temporary copy of the repository, with tiny params.

This is what a user does first; it checks every declared output, that a second repro does
nothing, and that `dvc exp run -S train.lr=...` reruns train onwards and shows up in
`dvc metrics diff`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


def _run(args: list[str], cwd: Path, timeout: int = 600, stdout_only: bool = False) -> str:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{out[-6000:]}"
    return proc.stdout if stdout_only else out


def _tiny_params(path: Path) -> None:
    p = yaml.safe_load(path.read_text())
    p["base"]["workers"] = 1
    p["synth"].update(n=14, n_test=8, n_supplemental=1, min_side=96, max_side=192)
    p["data"]["val_fraction"] = 0.35
    p["train"].update(
        size=64, epochs=1, batch_size=4, synthetic_per_epoch=4, synthetic_max_side=160
    )
    p["evaluate"].update(thresholds=[0.5], gates=[0.5])
    p["overlay"]["n"] = 3
    p["panels"].update(size=64, channels=[8, 8, 8], epochs=1, n_train=8, n_val=4, batch_size=4)
    p["report"]["max_figures"] = 3
    p["learned"].update(figures=0, max_iter=20)
    path.write_text(yaml.safe_dump(p, sort_keys=False))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e") / "repo"
    root.mkdir()
    for name in ("src", "stages", "dvc.yaml", "params.yaml", ".dvcignore"):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, root / name)
    (root / ".dvc").mkdir()
    shutil.copy2(REPO / ".dvc" / "config", root / ".dvc" / "config")
    # .dvc/config names the offline plots page that `make` builds under build/.
    (root / "build").symlink_to(REPO / "build", target_is_directory=True)
    (root / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    _tiny_params(root / "params.yaml")
    _run(["git", "init", "-q"], root)
    _run(["git", "config", "user.email", "ci@forgeseg"], root)
    _run(["git", "config", "user.name", "ci"], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "tiny"], root)
    return root


def test_repro_makes_every_declared_output(repo: Path) -> None:
    _run(["dvc", "repro"], repo)
    for path in (
        "data/synth/train_images/forged",
        "data/synth/test_solution.csv",
        "data/splits/train.csv",
        "data/splits/val.csv",
        "data/splits/test.csv",
        "metrics/ingest.json",
        "metrics/eda.json",
        "plots/eda/contact_sheet.png",
        "models/panels.pt",
        "metrics/panels.json",
        "models/model.pt",
        "checkpoints/last.pt",
        "metrics/train/metrics.json",
        "models/decision.npz",
        "metrics/decision.json",
        "plots/decision/importances.csv",
        "models/postprocess.json",
        "metrics/evaluate.json",
        "plots/evaluate/roc.csv",
        "data/predictions/submission.csv",
        "metrics/infer.json",
        "plots/report/index.html",
    ):
        assert (repo / path).exists(), f"{path} missing after dvc repro"
    assert list((repo / "plots/overlays").glob("*.png"))
    evaluate = json.loads((repo / "metrics/evaluate.json").read_text())
    assert 0.0 <= evaluate["floor"] <= 1.0 and 0.0 <= evaluate["of1"] <= 1.0
    # The per-method breakdown sits in the summary beside the plots, not in the metrics.
    summary = json.loads((repo / "plots/evaluate/summary.json").read_text())
    assert set(summary["methods"]) == {"authentic", "network", "geometric", "hybrid", "learned"}
    # Each method's calibrated settings, the learned decision's accept score among them.
    assert set(summary["methods"]["learned"]["calibrated"]) >= {"accept", "min_support"}
    assert summary["methods"]["authentic"]["of1"] == pytest.approx(evaluate["floor"])
    infer = json.loads((repo / "metrics/infer.json").read_text())
    assert infer["scored"] is True and infer["n_figures"] == 8
    # The submission is valid for the official scorer.
    from forgeseg.scoring.files import score_files

    report = score_files(
        repo / "data/synth/test_solution.csv", repo / "data/predictions/submission.csv"
    )
    assert report.mean == pytest.approx(infer["of1"])
    # metrics and plots are readable by DVC itself.
    shown = _run(["dvc", "metrics", "show", "--json"], repo, stdout_only=True)
    assert "of1" in shown
    _run(["dvc", "plots", "show", "-o", str(repo / "dvc_plots")], repo)
    assert (repo / "dvc_plots" / "index.html").exists()


def test_second_repro_does_nothing(repo: Path) -> None:
    out = _run(["dvc", "repro"], repo)
    assert "Running stage" not in out, out


def test_exp_run_reruns_train_onwards_and_changes_metrics(repo: Path) -> None:
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "baseline"], repo)
    out = _run(["dvc", "exp", "run", "-S", "train.lr=0.02"], repo)
    assert "Running stage 'train'" in out
    for upstream in ("synth", "ingest", "eda"):
        assert f"Running stage '{upstream}'" not in out
    diff = _run(["dvc", "metrics", "diff", "--json"], repo, stdout_only=True)
    changed = json.loads(diff)
    assert "metrics/train/metrics.json" in changed, diff
