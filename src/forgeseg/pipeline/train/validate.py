"""Per-epoch validation: loss, pixel Dice/IoU and oF1 at the network's input resolution."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

__all__ = ["validate"]


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loader: DataLoader,
    loss_fn: Any,
    device: str,
    *,
    amp_dtype: torch.dtype | None = None,
    threshold: float = 0.5,
    gate: float = 0.5,
    min_area: int = 16,
    progress: bool = False,
) -> dict[str, float]:
    """Loss, pixel Dice/IoU (pooled over forged figures) and oF1 at input resolution.

    oF1 here uses fixed post-processing (``threshold``, ``gate``); the evaluate stage
    calibrates both on full-resolution figures. It tracks training progress, no more.
    """
    from tqdm import tqdm

    model.eval()
    tot_loss, n_batches = 0.0, 0
    counts = np.zeros(3)  # tp, fp, fn over forged figures
    scores: list[float] = []
    for batch in tqdm(loader, desc="validate", leave=False, disable=not progress):
        x = batch["image"].to(device)
        y = batch["mask"].to(device)
        valid = batch["valid"].to(device)
        label = batch["label"].to(device)
        with torch.autocast(device.split(":")[0], dtype=amp_dtype, enabled=amp_dtype is not None):
            out = model(x)
            loss, _ = loss_fn(out, y, label, valid)
        tot_loss += float(loss)
        n_batches += 1
        prob = torch.sigmoid(out["mask"].float()) * valid
        counts += _pixel_counts(prob >= threshold, y >= 0.5, label > 0.5)
        img_p = torch.sigmoid(out["image"].float())
        scores += _batch_of1(batch, x, prob, img_p, threshold, gate, min_area)
    tp, fp, fn = (float(c) for c in counts)
    return {
        "loss": tot_loss / max(n_batches, 1),
        "dice": 2 * tp / max(2 * tp + fp + fn, 1.0),
        "iou": tp / max(tp + fp + fn, 1.0),
        "of1": float(np.mean(scores)) if scores else 0.0,
    }


def _pixel_counts(pred: torch.Tensor, truth: torch.Tensor, forged: torch.Tensor) -> np.ndarray:
    return np.array(
        [
            float((pred & truth)[forged].sum()),
            float((pred & ~truth)[forged].sum()),
            float((~pred & truth)[forged].sum()),
        ]
    )


def _batch_of1(
    batch: dict[str, Any],
    x: torch.Tensor,
    prob: torch.Tensor,
    img_p: torch.Tensor,
    threshold: float,
    gate: float,
    min_area: int,
) -> list[float]:
    from forgeseg.data.transforms import denormalize
    from forgeseg.decision.instances import build_instances
    from forgeseg.scoring.score import of1_image

    scores = []
    for i in range(x.shape[0]):
        true_inst = batch["instances"][i].numpy()
        if float(img_p[i]) < gate:
            pred_inst = np.zeros((0, *true_inst.shape[1:]), bool)
        else:
            pred_inst = build_instances(
                prob[i, 0].cpu().numpy(), denormalize(x[i]), threshold=threshold, min_area=min_area
            )
        scores.append(of1_image(pred_inst, true_inst))
    return scores
