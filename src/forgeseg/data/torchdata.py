"""Torch datasets: figures from an index file, and figures generated on the fly.

Both yield the same item: the letterboxed figure as a normalised tensor, the union of its
instance masks as the pixel target, the valid (non-padding) region, the image label and,
for scoring, the instance masks at input resolution. Every random choice comes from a
generator seeded by (seed, epoch, index), so a run is reproducible whatever the number of
loader processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from forgeseg.core.imageio import read_image, read_mask
from forgeseg.data.layout import Record
from forgeseg.data.transforms import augmenter, letterbox, to_tensor

__all__ = ["FigureDataset", "SyntheticDataset", "collate", "to_rgb"]


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H,W), (H,W,1), (H,W,3) or (H,W,4) uint8 -> (H,W,3) uint8, as the reader decodes files.

    Alpha is composited on white: figures with transparency are drawn on white pages.
    """
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        rgb = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.round(rgb).astype(np.uint8)
    return image


def _item(
    image: np.ndarray, masks: np.ndarray, size: int, aug_seed: int | None, index: int
) -> dict[str, Any]:
    """Build one training/validation item from an (H,W,3) figure and (N,H,W) masks."""
    boxed, lb = letterbox(image, size)
    inst = lb.apply_masks(masks) if masks.shape[0] else np.zeros((0, size, size), np.float32)
    union = inst.max(axis=0) if inst.shape[0] else np.zeros((size, size), np.float32)
    valid = lb.valid().astype(np.uint8)
    if aug_seed is not None:
        # Instances follow the union through the same geometric transform via `masks`.
        out = augmenter(aug_seed)(image=boxed, mask=union, valid=valid, masks=list(inst))
        boxed, union, valid = out["image"], out["mask"], out["valid"]
        inst = np.stack(out["masks"]) if len(out["masks"]) else inst
    return {
        "image": to_tensor(boxed),
        "mask": torch.from_numpy(np.ascontiguousarray(union, np.float32))[None],
        "valid": torch.from_numpy(np.ascontiguousarray(valid, np.float32))[None],
        "label": torch.tensor(float(masks.shape[0] > 0)),
        "instances": torch.from_numpy(np.ascontiguousarray(inst) >= 0.5),
        "index": index,
    }


class FigureDataset(Dataset):
    """Figures listed in an index file (see :mod:`forgeseg.data.layout`)."""

    def __init__(
        self, records: Sequence[Record], size: int, *, augment: bool = False, seed: int = 0
    ) -> None:
        self.records = list(records)
        self.size = size
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        image = read_image(rec.image)
        if rec.mask:
            masks = read_mask(rec.mask, shape=image.shape[:2])
        else:
            masks = np.zeros((0, *image.shape[:2]), bool)
        aug_seed = _seed(self.seed, self.epoch, index) if self.augment else None
        return _item(image, masks, self.size, aug_seed, index)


class SyntheticDataset(Dataset):
    """``length`` figures generated on the fly by :func:`forgeseg.synth.make_case`.

    Half are forged, half authentic; ``reuse_fraction`` of them are compound figures with
    reuse between panels (as in the generated dataset). Each epoch draws new figures, so a
    long GPU run sees tens of thousands of distinct figures without any of them on disk.
    """

    def __init__(
        self,
        length: int,
        size: int,
        *,
        seed: int = 0,
        min_side: int = 128,
        max_side: int = 512,
        augment: bool = True,
        reuse_fraction: float = 0.0,
    ) -> None:
        self.length = length
        self.size = size
        self.seed = seed
        self.min_side = min_side
        self.max_side = max_side
        self.augment = augment
        self.reuse_fraction = reuse_fraction
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        from forgeseg.synth import make_case

        # A separate stream from the index-file data: (seed, epoch, index, 1).
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        forged = bool(rng.random() < 0.5)
        case = make_case(
            rng,
            forged=forged,
            with_authentic=not forged,
            min_side=self.min_side,
            max_side=self.max_side,
            reuse_fraction=self.reuse_fraction,
        )
        if forged:
            image, masks = case.forged, case.masks
        else:
            image = case.authentic
            masks = np.zeros((0, *image.shape[:2]), bool)
        aug_seed = _seed(self.seed, self.epoch, index) if self.augment else None
        return _item(to_rgb(image), masks.astype(bool), self.size, aug_seed, index)


def _seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors; keep the variable-length instance masks as a list."""
    out: dict[str, Any] = {
        key: torch.stack([it[key] for it in items]) for key in ("image", "mask", "valid", "label")
    }
    out["instances"] = [it["instances"] for it in items]
    out["index"] = [it["index"] for it in items]
    return out
