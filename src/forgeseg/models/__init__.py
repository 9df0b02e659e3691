"""Networks for copy-move segmentation: :func:`build_model` from the ``model`` params section.

Every model maps ``x (B, 3, S, S)`` float32, ImageNet-normalised (``forgeseg.data.transforms.
to_tensor``), S a multiple of 32, to ``{"mask": (B, 1, S, S) logits, "image": (B,) logits}``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from forgeseg.core.errors import DataError, ParamsError
from forgeseg.models.segmenter import CorrelationFusion, ForgerySegmenter, ImageHead
from forgeseg.models.selfcorr import MASK_VALUE, CorrelationResult, SelfCorrelation, exclusion_mask

__all__ = [
    "ARCHS",
    "DEFAULTS",
    "MASK_VALUE",
    "CorrelationFusion",
    "CorrelationResult",
    "ForgerySegmenter",
    "ImageHead",
    "SelfCorrelation",
    "build_model",
    "exclusion_mask",
    "load_encoder_weights",
]

ARCHS = ("unet", "selfcorr_unet")
CORR_STRIDES = (8, 16, 32)
DEFAULTS: dict[str, Any] = {
    "arch": "selfcorr_unet",
    "encoder": "resnet18",
    "encoder_weights": None,
    "corr_strides": [16],
    "corr_k": 16,
    "corr_exclude": 2,
    "decoder_channels": [256, 128, 64, 32, 16],
    "in_channels": 3,
}


def _int(cfg: Mapping[str, Any], key: str, minimum: int) -> int:
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParamsError(f"model.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _int_list(cfg: Mapping[str, Any], key: str) -> list[int]:
    value = cfg[key]
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise ParamsError(f"model.{key} must be a list of positive integers, got {value!r}")
    return list(value)


def _check(cfg: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ParamsError(
            f"model.{unknown[0]} is not a model parameter (known: {', '.join(DEFAULTS)})"
        )
    full = {**DEFAULTS, **{k: v for k, v in cfg.items() if v is not None or k == "encoder_weights"}}
    if full["arch"] not in ARCHS:
        raise ParamsError(f"model.arch must be one of {', '.join(ARCHS)}, got {full['arch']!r}")
    if not isinstance(full["encoder"], str) or not full["encoder"]:
        raise ParamsError(f"model.encoder must be an SMP encoder name, got {full['encoder']!r}")
    strides = _int_list(full, "corr_strides")
    bad = [s for s in strides if s not in CORR_STRIDES]
    if bad or (full["arch"] == "selfcorr_unet" and not strides):
        raise ParamsError(
            f"model.corr_strides must be a non-empty list from {list(CORR_STRIDES)}, "
            f"got {strides!r}"
        )
    full["corr_strides"] = strides
    _int(full, "corr_k", 1)
    _int(full, "corr_exclude", 0)
    _int(full, "in_channels", 1)
    dec = _int_list(full, "decoder_channels")
    if len(dec) != 5:
        raise ParamsError(f"model.decoder_channels must list 5 widths, got {dec!r}")
    full["decoder_channels"] = dec
    return full


def load_encoder_weights(encoder: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load a local encoder ``state_dict`` file (``torch.save(model.encoder.state_dict(), p)``).

    A whole-model state_dict also works: its ``encoder.`` entries are used. Raises
    :class:`DataError` naming the file when it cannot be read or does not fit the encoder.
    """
    p = Path(path)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or non-tensor files
        raise DataError(p, f"cannot read encoder weights: {err}") from None
    if (
        isinstance(state, Mapping)
        and "state_dict" in state
        and isinstance(state["state_dict"], Mapping)
    ):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise DataError(p, "encoder weights must be a state_dict (a mapping of names to tensors)")
    prefixed = {k[len("encoder.") :]: v for k, v in state.items() if k.startswith("encoder.")}
    if prefixed:
        state = prefixed
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0:3]
        raise DataError(p, f"weights do not fit this encoder: {' '.join(first)}") from None


def build_model(cfg: Mapping[str, Any] | None = None) -> nn.Module:
    """Build the network described by the ``model`` params section.

    Keys (all optional; defaults in :data:`DEFAULTS`): ``arch`` (``unet`` | ``selfcorr_unet``),
    ``encoder`` (any SMP encoder name), ``encoder_weights`` (``None`` or the path of a local
    encoder state_dict; nothing is ever downloaded), ``corr_strides`` (e.g. ``[16]`` or
    ``[16, 8]``), ``corr_k``, ``corr_exclude`` (cells), ``decoder_channels``, ``in_channels``.
    Raises :class:`ParamsError` naming the key for a bad value or an unknown key.
    """
    full = _check(dict(cfg or {}))
    weights = full["encoder_weights"]
    if weights is not None and not (
        isinstance(weights, str | os.PathLike) and Path(weights).is_file()
    ):
        raise ParamsError(
            f"model.encoder_weights={weights!r} is not a local file: forgeseg never downloads "
            "weights. Use null for random initialisation, or save an encoder once with "
            "torch.save(model.encoder.state_dict(), 'weights/encoder.pt') on a machine that "
            "has it and set model.encoder_weights to that path."
        )
    try:
        model = ForgerySegmenter(
            encoder=full["encoder"],
            corr_strides=full["corr_strides"] if full["arch"] == "selfcorr_unet" else (),
            corr_k=full["corr_k"],
            corr_exclude=full["corr_exclude"],
            decoder_channels=full["decoder_channels"],
            in_channels=full["in_channels"],
        )
    except KeyError as err:
        # SMP's message lists every encoder; the first sentence is enough.
        raise ParamsError(
            f"model.encoder={full['encoder']!r} is not an SMP encoder ({str(err).split(',')[0]})"
        ) from None
    if weights is not None:
        load_encoder_weights(model.encoder, weights)
    return model
