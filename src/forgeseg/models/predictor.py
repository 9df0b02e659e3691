"""Run a trained network on full-size figures: probability maps and image scores.

The network sees the letterboxed figure; its outputs are mapped back to the figure's own
pixel grid so that every later step (instances, RLE, scoring) works at native resolution.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from forgeseg.config.sections import ModelConfig
from forgeseg.data.transforms import letterbox, to_tensor
from forgeseg.models import build_model
from forgeseg.models.checkpoint import load_checkpoint

__all__ = ["NetOutput", "Predictor"]


@dataclass
class NetOutput:
    """Network evidence for one figure.

    Attributes:
        prob: (H,W) float32 in [0,1], per-pixel probability of being copied or a source.
        image_score: probability from the image-level head that the figure is forged.
    """

    prob: np.ndarray
    image_score: float


class Predictor:
    """A checkpoint ready for inference on CPU or GPU."""

    def __init__(self, checkpoint: str | os.PathLike[str], device: str = "cpu") -> None:
        ckpt = load_checkpoint(checkpoint)
        self.size = int(ckpt["size"])
        self.model_cfg = dict(ckpt["model_cfg"])
        # Weights come from the checkpoint; never ask the encoder for its own.
        model = build_model(ModelConfig.from_mapping({**self.model_cfg, "encoder_weights": None}))
        model.load_state_dict(ckpt["state_dict"])
        self.model = model.to(device).eval()
        self.device = device

    @torch.no_grad()
    def predict(self, image: np.ndarray) -> NetOutput:
        """(H,W,3) uint8 figure -> :class:`NetOutput` on the figure's grid."""
        return self.predict_batch([image])[0]

    @torch.no_grad()
    def predict_batch(self, images: list[np.ndarray]) -> list[NetOutput]:
        boxes = [letterbox(im, self.size) for im in images]
        x = torch.stack([to_tensor(b) for b, _ in boxes]).to(self.device)
        out = self.model(x)
        probs = torch.sigmoid(out["mask"].float())[:, 0].cpu().numpy()
        scores = torch.sigmoid(out["image"].float()).cpu().numpy()
        return [
            NetOutput(prob=lb.unpad(p), image_score=float(s))
            for (_, lb), p, s in zip(boxes, probs, scores, strict=True)
        ]
