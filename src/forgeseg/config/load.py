"""Read ``params.yaml`` into the typed :class:`~forgeseg.config.sections.Params` tree.

Stage scripts call :func:`load_params` and hand typed sections to the library. Checking
here, before any work starts, turns a typo in ``dvc exp run -S train.lr=abc`` into one line
naming the key instead of a failure twenty minutes into training.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from forgeseg.config.build import as_dict
from forgeseg.config.sections import Params
from forgeseg.core.errors import ParamsError

__all__ = ["REQUIRED_SECTIONS", "load_params", "override", "params_from_mapping", "resolve_device"]

# Sections params.yaml must hold: DVC tracks their keys, so a missing one is a broken file,
# not a request for defaults.
REQUIRED_SECTIONS = tuple(f.name for f in dataclasses.fields(Params))


def load_params(path: str | os.PathLike[str] = "params.yaml") -> Params:
    """Read ``params.yaml`` and build every section once.

    Raises:
        ParamsError: the file is missing or unparsable, a section is missing, a key is
            unknown, or a value has the wrong type or range. The message names the full key.
    """
    p = Path(path)
    if not p.is_file():
        raise ParamsError(f"{p}: parameters file not found")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParamsError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{p}: expected a mapping of sections at the top level")
    for name in REQUIRED_SECTIONS:
        if not isinstance(raw.get(name), dict):
            raise ParamsError(f"{p}: section '{name}' is missing or not a mapping")
    return params_from_mapping(raw)


def params_from_mapping(raw: Mapping[str, Any]) -> Params:
    """The typed tree from an already parsed mapping (sections may be left out)."""
    # Empty sections (``keypoints: {}`` style) read as None from YAML's ``key:`` form.
    return Params.from_mapping({k: (v if v is not None else {}) for k, v in raw.items()})


def override(params: Params, changes: Mapping[str, Any]) -> Params:
    """A copy of ``params`` with dotted keys changed (``{"model.arch": "unet"}``), checked
    like ``params.yaml`` itself (as ``dvc exp run -S key=value`` would)."""
    tree = as_dict(params)
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        node = tree
        for name in parents:
            if not isinstance(node.get(name), dict):
                raise ParamsError(f"{key}: {name} is not a section")
            node = node[name]
        node[leaf] = value
    return params_from_mapping(tree)


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
