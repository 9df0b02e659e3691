"""Training the structure net on generated figures: per-pixel targets from the truth boxes,
the loss, and the loop (deterministic on CPU for a given seed).

A sample is a figure (H,W[,C]) uint8 and its true :class:`Structure`. Each is letterboxed
once into uint8 arrays (about 0.4 MB per figure at 256 px), so an epoch costs only the
network's forward and backward passes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from forgeseg.config.panels import PanelsConfig
from forgeseg.data.transforms import Letterbox
from forgeseg.panels.learned import prepare
from forgeseg.panels.net import CORE, INTERIOR, N_MAPS, SHRINK, TEXT, StructureNet
from forgeseg.panels.structure import PANEL_CLASSES, Panel, Structure
from forgeseg.synth.case import KIND_WEIGHTS, make_case

__all__ = [
    "Encoded",
    "encode",
    "fit",
    "generate_samples",
    "structure_loss",
    "targets",
    "truth_from_rows",
]

log = logging.getLogger(__name__)

_IGNORE = -1  # class target outside every panel
# Loss weights: cores decide the panels, text is sparse (BCE + Dice), classes are a bonus.
_W_CORE, _W_INTERIOR, _W_TEXT_BCE, _W_TEXT_DICE, _W_CLASS = 1.0, 0.5, 1.0, 1.0, 0.5


def truth_from_rows(rows: Sequence[Sequence[Any]], shape: tuple[int, int]) -> Structure:
    """Rows ``(kind, cls, x0, y0, x1, y1)`` of one (H, W) figure -> its true Structure; the
    text mask is the union of its text, letter and scale-bar boxes."""
    h, w = shape[:2]
    panels, text = [], np.zeros((h, w), bool)
    for kind, cls, x0, y0, x1, y1 in rows:
        box = (int(x0), int(y0), int(x1), int(y1))
        if kind == "panel":
            panels.append(Panel(box, str(cls) or "other"))
        else:
            text[box[1] : box[3], box[0] : box[2]] = True
    return Structure(tuple(panels), text)


def generate_samples(
    n: int,
    seed: int,
    compound_share: float,
    min_side: int,
    max_side: int,
    progress: bool = False,
) -> list[tuple[np.ndarray, Structure]]:
    """``n`` generated figures (H,W[,C]) uint8 with their true Structure, deterministic in
    ``seed``: a share ``compound_share`` multi-panel, the rest single-panel kinds drawn with
    the generator's own weights. Figures are authentic (structure does not depend on a
    forgery) and go through the generator's JPEG and noise like any other."""
    singles = [k for k in KIND_WEIGHTS if k != "compound"]
    weights = np.array([KIND_WEIGHTS[k] for k in singles])
    out = []
    seqs = np.random.SeedSequence(seed).spawn(n)
    for seq in tqdm(seqs, desc="panels: generating figures", disable=not progress):
        rng = np.random.default_rng(seq)
        kind = (
            "compound"
            if rng.random() < compound_share
            else str(rng.choice(singles, p=weights / weights.sum()))
        )
        case = make_case(rng, kind=kind, forged=False, min_side=min_side, max_side=max_side)
        image = case.authentic
        out.append((image, truth_from_rows(case.structure, image.shape[:2])))
    return out


def _span(lo: float, hi: float, size: int) -> tuple[int, int]:
    """Input pixels whose centres lie in [lo, hi) (continuous input coordinates)."""
    return int(np.clip(math.ceil(lo - 0.5), 0, size)), int(np.clip(math.ceil(hi - 0.5), 0, size))


def targets(truth: Structure, lb: Letterbox) -> dict[str, np.ndarray]:
    """Per-pixel targets on the (S, S) input grid of a figure letterboxed as ``lb``:
    ``core``, ``interior`` (uint8 0/1), ``text`` (uint8 coverage 0-255), ``cls`` (int8,
    index of :data:`PANEL_CLASSES`, -1 outside panels)."""
    s = lb.size
    core = np.zeros((s, s), np.uint8)
    interior = np.zeros((s, s), np.uint8)
    cls = np.full((s, s), _IGNORE, np.int8)
    for p in truth.panels:
        x0, y0, x1, y1 = p.box
        ix0, ix1 = x0 * lb.scale + lb.left, x1 * lb.scale + lb.left
        iy0, iy1 = y0 * lb.scale + lb.top, y1 * lb.scale + lb.top
        ax, bx = _span(ix0, ix1, s)
        ay, by = _span(iy0, iy1, s)
        interior[ay:by, ax:bx] = 1
        cls[ay:by, ax:bx] = PANEL_CLASSES.index(p.cls) if p.cls in PANEL_CLASSES else _IGNORE
        dx, dy = SHRINK * (ix1 - ix0), SHRINK * (iy1 - iy0)
        cx0, cx1 = _span(ix0 + dx, ix1 - dx, s)
        cy0, cy1 = _span(iy0 + dy, iy1 - dy, s)
        core[cy0:cy1, cx0:cx1] = 1
    text = lb.apply_masks(truth.text_mask[None])[0]
    return {
        "core": core,
        "interior": interior,
        "text": np.round(text * 255).astype(np.uint8),
        "cls": cls,
    }


@dataclass(frozen=True)
class Encoded:
    """Samples letterboxed once: ``x`` (N, 4, S, S) float16 inputs, ``core``, ``interior``
    (N, S, S) uint8, ``text`` (N, S, S) uint8 coverage, ``cls`` (N, S, S) int8, ``valid``
    (N, S, S) bool."""

    x: torch.Tensor
    core: torch.Tensor
    interior: torch.Tensor
    text: torch.Tensor
    cls: torch.Tensor
    valid: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


def encode(samples: Sequence[tuple[np.ndarray, Structure]], size: int) -> Encoded:
    """Letterbox every (figure, truth) pair into the network's input and targets."""
    xs, parts = [], {k: [] for k in ("core", "interior", "text", "cls", "valid")}
    for image, truth in samples:
        x, lb = prepare(image, size)
        xs.append(x.half())
        t = targets(truth, lb)
        for k in ("core", "interior", "text", "cls"):
            parts[k].append(torch.from_numpy(t[k]))
        parts["valid"].append(torch.from_numpy(lb.valid()))
    return Encoded(torch.stack(xs), *(torch.stack(parts[k]) for k in parts))


def _dice(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits) * valid
    inter = (p * target).sum(dim=(1, 2))
    return (1 - (2 * inter + 1) / (p.sum(dim=(1, 2)) + target.sum(dim=(1, 2)) + 1)).mean()


def structure_loss(out: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The training loss of a batch: out (B, 3 + C, S, S) logits, batch targets (B, S, S)."""
    valid = batch["valid"].float()
    n_valid = valid.sum().clamp_min(1.0)

    def bce(ch: int, target: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(out[:, ch], target, reduction="none")
        return (loss * valid).sum() / n_valid

    text = batch["text"].float() / 255.0
    cls = batch["cls"].long()
    has_cls = (cls >= 0).any()
    cls_loss = (
        F.cross_entropy(out[:, N_MAPS:], cls.clamp_min(0), reduction="none")[cls >= 0].mean()
        if has_cls
        else out.sum() * 0.0
    )
    return (
        _W_CORE * bce(CORE, batch["core"].float())
        + _W_INTERIOR * bce(INTERIOR, batch["interior"].float())
        + _W_TEXT_BCE * bce(TEXT, text)
        + _W_TEXT_DICE * _dice(out[:, TEXT], text, valid)
        + _W_CLASS * cls_loss
    )


def _batch(data: Encoded, idx: torch.Tensor, flip: torch.Tensor) -> dict[str, torch.Tensor]:
    """The samples at ``idx``, mirrored left-right where ``flip`` is True (a panel grid
    mirrored is still a panel grid; mirrored glyphs are still text to the net)."""
    out = {
        "x": data.x[idx].float(),
        **{k: getattr(data, k)[idx] for k in ("core", "interior", "text", "cls", "valid")},
    }
    for k, v in out.items():
        out[k] = torch.where(flip.view(-1, *([1] * (v.dim() - 1))), v.flip(-1), v)
    return out


def fit(
    data: Encoded,
    cfg: PanelsConfig,
    seed: int,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[StructureNet, dict[str, Any]]:
    """Train a :class:`StructureNet` on ``data`` for ``cfg.epochs`` epochs.

    AdamW with a one-cycle schedule; batches drawn from a generator seeded with ``seed``
    (the global RNGs are left alone). Returns the network in eval mode and the history:
    ``loss`` per epoch, ``seconds``, ``steps``.
    """
    if len(data) == 0:
        raise ValueError("fit needs at least one training sample")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StructureNet(cfg.channels).to(device)
    steps_per_epoch = math.ceil(len(data) / cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    history: dict[str, Any] = {"loss": [], "steps": 0}
    start = time.perf_counter()
    model.train()
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(data), generator=gen)
        flips = torch.rand(len(data), generator=gen) < 0.5
        total = 0.0
        bar = tqdm(
            range(steps_per_epoch),
            desc=f"panels epoch {epoch + 1}/{cfg.epochs}",
            disable=not progress,
        )
        for step in bar:
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            batch = {k: v.to(device) for k, v in _batch(data, idx, flips[idx]).items()}
            loss = structure_loss(model(batch["x"]), batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        history["loss"].append(round(total / len(data), 5))
        log.info("panels epoch %d/%d: loss %.4f", epoch + 1, cfg.epochs, history["loss"][-1])
    history["steps"] = cfg.epochs * steps_per_epoch
    history["seconds"] = round(time.perf_counter() - start, 2)
    return model.eval(), history
