"""Settings of the figure-structure detector (``panels`` in ``params.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from forgeseg.config.build import Section, setting
from forgeseg.core.errors import ParamsError

__all__ = ["PANEL_METHODS", "PanelsConfig"]

# learned: the small network of forgeseg.panels.net, the classical detector where it finds
# nothing; classical: gutters from projection profiles and connected components only.
PANEL_METHODS = ("learned", "classical")


@dataclass(frozen=True)
class PanelsConfig(Section):
    KEY: ClassVar[str] = "panels"
    method: str = setting("learned", choices=PANEL_METHODS)
    size: int = setting(256, ge=64, le=2048)  # network input side (letterboxed)
    channels: tuple[int, ...] = setting((16, 24, 32, 48, 64), ge=4, le=512)  # per level
    epochs: int = setting(5, ge=1)
    n_train: int = setting(480, ge=1)  # generated training figures
    n_val: int = setting(80, ge=1)  # generated val figures (the stage's metrics)
    compound_share: float = setting(0.7, ge=0.0, le=1.0)  # share of multi-panel figures
    batch_size: int = setting(8, ge=1)
    lr: float = setting(0.003, gt=0.0, le=10.0)
    weight_decay: float = setting(0.0001, ge=0.0, le=10.0)
    seed: int = setting(3, ge=0)  # the generated figures (val draws from seed + 1)
    core_threshold: float = setting(0.5, gt=0.0, lt=1.0)  # panel core map -> components
    text_threshold: float = setting(0.5, gt=0.0, lt=1.0)  # text map -> text mask
    # Components under this share of the figure are specks, not panels (real panels are
    # at least a few percent of a compound figure).
    min_panel_fraction: float = setting(0.004, ge=0.0, le=1.0)

    def check(self) -> None:
        levels = len(self.channels)
        if not 2 <= levels <= 6:
            raise ParamsError(f"panels.channels must list 2 to 6 widths, got {list(self.channels)}")
        step = 2**levels
        if self.size % step:
            raise ParamsError(
                f"panels.size must be a multiple of {step} for {levels} levels, got {self.size}"
            )
