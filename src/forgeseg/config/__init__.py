"""The params tree: every section of ``params.yaml`` as a frozen, checked dataclass."""

from forgeseg.config.build import Section, as_dict
from forgeseg.config.learned import LearnedConfig
from forgeseg.config.load import load_params, override, params_from_mapping, resolve_device
from forgeseg.config.matchers import DenseConfig, PairsConfig, SiftConfig
from forgeseg.config.panels import PANEL_METHODS, PanelsConfig
from forgeseg.config.sections import (
    BaseConfig,
    DataConfig,
    DetectConfig,
    EdaConfig,
    EvaluateConfig,
    LossConfig,
    ModelConfig,
    OverlayConfig,
    Params,
    SynthConfig,
    TrainConfig,
)

__all__ = [
    "PANEL_METHODS",
    "BaseConfig",
    "DataConfig",
    "DenseConfig",
    "DetectConfig",
    "EdaConfig",
    "EvaluateConfig",
    "LearnedConfig",
    "LossConfig",
    "ModelConfig",
    "OverlayConfig",
    "PairsConfig",
    "PanelsConfig",
    "Params",
    "Section",
    "SiftConfig",
    "SynthConfig",
    "TrainConfig",
    "as_dict",
    "load_params",
    "override",
    "params_from_mapping",
    "resolve_device",
]
