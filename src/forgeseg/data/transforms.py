"""Letterbox resizing, augmentations and tensor conversion for the networks.

Self-correlation needs the whole figure in one view (tiling would separate a source from
its copy), so every figure is resized, aspect kept, into a square of side ``size`` and
padded; :class:`Letterbox` maps network outputs back onto the original pixel grid.
Augmentations are global (flips, rot90, photometric, JPEG): they keep a copy a copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import albumentations as A
import cv2
import numpy as np
import torch

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Letterbox",
    "augmenter",
    "denormalize",
    "letterbox",
    "to_tensor",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_PAD_VALUE = 0  # black padding; the loss ignores it through the `valid` mask


@dataclass(frozen=True)
class Letterbox:
    """Where a figure of ``height`` x ``width`` sits inside the ``size`` x ``size`` input."""

    height: int
    width: int
    size: int
    scale: float
    top: int
    left: int
    inner_h: int
    inner_w: int

    def apply_masks(self, masks: np.ndarray) -> np.ndarray:
        """(N,H,W) bool -> (N,S,S) float32 coverage in [0, 1] (area-averaged, so a region
        thinner than one input pixel still leaves a trace instead of vanishing)."""
        out = np.zeros((masks.shape[0], self.size, self.size), np.float32)
        for i, m in enumerate(masks):
            small = cv2.resize(
                m.astype(np.float32), (self.inner_w, self.inner_h), interpolation=cv2.INTER_AREA
            )
            out[i, self.top : self.top + self.inner_h, self.left : self.left + self.inner_w] = small
        return out

    def valid(self) -> np.ndarray:
        """(S,S) bool: True on the figure, False on the padding."""
        v = np.zeros((self.size, self.size), bool)
        v[self.top : self.top + self.inner_h, self.left : self.left + self.inner_w] = True
        return v

    def unpad(self, values: np.ndarray) -> np.ndarray:
        """(S,S) float map on the input grid -> (H,W) float32 on the figure's grid."""
        crop = values[self.top : self.top + self.inner_h, self.left : self.left + self.inner_w]
        return cv2.resize(
            crop.astype(np.float32), (self.width, self.height), interpolation=cv2.INTER_LINEAR
        )


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """Resize an (H,W,3) uint8 figure, aspect kept, into a padded (S,S,3) uint8 square."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"letterbox expects an (H,W,3) image, got shape {image.shape}")
    h, w = image.shape[:2]
    scale = size / max(h, w)
    inner_h, inner_w = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (inner_w, inner_h), interpolation=interp)
    top, left = (size - inner_h) // 2, (size - inner_w) // 2
    out = np.full((size, size, 3), _PAD_VALUE, np.uint8)
    out[top : top + inner_h, left : left + inner_w] = resized
    return out, Letterbox(h, w, size, scale, top, left, inner_h, inner_w)


def augmenter(seed: int | None = None) -> A.Compose:
    """Training augmentations that keep the copy-move relation intact.

    Geometric transforms act on the whole figure, so source and copy move together.
    JPEG, noise and blur imitate what journals and competitors' pipelines do to figures.
    """
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.2),
            A.RandomRotate90(p=0.3),
            A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.4),
            A.ToGray(p=0.1),
            A.GaussNoise(std_range=(0.01, 0.04), p=0.2),
            A.GaussianBlur(blur_limit=(3, 3), p=0.1),
            A.ImageCompression(quality_range=(60, 95), p=0.3),
        ],
        additional_targets={"valid": "mask"},
        seed=seed,
    )


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(S,S,3) uint8 -> (3,S,S) float32, ImageNet-normalised (what SMP encoders expect)."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


def denormalize(x: torch.Tensor) -> np.ndarray:
    """(3,S,S) normalised float -> (S,S,3) uint8, the inverse of :func:`to_tensor`."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(3, 1, 1)
    img = ((x.float() * std + mean).clamp(0, 1) * 255.0).round().byte()
    return img.permute(1, 2, 0).cpu().numpy()
