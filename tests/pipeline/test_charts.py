"""PNG charts of the training curves, the ROC and the threshold sweep."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgeseg.core.errors import DataError
from forgeseg.pipeline.charts import (
    CHART_SIZE,
    PANEL_SIZE,
    read_table,
    roc_chart,
    threshold_chart,
    training_chart,
    write_charts,
)

STAGE = Path(__file__).resolve().parents[2] / "stages" / "charts.py"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def inputs(tmp_path):
    """DVCLive curves (train/val loss, val oF1, lr) and the two evaluate tables."""
    curves = tmp_path / "metrics/train/plots/metrics"
    write(curves / "train/loss.tsv", "step\tloss\n0\t0.9\n1\t0.7\n2\t0.6\n")
    write(curves / "val/loss.tsv", "step\tloss\n0\t0.8\n1\t0.75\n2\t0.7\n")
    # DVCLive may add a timestamp column: it is bookkeeping, not the metric.
    write(curves / "val/of1.tsv", "timestamp\tstep\tof1\n1700000000\t0\t0.4\n1700000100\t1\t0.5\n")
    write(curves / "lr.tsv", "step\tlr\n0\t0.001\n1\t0.0005\n")
    evaluate = tmp_path / "plots/evaluate"
    write(evaluate / "roc.csv", "fpr,tpr\n0.0,0.0\n0.0,0.5\n0.5,0.8\n1.0,1.0\n")
    write(evaluate / "threshold_sweep.csv", "threshold,of1,floor\n0.3,0.5,0.45\n0.5,0.6,0.45\n")
    return curves, evaluate


def decoded(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def test_write_charts_writes_three_pngs_of_the_expected_size(inputs, tmp_path):
    curves, evaluate = inputs
    paths = write_charts(curves, evaluate, tmp_path / "charts")
    assert [p.name for p in paths] == ["training.png", "roc.png", "threshold_sweep.png"]
    # Three metrics (loss with train+val in one panel, of1, lr) -> a 2 x 2 grid.
    expected = [(PANEL_SIZE[0] * 2, PANEL_SIZE[1] * 2), CHART_SIZE, CHART_SIZE]
    for path, (width, height) in zip(paths, expected, strict=True):
        pixels = decoded(path)
        assert pixels.shape == (height, width, 3)
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # drawn, not a blank canvas
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == sorted(p.name for p in paths)


def test_training_grid_grows_by_rows(tmp_path):
    for i in range(5):
        write(tmp_path / f"m{i}.tsv", f"step\tm{i}\n0\t1\n1\t2\n")
    out = training_chart(tmp_path, tmp_path / "t.png")
    assert decoded(out).shape[:2] == (PANEL_SIZE[1] * 3, PANEL_SIZE[0] * 2)


def test_malformed_csv_is_a_data_error_naming_the_file(tmp_path):
    roc = write(tmp_path / "roc.csv", "fpr,tpr\n0.0,0.0\n0.5,high\n")
    with pytest.raises(DataError, match="line 3: tpr = 'high' is not a number") as err:
        roc_chart(roc, tmp_path / "roc.png")
    assert err.value.path == str(roc)
    assert not (tmp_path / "roc.png").exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no header"),
        ("fpr,tpr\n", "no data rows"),
        ("fpr,recall\n0,1\n", "no column 'tpr'"),
        ("fpr,tpr\n0,1\n0.5\n", "line 3: 1 fields"),
    ],
)
def test_each_malformed_table_says_what_is_wrong(tmp_path, text, problem):
    path = write(tmp_path / "roc.csv", text)
    with pytest.raises(DataError, match=problem) as err:
        read_table(path, columns=("fpr", "tpr"))
    assert err.value.path == str(path)


def test_missing_inputs_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="missing") as err:
        threshold_chart(tmp_path / "threshold_sweep.csv", tmp_path / "t.png")
    assert err.value.path == str(tmp_path / "threshold_sweep.csv")
    with pytest.raises(DataError, match=r"no \.tsv training curves") as err:
        training_chart(tmp_path, tmp_path / "t.png")
    assert err.value.path == str(tmp_path)


def test_curve_with_two_metric_columns_is_refused(tmp_path):
    write(tmp_path / "loss.tsv", "step\tloss\tdice\n0\t1\t0\n")
    with pytest.raises(DataError, match="one metric column"):
        training_chart(tmp_path, tmp_path / "t.png")


def test_a_failing_chart_leaves_the_previous_folder_whole(inputs, tmp_path):
    curves, evaluate = inputs
    out = tmp_path / "charts"
    first = write_charts(curves, evaluate, out)
    before = {p.name: p.read_bytes() for p in first}
    write(evaluate / "threshold_sweep.csv", "threshold,of1\n0.3,nan?\n")
    with pytest.raises(DataError):
        write_charts(curves, evaluate, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_stage_script_writes_plots_charts_and_reports_errors_in_one_line(inputs, tmp_path):
    run = [sys.executable, str(STAGE)]
    done = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "plots/charts").iterdir()) == [
        "roc.png",
        "threshold_sweep.png",
        "training.png",
    ]
    (tmp_path / "plots/evaluate/roc.csv").unlink()
    done = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: plots/evaluate/roc.csv: missing (run `dvc repro` to make it)"
    )
