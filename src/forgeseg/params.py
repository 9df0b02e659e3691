"""Load and check ``params.yaml``.

Stage scripts call :func:`load_params` and hand sections to the library. Checking here,
before any work starts, turns a typo in ``dvc exp run -S train.lr=abc`` into one line
naming the key instead of a failure twenty minutes into training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from forgeseg.core.errors import ParamsError

__all__ = ["check_number", "load_params", "resolve_device"]

_REQUIRED = ("base", "data", "synth", "model", "train", "detect", "evaluate", "overlay")

# key -> (type, minimum, maximum); None means unbounded.
_NUMBERS: dict[str, tuple[type, float | None, float | None]] = {
    "base.seed": (int, 0, None),
    "base.workers": (int, 1, 256),
    "data.val_fraction": (float, 0.0, 1.0),
    "synth.n": (int, 1, None),
    "synth.n_test": (int, 0, None),
    "synth.n_supplemental": (int, 0, None),
    "synth.min_side": (int, 32, None),
    "synth.max_side": (int, 32, 8192),
    "synth.seed": (int, 0, None),
    "train.size": (int, 64, 4096),
    "train.epochs": (int, 1, None),
    "train.batch_size": (int, 1, None),
    "train.lr": (float, 0.0, 10.0),
    "train.weight_decay": (float, 0.0, 10.0),
    "train.synthetic_per_epoch": (int, 0, None),
    "train.num_workers": (int, 0, 256),
    "train.gpus": (int, 1, 64),
    "detect.min_area": (int, 0, None),
    "detect.min_area_fraction": (float, 0.0, 0.5),
    "overlay.n": (int, 0, 10_000),
}


def load_params(path: str | os.PathLike[str] = "params.yaml") -> dict[str, Any]:
    """Read ``params.yaml`` and check the keys every stage relies on.

    Raises:
        ParamsError: the file is missing or unparsable, a section is missing, or a value
            has the wrong type or range. The message names the key.
    """
    p = Path(path)
    if not p.is_file():
        raise ParamsError(f"{p}: parameters file not found")
    try:
        params = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{p}: expected a mapping of sections at the top level")
    for name in _REQUIRED:
        if not isinstance(params.get(name), dict):
            raise ParamsError(f"{p}: section '{name}' is missing or not a mapping")
    for key, (kind, lo, hi) in _NUMBERS.items():
        section, _, leaf = key.partition(".")
        if leaf in params[section]:
            check_number(key, params[section][leaf], kind, lo, hi)
    if params["synth"].get("min_side", 0) > params["synth"].get("max_side", 1 << 30):
        raise ParamsError("synth.min_side must not exceed synth.max_side")
    if params["train"].get("size", 32) % 32:
        raise ParamsError(f"train.size must be a multiple of 32, got {params['train']['size']}")
    method = params["detect"].get("method", "hybrid")
    if method not in ("hybrid", "network", "keypoints", "authentic"):
        raise ParamsError(
            f"detect.method must be one of hybrid, network, keypoints, authentic; got {method!r}"
        )
    return params


def check_number(
    key: str, value: Any, kind: type, lo: float | None = None, hi: float | None = None
) -> float | int:
    """Check one numeric param; ints are accepted where floats are expected, not the reverse."""
    ok_types = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        raise ParamsError(f"{key} must be a {kind.__name__}, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        raise ParamsError(f"{key} must lie in {bounds}, got {value!r}")
    return value


def resolve_device(name: str | None) -> str:
    """Map ``base.device`` to a torch device string; ``auto`` prefers cuda, then mps, then cpu."""
    import torch

    name = (name or "auto").strip()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ParamsError(f"base.device is {name!r} but no CUDA device is available")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ParamsError("base.device is 'mps' but MPS is not available")
    if name != "cpu" and not name.startswith(("cuda", "mps")):
        raise ParamsError(f"base.device must be auto, cpu, cuda[:N] or mps; got {name!r}")
    return name


def section(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A copy of one section, so callers can fill defaults without touching the original."""
    return dict(params.get(name) or {})
