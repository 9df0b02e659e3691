"""The Kaggle notebook kit (scripts/kaggle_kit.py, kaggle/forgeseg-submit.ipynb): what it
carries, how the notebook finds its inputs, and (e2e) the whole offline install and predict."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from forgeseg.core.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


kit = _script("kaggle_kit")
check = _script("check_kaggle_kit")


def test_kit_carries_what_predict_needs_and_never_torch():
    pins = kit.predict_requirements()
    names = {canonicalize_name(p.split("==")[0]) for p in pins}
    for needed in ("segmentation-models-pytorch", "albumentations", "opencv-python-headless"):
        assert needed in names
    assert {"numpy", "scipy", "pillow", "pyyaml", "tqdm", "timm"} <= names
    assert not names & {"torch", "torchvision", "triton", "dvc", "dvclive", "matplotlib"}
    assert not [n for n in names if n.startswith(("nvidia-", "cuda-"))]
    # Pinned to what this venv runs, so the kit is the set the tests saw.
    for pin in pins:
        name, version = pin.split("==")
        assert md.version(name) == version, pin


def _first_cell(kaggle: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("FORGESEG_KAGGLE_ROOT", str(kaggle))
    cells = json.loads((REPO / "kaggle" / "forgeseg-submit.ipynb").read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    namespace: dict = {}
    exec(compile(code[0], "forgeseg-submit.ipynb", "exec"), namespace)
    return namespace


def test_notebook_finds_the_kit_and_test_images_whatever_the_slugs(tmp_path, monkeypatch):
    kaggle = tmp_path / "kaggle"
    kit_dir = kaggle / "input" / "someone-forgeseg-kit"
    kit_dir.mkdir(parents=True)
    (kit_dir / "forgeseg-kit.json").write_text(json.dumps({"forgeseg": "0.1.0"}))
    (kit_dir / "wheels" / "test_images").mkdir(parents=True)  # a decoy inside the kit
    test_images = kaggle / "input" / "competitions" / "recodai-luc" / "test_images"
    test_images.mkdir(parents=True)
    ns = _first_cell(kaggle, monkeypatch)
    assert ns["KIT"] == kit_dir and ns["TEST_IMAGES"] == test_images
    assert ns["WORKING"] == kaggle / "working"


def test_notebook_says_which_input_is_missing(tmp_path, monkeypatch):
    (tmp_path / "kaggle" / "input" / "comp" / "test_images").mkdir(parents=True)
    with pytest.raises(SystemExit, match=r"no forgeseg-kit\.json under .*add the dataset"):
        _first_cell(tmp_path / "kaggle", monkeypatch)


def test_every_notebook_cell_compiles():
    script = check.notebook_script(REPO / "kaggle" / "forgeseg-submit.ipynb")
    compile(script, "forgeseg-submit.ipynb", "exec")
    assert "--no-index" in script and "submission.csv" in script


def test_build_refuses_a_missing_model_before_downloading(tmp_path):
    post = tmp_path / "postprocess.json"
    post.write_text(json.dumps({"threshold": 0.5, "gate": 0.9, "min_support": 12}))
    with pytest.raises(DataError, match=r"nothing\.pt: not found .*--model"):
        kit.build_kit(tmp_path / "kit", tmp_path / "nothing.pt", post, REPO / "params.yaml")
    assert not (tmp_path / "kit").exists()


@pytest.mark.e2e
def test_kit_installs_offline_predicts_and_scores(tmp_path):
    """Needs the network (pip downloads the wheels) and about 4 minutes on 2 cores."""
    import dataclasses

    from forgeseg.config import load_params
    from forgeseg.config.build import as_dict
    from forgeseg.decision.calibration import save_calibration
    from forgeseg.decision.rules import DecisionConfig
    from forgeseg.models import build_model
    from forgeseg.models.checkpoint import save_checkpoint

    params = load_params(REPO / "params.yaml")
    model = build_model(dataclasses.replace(params.model))
    save_checkpoint(
        tmp_path / "model.pt",
        {"model_cfg": as_dict(params.model), "size": 64, "state_dict": model.state_dict()},
    )
    decision = DecisionConfig.from_detect(params.detect, threshold=0.5, gate=0.9, min_support=12)
    save_calibration(tmp_path / "postprocess.json", decision)
    out = tmp_path / "kit"
    manifest = kit.build_kit(
        out, tmp_path / "model.pt", tmp_path / "postprocess.json", REPO / "params.yaml"
    )
    assert not [w for w in manifest["wheels"] if w.startswith(("torch-", "torchvision-"))]
    cmd = [sys.executable, str(REPO / "scripts" / "check_kaggle_kit.py"), "--kit", str(out)]
    done = subprocess.run(
        [*cmd, "--work", str(tmp_path / "check"), "--n-test", "4"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kit check passed" in done.stdout
