"""Training losses: pixel BCE (or focal) + soft Dice on forged figures + image-level BCE.

Forged pixels are 0.2-8% of a figure, and the official score gives 0 for any mask on an
authentic figure, so the pieces have separate jobs:

* the pixel term (BCE or focal) sees every figure, authentic ones included: it is the only
  term that pushes predictions on authentic figures down;
* the soft Dice term is computed per forged figure (one whose target mask has a positive
  pixel) and averaged over them, so a small forgery weighs as much as a large one; a batch
  without forged figures has no Dice term at all (as smp's ``DiceLoss`` effectively does);
* the image term trains the model's ``"image"`` head to say "forged" or "authentic".

An optional ``valid`` mask (B, 1, S, S), 1 inside the figure and 0 on letterbox padding,
removes the padding from every pixel term.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from forgeseg.config.sections import LossConfig

__all__ = ["ForgeryLoss", "build_loss", "focal_loss", "soft_dice_loss"]

# Dice smoothing, in pixels: keeps the ratio finite and its gradient bounded when both the
# prediction and the target are nearly empty.
_SMOOTH = 1.0


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float,
    pos_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-element sigmoid focal loss (Lin et al. 2017), same shape as ``logits``.

    ``(1 - p_t) ** gamma * BCE``: confidently right pixels (most of the background) fade out.
    """
    bce = F.binary_cross_entropy_with_logits(
        logits, target, pos_weight=pos_weight, reduction="none"
    )
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    return (1 - p_t).pow(gamma) * bce


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor | None:
    """Mean over forged figures of ``1 - soft Dice``; ``None`` when no figure is forged.

    ``logits``, ``target``, ``valid``: (B, 1, S, S); a figure counts as forged when its
    (valid) target has a positive pixel.
    """
    prob = torch.sigmoid(logits)
    if valid is not None:
        prob = prob * valid
        target = target * valid
    dims = tuple(range(1, target.ndim))
    forged = target.sum(dim=dims) > 0
    if not bool(forged.any()):
        return None
    prob, target = prob[forged], target[forged]
    inter = (prob * target).sum(dim=dims)
    denom = prob.sum(dim=dims) + target.sum(dim=dims)
    dice = (2 * inter + _SMOOTH) / (denom + _SMOOTH)
    return (1 - dice).mean()


class ForgeryLoss:
    """``loss(outputs, mask, label, valid=None) -> (total, parts)``.

    Args (call): ``outputs`` the model's dict (``"mask"`` (B,1,S,S) logits, ``"image"`` (B,)
    logits); ``mask`` (B,1,S,S) float 0/1 target; ``label`` (B,) float 0/1 (1 = forged);
    ``valid`` optional (B,1,S,S) float 0/1, 0 on padding. All terms are computed in float32,
    also under autocast. ``parts`` holds floats for logging: ``bce`` or ``focal``, ``dice``
    (only when the batch has a forged figure), ``image`` (when ``image_weight > 0``), and
    ``total``.
    """

    def __init__(
        self,
        name: str = "bce_dice",
        bce_weight: float = 0.5,
        dice_weight: float = 0.5,
        image_weight: float = 0.2,
        focal_gamma: float = 2.0,
        pos_weight: float | None = None,
    ) -> None:
        self.name = name
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.image_weight = image_weight
        self.focal_gamma = focal_gamma
        self.pos_weight = pos_weight

    def __call__(
        self,
        outputs: Mapping[str, torch.Tensor],
        mask: torch.Tensor,
        label: torch.Tensor,
        valid: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        logits = outputs["mask"].float()
        target = mask.float()
        if logits.shape != target.shape:
            raise ValueError(
                f"mask logits {tuple(logits.shape)} and target {tuple(target.shape)} differ"
            )
        weight = torch.ones_like(target) if valid is None else valid.float().expand_as(target)
        pos_weight = (
            None
            if self.pos_weight is None
            else torch.tensor(self.pos_weight, dtype=logits.dtype, device=logits.device)
        )
        parts: dict[str, torch.Tensor] = {}
        n_valid = weight.sum().clamp_min(1.0)
        if self.name == "focal_dice":
            per_pixel = focal_loss(logits, target, self.focal_gamma, pos_weight)
            parts["focal"] = (per_pixel * weight).sum() / n_valid
        else:
            per_pixel = F.binary_cross_entropy_with_logits(
                logits, target, pos_weight=pos_weight, reduction="none"
            )
            parts["bce"] = (per_pixel * weight).sum() / n_valid
        total = self.bce_weight * next(iter(parts.values()))

        dice = soft_dice_loss(logits, target, None if valid is None else weight)
        if dice is not None:
            parts["dice"] = dice
            total = total + self.dice_weight * dice
        if self.image_weight > 0:
            image_logits = outputs["image"].float().reshape(-1)
            parts["image"] = F.binary_cross_entropy_with_logits(
                image_logits, label.float().reshape(-1).to(image_logits.device)
            )
            total = total + self.image_weight * parts["image"]
        logged = {k: float(v.detach()) for k, v in parts.items()}
        logged["total"] = float(total.detach())
        return total, logged


def build_loss(cfg: LossConfig | Mapping[str, object] | None = None) -> ForgeryLoss:
    """Build the loss from the ``train.loss`` params section (:class:`LossConfig`, or a
    mapping of its keys, checked the same way)."""
    if not isinstance(cfg, LossConfig):
        cfg = LossConfig.from_mapping(cfg)
    return ForgeryLoss(
        name=cfg.name,
        pos_weight=cfg.pos_weight,
        bce_weight=cfg.bce_weight,
        dice_weight=cfg.dice_weight,
        image_weight=cfg.image_weight,
        focal_gamma=cfg.focal_gamma,
    )
