from pathlib import Path

import pytest
import yaml

from forgeseg.core.errors import ParamsError
from forgeseg.params import load_params, resolve_device

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path, mutate):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_repository_params_load():
    params = load_params(REPO / "params.yaml")
    assert params["data"]["root"] == "data/synth"
    assert params["model"]["encoder_weights"] is None  # never a download by default


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda p: p["train"].__setitem__("lr", "fast"), "train.lr"),
        (lambda p: p["train"].__setitem__("epochs", 0), "train.epochs"),
        (lambda p: p["train"].__setitem__("size", 250), "multiple of 32"),
        (lambda p: p["data"].__setitem__("val_fraction", 1.5), "data.val_fraction"),
        (lambda p: p.pop("model"), "'model'"),
        (lambda p: p["detect"].__setitem__("method", "magic"), "detect.method"),
        (lambda p: p["synth"].__setitem__("min_side", 5000), "synth"),
        (lambda p: p["train"].__setitem__("batch_size", True), "train.batch_size"),
    ],
)
def test_bad_params_name_the_key(tmp_path, mutate, needle):
    with pytest.raises(ParamsError, match=needle.replace(".", r"\.")):
        load_params(_write(tmp_path, mutate))


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [1,\n")
    with pytest.raises(ParamsError, match="YAML"):
        load_params(bad)


def test_device_names():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    with pytest.raises(ParamsError, match=r"base\.device"):
        resolve_device("tpu")
