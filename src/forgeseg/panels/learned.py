"""The learned figure-structure detector: :class:`PanelDetector` turns a figure into a
:class:`~forgeseg.panels.structure.Structure` with the network of :mod:`forgeseg.panels.net`.

Panels are the connected components of the core map, each grown back by the core's shrink
(:data:`~forgeseg.panels.net.SHRINK`), their class the mean class probability over the
component; the text mask is the text map over a threshold, on the figure's own grid. When
the checkpoint is missing, or the network finds no panel (a kind of figure it never saw),
the classical detector answers instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from forgeseg.config.build import as_dict
from forgeseg.config.panels import PanelsConfig
from forgeseg.core.atomic import atomic_path
from forgeseg.core.errors import DataError
from forgeseg.data.transforms import Letterbox, letterbox
from forgeseg.panels.classical import find_panels
from forgeseg.panels.net import CORE, N_MAPS, SHRINK, TEXT, StructureNet
from forgeseg.panels.structure import PANEL_CLASSES, Panel, Structure

__all__ = [
    "CHECKPOINT_KIND",
    "PanelDetector",
    "decode",
    "load_structure_net",
    "prepare",
    "save_structure_net",
    "to_rgb",
]

log = logging.getLogger(__name__)

# Its own tag, not forgeseg.models' checkpoint: importing that package would make the panels
# stage depend on (and retrain after every edit of) the forgery networks.
CHECKPOINT_KIND = "forgeseg-panels-v1"
_MEAN, _STD = 0.5, 0.25


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H,W) grey, (H,W,3) RGB or (H,W,4) RGBA uint8 -> (H,W,3) uint8 RGB."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return np.ascontiguousarray(image[:, :, :3])
    raise ValueError(f"expected an (H,W), (H,W,3) or (H,W,4) image, got shape {image.shape}")


def prepare(image: np.ndarray, size: int) -> tuple[torch.Tensor, Letterbox]:
    """A figure (H,W[,C]) uint8 -> the network input (4,S,S) float32 and its letterbox."""
    boxed, lb = letterbox(to_rgb(image), size)
    x = torch.from_numpy(boxed).permute(2, 0, 1).float().div_(255.0).sub_(_MEAN).div_(_STD)
    valid = torch.from_numpy(lb.valid()).float()[None]
    return torch.cat([x, valid], dim=0), lb


def _grow(x: int, w: int, lb_offset: int, scale: float, limit: int) -> tuple[int, int]:
    """A core's extent [x, x + w) on the input grid -> the panel's [lo, hi) on the figure's."""
    centre, full = x + w / 2.0, w / (1.0 - 2.0 * SHRINK)
    lo = (centre - full / 2.0 - lb_offset) / scale
    hi = (centre + full / 2.0 - lb_offset) / scale
    return int(np.clip(round(lo), 0, limit)), int(np.clip(round(hi), 0, limit))


def decode(
    logits: torch.Tensor, lb: Letterbox, cfg: PanelsConfig
) -> tuple[tuple[Panel, ...], np.ndarray]:
    """Network output (3 + n_classes, S, S) for one figure -> (panels in reading order, the
    (H, W) bool text mask on the figure's grid). Panels may be empty."""
    probs = torch.sigmoid(logits[:N_MAPS].float()).cpu().numpy()
    cls_prob = torch.softmax(logits[N_MAPS:].float(), dim=0).cpu().numpy()
    core = (probs[CORE] > cfg.core_threshold) & lb.valid()
    # The smallest panel kept, as its core's area on the input grid.
    min_area = cfg.min_panel_fraction * lb.inner_h * lb.inner_w * (1.0 - 2.0 * SHRINK) ** 2
    n, labels, stats, _ = cv2.connectedComponentsWithStats(core.astype(np.uint8), connectivity=4)
    panels = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < max(min_area, 2.0):
            continue
        x0, x1 = _grow(x, w, lb.left, lb.scale, lb.width)
        y0, y1 = _grow(y, h, lb.top, lb.scale, lb.height)
        if x1 <= x0 or y1 <= y0:
            continue
        comp = labels == i
        cls = PANEL_CLASSES[int(cls_prob[:, comp].mean(axis=1).argmax())]
        panels.append(Panel((x0, y0, x1, y1), cls, round(float(probs[CORE][comp].mean()), 4)))
    panels.sort(key=lambda p: (p.box[1], p.box[0]))
    text = lb.unpad(probs[TEXT]) > cfg.text_threshold
    return tuple(panels), text


def save_structure_net(
    path: str | os.PathLike[str], model: StructureNet, cfg: PanelsConfig, extra: dict[str, Any]
) -> None:
    """Write the network atomically so that ``torch.load(weights_only=True)`` reads it:
    tensors and plain values only, no pickled classes."""
    payload = {
        "format": CHECKPOINT_KIND,
        "model_cfg": {"channels": list(model.channels), "n_classes": model.n_classes},
        "size": cfg.size,
        "panels_cfg": as_dict(cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_structure_net(path: str | os.PathLike[str]) -> tuple[StructureNet, int]:
    """(the network in eval mode, its input side) from a checkpoint of
    :func:`save_structure_net`.

    Raises:
        DataError: the file is missing, unreadable, or not a structure-net checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "panel checkpoint not found (run `dvc repro panels`)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise DataError(p, f"not a loadable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_KIND:
        raise DataError(p, f"not a panel-structure checkpoint (expected {CHECKPOINT_KIND!r})")
    try:
        mc = ckpt["model_cfg"]
        model = StructureNet(mc["channels"], mc["n_classes"])
        model.load_state_dict(ckpt["state_dict"])
        size = int(ckpt["size"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise DataError(p, f"panel checkpoint is incomplete or does not fit ({exc})") from None
    return model.eval(), size


class PanelDetector:
    """``PanelDetector(checkpoint, cfg).find(image) -> Structure``.

    With ``cfg.method == "classical"``, or when ``checkpoint`` does not exist, every figure
    goes to the classical detector (logged once). A figure in which the network finds no
    panel goes there too.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None,
        cfg: PanelsConfig | None = None,
        device: str = "cpu",
    ) -> None:
        self.cfg = cfg if cfg is not None else PanelsConfig()
        self.device = device
        self.model: StructureNet | None = None
        self.size = self.cfg.size
        self.last_fallback = False  # whether the last figure went to the classical detector
        if self.cfg.method == "classical":
            log.info("panels.method is classical: the learned detector is not used")
        elif checkpoint is None:
            log.debug("no panel network named: the classical panel cut is used")
        elif not Path(checkpoint).is_file():
            log.info(
                "no panel checkpoint at %s: using the classical detector (run the panels "
                "stage to train one)",
                checkpoint,
            )
        else:
            self.model, self.size = load_structure_net(checkpoint)
            self.model.to(device)

    @property
    def learned(self) -> bool:
        """True when the network answers (the classical detector only backs it up)."""
        return self.model is not None

    def find(self, image: np.ndarray) -> Structure:
        """The structure of a figure (H,W[,C]) uint8: panels and (H,W) bool text mask."""
        self.last_fallback = self.model is None
        if self.model is None:
            return _classical(image)
        x, lb = prepare(image, self.size)
        with torch.inference_mode():
            logits = self.model(x[None].to(self.device))[0]
        panels, text = decode(logits, lb, self.cfg)
        if not panels:
            log.debug("the network found no panel: classical detector for this figure")
            self.last_fallback = True
            return _classical(image)
        return Structure(panels, text)


def _classical(image: np.ndarray) -> Structure:
    return find_panels(to_rgb(image))
