"""Training: the network from ``params.yaml`` on the split's train figures plus figures
generated on the fly, validated every epoch on the val split by oF1.

One process on CPU or one GPU; ``torchrun --nproc-per-node=N`` for N GPUs (DDP), where
only rank 0 validates, logs and writes files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, DistributedSampler

from forgeseg.core.errors import ParamsError
from forgeseg.data.layout import read_index
from forgeseg.data.torchdata import FigureDataset, SyntheticDataset, collate
from forgeseg.models import build_model
from forgeseg.models.checkpoint import load_checkpoint, save_checkpoint
from forgeseg.models.losses import build_loss
from forgeseg.params import resolve_device, section

__all__ = ["TrainResult", "train", "validate"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    best_epoch: int
    best_of1: float
    epochs_run: int
    seconds: float
    figures_per_second: float


def seed_everything(seed: int) -> None:
    # The library draws from explicit generators; these cover third-party code
    # (albumentations falls back on the global RNGs when not given a seed).
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    torch.manual_seed(seed)


def _fingerprint(params: Mapping[str, Any], splits_dir: Path) -> str:
    """What must match for a saved last checkpoint to be resumed: params and split files.

    The learning-rate schedule spans ``train.epochs``, so it is part of the key too.
    """
    key = {
        "model": params.get("model"),
        "train": section(params, "train"),
        "seed": params["base"].get("seed"),
        "root": params["data"].get("root"),
        "splits": [
            hashlib.sha256((splits_dir / f"{name}.csv").read_bytes()).hexdigest()
            for name in ("train", "val")
        ],
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


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

    from forgeseg.data.transforms import denormalize
    from forgeseg.decision.instances import build_instances
    from forgeseg.scoring.score import of1_image

    model.eval()
    tot_loss, n_batches = 0.0, 0
    tp = fp = fn = 0.0
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
        img_p = torch.sigmoid(out["image"].float())
        pred = prob >= threshold
        truth = y >= 0.5
        forged = label > 0.5
        tp += float((pred & truth)[forged].sum())
        fp += float((pred & ~truth)[forged].sum())
        fn += float((~pred & truth)[forged].sum())
        for i in range(x.shape[0]):
            true_inst = batch["instances"][i].numpy()
            if float(img_p[i]) < gate:
                pred_inst = np.zeros((0, *true_inst.shape[1:]), bool)
            else:
                pred_inst = build_instances(
                    prob[i, 0].cpu().numpy(),
                    denormalize(x[i]),
                    threshold=threshold,
                    min_area=min_area,
                )
            scores.append(of1_image(pred_inst, true_inst))
    return {
        "loss": tot_loss / max(n_batches, 1),
        "dice": 2 * tp / max(2 * tp + fp + fn, 1.0),
        "iou": tp / max(tp + fp + fn, 1.0),
        "of1": float(np.mean(scores)) if scores else 0.0,
    }


def train(
    params: Mapping[str, Any],
    *,
    splits_dir: str | Path = "data/splits",
    model_out: str | Path = "models/model.pt",
    last_out: str | Path = "checkpoints/last.pt",
    live_dir: str | Path = "metrics/train",
    progress: bool = True,
) -> TrainResult:
    """Train the model described by ``params['model']`` with ``params['train']``.

    Writes the best checkpoint by val oF1 to ``model_out``, the latest to ``last_out``
    (resumed on the next run when the params still match), and DVCLive logs to
    ``live_dir``.
    """
    from tqdm import tqdm

    world, rank, local_rank = _dist_info()
    tcfg = section(params, "train")
    seed = int(params["base"]["seed"])
    seed_everything(seed + rank)
    device = resolve_device(params["base"].get("device"))
    if world > 1:
        if not device.startswith("cuda"):
            raise ParamsError("multi-GPU training (train.gpus > 1) needs CUDA devices")
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group("nccl")
    is_main = rank == 0
    on_cuda = device.startswith("cuda")
    amp_dtype = None
    if on_cuda and tcfg.get("amp", True):
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    size = int(tcfg.get("size", 256))

    splits_dir = Path(splits_dir)
    train_records = read_index(splits_dir / "train.csv")
    val_records = read_index(splits_dir / "val.csv")
    if not train_records:
        raise ParamsError(f"{splits_dir / 'train.csv'} lists no figures: nothing to train on")
    parts: list[Any] = [FigureDataset(train_records, size, augment=True, seed=seed)]
    n_synth = int(tcfg.get("synthetic_per_epoch", 0))
    if n_synth:
        parts.append(
            SyntheticDataset(
                n_synth,
                size,
                seed=seed,
                max_side=int(tcfg.get("synthetic_max_side", 512)),
                min_side=int(params["synth"].get("min_side", 128)),
            )
        )
    train_ds = ConcatDataset(parts)
    sampler = DistributedSampler(train_ds, shuffle=True, seed=seed) if world > 1 else None
    gen = torch.Generator().manual_seed(seed)
    workers = int(tcfg.get("num_workers", 0))
    bs = int(tcfg.get("batch_size", 8))
    train_loader = DataLoader(
        train_ds,
        batch_size=bs,
        shuffle=sampler is None,
        sampler=sampler,
        generator=gen,
        num_workers=workers,
        collate_fn=collate,
        drop_last=len(train_ds) > bs,
        pin_memory=on_cuda,
        persistent_workers=False,
    )
    val_loader = DataLoader(
        FigureDataset(val_records, size),
        batch_size=bs,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
    )

    model = build_model(section(params, "model")).to(device)
    if on_cuda and tcfg.get("channels_last", True):
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss(dict(tcfg.get("loss") or {}))
    opt = torch.optim.AdamW(
        model.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"])
    )
    epochs = int(tcfg["epochs"])
    steps_per_epoch = max(len(train_loader), 1)
    total = epochs * steps_per_epoch
    warmup = min(steps_per_epoch, max(total // 20, 1))

    def lr_lambda(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    fingerprint = _fingerprint(params, splits_dir)
    start_epoch, best_of1, best_epoch, history = 0, -1.0, -1, []
    last_out = Path(last_out)
    if last_out.exists():
        try:
            last = load_checkpoint(last_out)
        except Exception as exc:  # a corrupt resume file must not block a fresh run
            log.warning("ignoring %s: %s", last_out, exc)
            last = None
        # Only an interrupted run is resumed. DVC reruns a finished one because a dependency
        # changed (the figures themselves, say, which the fingerprint cannot see): start over.
        unfinished = last is not None and int(last.get("epoch", -1)) + 1 < epochs
        if unfinished and last.get("fingerprint") == fingerprint:
            model.load_state_dict(last["state_dict"])
            opt.load_state_dict(last["optimizer"])
            sched.load_state_dict(last["scheduler"])
            start_epoch = int(last["epoch"]) + 1
            best_of1, best_epoch = float(last["best_of1"]), int(last["best_epoch"])
            history = list(last.get("history", []))
            log.info("resuming from %s at epoch %d", last_out, start_epoch)
        elif last is not None:
            log.info("%s is finished or was made with other params: starting afresh", last_out)

    ddp_model: torch.nn.Module = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank])

    live = None
    if is_main:
        from dvclive import Live

        live = Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, resume=start_epoch > 0)
        live.log_params({"model": section(params, "model"), "train": tcfg})
    log.info(
        "training %s/%s at %dpx on %s: %d figures from the index + %d generated per epoch, "
        "%d epochs",
        params["model"].get("arch"),
        params["model"].get("encoder"),
        size,
        device,
        len(train_records),
        n_synth,
        epochs,
    )
    t0 = time.perf_counter()
    seen = 0
    model_cfg = section(params, "model")
    for epoch in range(start_epoch, epochs):
        for part in parts:
            part.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        ddp_model.train()
        run_loss, n = 0.0, 0
        bar = tqdm(
            train_loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not (progress and is_main)
        )
        for batch in bar:
            x = batch["image"].to(device, non_blocking=True)
            if on_cuda and tcfg.get("channels_last", True):
                x = x.contiguous(memory_format=torch.channels_last)
            y = batch["mask"].to(device, non_blocking=True)
            valid = batch["valid"].to(device, non_blocking=True)
            label = batch["label"].to(device, non_blocking=True)
            with torch.autocast(
                device.split(":")[0], dtype=amp_dtype, enabled=amp_dtype is not None
            ):
                out = ddp_model(x)
                loss, _ = loss_fn(out, y, label, valid)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            scaler.step(opt)
            scaler.update()
            sched.step()
            run_loss += float(loss.detach())
            n += 1
            seen += x.shape[0] * world
            bar.set_postfix(loss=f"{run_loss / n:.4f}")
        if not is_main:
            continue
        val = validate(model, val_loader, loss_fn, device, amp_dtype=amp_dtype, progress=progress)
        train_loss = run_loss / max(n, 1)
        log.info(
            "epoch %d/%d: train loss %.4f, val loss %.4f, val Dice %.3f, IoU %.3f, oF1 %.3f",
            epoch + 1,
            epochs,
            train_loss,
            val["loss"],
            val["dice"],
            val["iou"],
            val["of1"],
        )
        assert live is not None
        live.log_metric("train/loss", train_loss)
        for key, value in val.items():
            live.log_metric(f"val/{key}", value)
        live.log_metric("lr", sched.get_last_lr()[0], plot=True)
        history.append(
            {"epoch": epoch, "train_loss": train_loss, **{f"val_{k}": v for k, v in val.items()}}
        )
        payload = {
            "model_cfg": model_cfg,
            "size": size,
            "state_dict": model.state_dict(),
            "epoch": epoch,
            "metrics": val,
        }
        # Ties go to the later epoch: equal oF1 with more training is the better bet.
        if val["of1"] >= best_of1:
            best_of1, best_epoch = val["of1"], epoch
            save_checkpoint(model_out, payload)
            log.info("new best val oF1 %.4f: saved %s", best_of1, model_out)
        save_checkpoint(
            last_out,
            {
                **payload,
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "fingerprint": fingerprint,
                "best_of1": best_of1,
                "best_epoch": best_epoch,
                "history": history,
            },
        )
        live.summary["best/of1"] = best_of1
        live.summary["best/epoch"] = best_epoch + 1
        live.next_step()
    seconds = time.perf_counter() - t0
    if is_main:
        if not Path(model_out).exists():
            # Resumed a finished run whose best checkpoint was removed: the last one stands in.
            save_checkpoint(
                model_out,
                {
                    "model_cfg": model_cfg,
                    "size": size,
                    "state_dict": model.state_dict(),
                    "epoch": epochs - 1,
                    "metrics": {},
                },
            )
        assert live is not None
        live.summary["train/seconds"] = round(seconds, 1)
        live.summary["train/figures_per_second"] = round(seen / max(seconds, 1e-9), 2)
        live.end()
    if world > 1:
        torch.distributed.destroy_process_group()
    return TrainResult(
        best_epoch + 1, best_of1, epochs - start_epoch, seconds, seen / max(seconds, 1e-9)
    )
