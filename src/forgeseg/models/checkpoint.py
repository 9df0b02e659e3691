"""Checkpoint files: what a trained model is, saved so that ``weights_only=True`` loads it.

A checkpoint holds only tensors and plain Python values (no pickled classes), so loading
one from an untrusted source cannot run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from forgeseg.core.atomic import atomic_path
from forgeseg.core.errors import DataError

__all__ = ["FORMAT", "load_checkpoint", "save_checkpoint"]

FORMAT = "forgeseg-checkpoint-v1"


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` (tensors and plain values) atomically, tagged with :data:`FORMAT`."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **payload}, tmp)


def load_checkpoint(path: str | os.PathLike[str], map_location: str = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Raises:
        DataError: the file is missing, not a torch file, or not a forgeseg checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "checkpoint not found (run `dvc repro train` or pass --model)")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise DataError(p, f"not a loadable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise DataError(p, f"not a forgeseg checkpoint (expected format {FORMAT!r})")
    for key in ("model_cfg", "size", "state_dict"):
        if key not in ckpt:
            raise DataError(p, f"checkpoint lacks {key!r}")
    return ckpt
