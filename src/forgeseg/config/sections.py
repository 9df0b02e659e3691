"""The sections of ``params.yaml`` as typed settings; every default is written here once.

``params.yaml`` lists the values a run uses (DVC tracks them there); a key left out of it
takes the default below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from forgeseg.config.build import Section, setting
from forgeseg.config.learned import LearnedConfig
from forgeseg.config.matchers import DenseConfig, PairsConfig, SiftConfig
from forgeseg.config.panels import PanelsConfig
from forgeseg.config.report import ReportConfig
from forgeseg.core.errors import ParamsError

__all__ = [
    "ARCHS",
    "CORR_STRIDES",
    "DETECT_METHODS",
    "BaseConfig",
    "DataConfig",
    "DetectConfig",
    "EdaConfig",
    "EvaluateConfig",
    "LossConfig",
    "ModelConfig",
    "OverlayConfig",
    "Params",
    "SynthConfig",
    "TrainConfig",
]

ARCHS = ("unet", "selfcorr_unet")
CORR_STRIDES = (8, 16, 32)
# authentic: the floor; network: the segmentation net alone; geometric: the matchers alone;
# hybrid: verified geometry first, else the network behind its gate.
# learned: every candidate (each matcher's, the network's) scored by boosted trees trained
# on generated figures (forgeseg.decision.learned); the others are hand-set rules.
DETECT_METHODS = ("authentic", "network", "geometric", "hybrid", "learned")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class BaseConfig(Section):
    KEY: ClassVar[str] = "base"
    seed: int = setting(42, ge=0)
    device: str = "auto"  # auto (cuda, then mps, then cpu) | cpu | cuda | cuda:N | mps
    workers: int = setting(2, ge=1, le=256)  # processes for generating / validating figures

    def check(self) -> None:
        if not _DEVICE.match(self.device.strip()):
            raise ParamsError(
                f"base.device must be auto, cpu, cuda[:N] or mps; got {self.device!r}"
            )


@dataclass(frozen=True)
class DataConfig(Section):
    KEY: ClassVar[str] = "data"
    root: str = "data/synth"  # a folder in the Kaggle layout
    strict: bool = False  # true: stop on any bad file; false: skip it and record why
    val_fraction: float = setting(0.25, ge=0.0, le=1.0)


@dataclass(frozen=True)
class SynthConfig(Section):
    KEY: ClassVar[str] = "synth"
    n: int = setting(160, ge=1)  # train case_ids
    n_test: int = setting(60, ge=0)
    n_supplemental: int = setting(4, ge=0)
    min_side: int = setting(128, ge=32)
    max_side: int = setting(640, ge=32, le=8192)
    seed: int = setting(1, ge=0)
    # Share of cases that are compound figures with reuse between panels (the bulk of the
    # real test set); their authentic figures share the layouts, panels from distinct sources.
    reuse_fraction: float = setting(0.5, ge=0.0, le=1.0)

    def check(self) -> None:
        if self.min_side > self.max_side:
            raise ParamsError("synth.min_side must not exceed synth.max_side")


@dataclass(frozen=True)
class EdaConfig(Section):
    KEY: ClassVar[str] = "eda"
    per_kind: int = setting(2, ge=0)  # figures of each kind in the contact sheet


@dataclass(frozen=True)
class ModelConfig(Section):
    KEY: ClassVar[str] = "model"
    arch: str = setting("selfcorr_unet", choices=ARCHS)
    encoder: str = "resnet18"  # any segmentation_models_pytorch encoder
    # null (random init), a weights package (forgeseg.models.pretrained.WEIGHT_PACKAGES) or
    # the path of a local encoder state_dict; never downloaded.
    encoder_weights: str | None = None
    freeze_encoder: bool = False  # train only the correlation, decoder and image head
    corr_strides: tuple[int, ...] = setting((16,), choices=CORR_STRIDES)
    corr_k: int = setting(16, ge=1)
    corr_exclude: int = setting(2, ge=0)
    decoder_channels: tuple[int, ...] = setting((256, 128, 64, 32, 16), ge=1)
    in_channels: int = setting(3, ge=1)

    def check(self) -> None:
        if not self.encoder:
            raise ParamsError("model.encoder must be an SMP encoder name, got ''")
        if self.arch == "selfcorr_unet" and not self.corr_strides:
            raise ParamsError(
                f"model.corr_strides must be a non-empty list from {list(CORR_STRIDES)}, got []"
            )
        if len(self.decoder_channels) != 5:
            raise ParamsError(
                f"model.decoder_channels must list 5 widths, got {list(self.decoder_channels)}"
            )


@dataclass(frozen=True)
class LossConfig(Section):
    KEY: ClassVar[str] = "train.loss"
    name: str = setting("bce_dice", choices=("bce_dice", "focal_dice"))
    bce_weight: float = setting(0.5, ge=0)  # weight of the pixel BCE (or focal) term
    dice_weight: float = setting(0.5, ge=0)
    image_weight: float = setting(0.2, ge=0)
    focal_gamma: float = setting(2.0, ge=0)
    pos_weight: float | None = setting(None, gt=0)  # BCE weight of forged pixels


@dataclass(frozen=True)
class TrainConfig(Section):
    KEY: ClassVar[str] = "train"
    size: int = setting(256, ge=64, le=4096)  # network input side (letterboxed)
    epochs: int = setting(3, ge=1)
    batch_size: int = setting(8, ge=1)
    lr: float = setting(0.001, ge=0.0, le=10.0)
    weight_decay: float = setting(0.0001, ge=0.0, le=10.0)
    synthetic_per_epoch: int = setting(64, ge=0)  # figures generated on the fly each epoch
    synthetic_max_side: int = setting(512, ge=32)
    num_workers: int = setting(0, ge=0, le=256)  # DataLoader processes
    amp: bool = True  # mixed precision, CUDA only
    channels_last: bool = True  # CUDA only
    gpus: int = setting(1, ge=1, le=64)  # processes for torchrun (DDP when > 1)
    loss: LossConfig = field(default_factory=LossConfig)

    def check(self) -> None:
        if self.size % 32:
            raise ParamsError(f"train.size must be a multiple of 32, got {self.size}")


@dataclass(frozen=True)
class DetectConfig(Section):
    KEY: ClassVar[str] = "detect"
    method: str = setting("hybrid", choices=DETECT_METHODS)
    min_area: int = setting(48, ge=0)  # smallest instance kept, full-size figure pixels
    # ... and as a share of the figure: real forged regions cover 0.2-7% of a figure
    # (COMPETITION.md), so a "copy" of a few dozen pixels is a glyph or a scale bar.
    min_area_fraction: float = setting(0.001, ge=0.0, le=0.5)
    matchers: tuple[str, ...] = ("sift", "dense")  # names in forgeseg.matchers.REGISTRY
    sift: SiftConfig = field(default_factory=SiftConfig)
    dense: DenseConfig = field(default_factory=DenseConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)  # panel against panel
    # The figure-structure network the panel matchers cut figures with (the panels stage
    # trains it); null, or a missing file: the classical gutter cut.
    panels_model: str | None = None


@dataclass(frozen=True)
class EvaluateConfig(Section):
    KEY: ClassVar[str] = "evaluate"
    # The calibration grids: pixel thresholds, network gates and floors on the geometric
    # support (verified SIFT inliers plus matched dense blocks).
    thresholds: tuple[float, ...] = setting((0.3, 0.4, 0.5, 0.6, 0.7, 0.8), ge=0.0, le=1.0)
    gates: tuple[float, ...] = setting((0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), ge=0.0, le=1.0)
    min_support: tuple[int, ...] = setting((0, 8, 12, 20, 30, 45, 60), ge=0)
    # ... and the learned decision's score a candidate needs to be kept.
    accepts: tuple[float, ...] = setting((0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), gt=0.0, lt=1.0)

    def check(self) -> None:
        for name in ("thresholds", "gates", "min_support", "accepts"):
            if not getattr(self, name):
                raise ParamsError(f"evaluate.{name} must list at least one value")


@dataclass(frozen=True)
class OverlayConfig(Section):
    KEY: ClassVar[str] = "overlay"
    n: int = setting(12, ge=0, le=10_000)  # figures rendered as overlays


@dataclass(frozen=True)
class Params(Section):
    """All of ``params.yaml``."""

    KEY: ClassVar[str] = ""
    base: BaseConfig = field(default_factory=BaseConfig)
    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    eda: EdaConfig = field(default_factory=EdaConfig)
    panels: PanelsConfig = field(default_factory=PanelsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    learned: LearnedConfig = field(default_factory=LearnedConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    overlay: OverlayConfig = field(default_factory=OverlayConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
