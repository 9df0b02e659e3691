"""The training run: set up, then for each epoch train, validate, log and save."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from forgeseg.config import Params, as_dict, resolve_device
from forgeseg.core.errors import ParamsError
from forgeseg.models import build_model
from forgeseg.models.checkpoint import save_checkpoint
from forgeseg.models.losses import build_loss
from forgeseg.pipeline.train import validate as validate_mod
from forgeseg.pipeline.train.steps import (
    Loaders,
    Optimiser,
    Resume,
    dist_info,
    epoch_seed,
    fingerprint,
)

__all__ = ["TrainResult", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    best_epoch: int
    best_of1: float
    epochs_run: int
    seconds: float
    figures_per_second: float


@dataclass
class _Device:
    name: str
    amp_dtype: torch.dtype | None
    channels_last: bool

    @property
    def on_cuda(self) -> bool:
        return self.name.startswith("cuda")


def seed_everything(seed: int) -> None:
    # The library draws from explicit generators; these cover third-party code
    # (albumentations falls back on the global RNGs when not given a seed).
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    torch.manual_seed(seed)


def _device(params: Params, world: int, local_rank: int) -> _Device:
    name = resolve_device(params.base.device)
    if world > 1:
        if not name.startswith("cuda"):
            raise ParamsError("multi-GPU training (train.gpus > 1) needs CUDA devices")
        name = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group("nccl")
    on_cuda = name.startswith("cuda")
    amp_dtype = None
    if on_cuda and params.train.amp:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return _Device(name, amp_dtype, on_cuda and params.train.channels_last)


def train(
    params: Params,
    *,
    splits_dir: str | Path = "data/splits",
    model_out: str | Path = "models/model.pt",
    last_out: str | Path = "checkpoints/last.pt",
    live_dir: str | Path = "metrics/train",
    progress: bool = True,
    max_epochs: int | None = None,
) -> TrainResult:
    """Train the model described by ``params.model`` with ``params.train``.

    Writes the best checkpoint by val oF1 to ``model_out``, the latest to ``last_out``
    (resumed on the next run when the params still match), and DVCLive logs to
    ``live_dir``. ``max_epochs`` stops this run after that many epochs, as an interruption
    would (the next run resumes); ``None`` runs to ``train.epochs``.
    """
    world, rank, local_rank = dist_info()
    seed_everything(params.base.seed + rank)
    dev = _device(params, world, local_rank)
    splits_dir, model_out, last_out = Path(splits_dir), Path(model_out), Path(last_out)
    loaders = Loaders.build(params, splits_dir, world=world, rank=rank, on_cuda=dev.on_cuda)
    model = build_model(params.model).to(dev.name)
    if dev.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss(params.train.loss)
    optim = Optimiser.build(model, params, max(len(loaders.train), 1), dev.amp_dtype)
    key = fingerprint(params, splits_dir)
    state = Resume.load(last_out, key, params.train.epochs, model, optim)
    ddp_model: torch.nn.Module = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank])
    live = _open_live(live_dir, params, state) if rank == 0 else None
    _log_start(params, dev, loaders)
    epochs = params.train.epochs
    stop = epochs if max_epochs is None else min(epochs, state.start_epoch + max_epochs)
    t0, seen = time.perf_counter(), 0
    for epoch in range(state.start_epoch, stop):
        # Global RNGs too (a layer drawing from torch's, a library falling back on numpy's):
        # seeded by (seed, epoch, rank), not carried over from the epochs this process ran.
        seed_everything(epoch_seed(params.base.seed, epoch, rank))
        loaders.set_epoch(epoch)
        train_loss, n_seen = _train_epoch(
            ddp_model, model, loaders, loss_fn, optim, dev, epoch, epochs, progress and rank == 0
        )
        seen += n_seen * world
        if rank != 0:
            continue
        val = validate_mod.validate(
            model, loaders.val, loss_fn, dev.name, amp_dtype=dev.amp_dtype, progress=progress
        )
        _log_epoch(live, epoch, epochs, train_loss, val, optim)
        state.history.append(
            {"epoch": epoch, "train_loss": train_loss, **{f"val_{k}": v for k, v in val.items()}}
        )
        payload = _payload(params, model, epoch, val)
        state.save(payload, optim, model_out=model_out, last_out=last_out, key=key)
        live.summary["best/of1"] = state.best_of1
        live.summary["best/epoch"] = state.best_epoch + 1
        live.next_step()
    seconds = time.perf_counter() - t0
    if rank == 0:
        _finish(live, params, model, model_out, seconds, seen)
    if world > 1:
        torch.distributed.destroy_process_group()
    return TrainResult(
        state.best_epoch + 1,
        state.best_of1,
        stop - state.start_epoch,
        seconds,
        seen / max(seconds, 1e-9),
    )


def _train_epoch(
    ddp_model: torch.nn.Module,
    model: torch.nn.Module,
    loaders: Loaders,
    loss_fn: Any,
    optim: Optimiser,
    dev: _Device,
    epoch: int,
    epochs: int,
    progress: bool,
) -> tuple[float, int]:
    """One pass over the train loader: (mean loss, figures seen by this process)."""
    from tqdm import tqdm

    ddp_model.train()
    run_loss, n, seen = 0.0, 0, 0
    bar = tqdm(loaders.train, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress)
    for batch in bar:
        x = batch["image"].to(dev.name, non_blocking=True)
        if dev.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = batch["mask"].to(dev.name, non_blocking=True)
        valid = batch["valid"].to(dev.name, non_blocking=True)
        label = batch["label"].to(dev.name, non_blocking=True)
        with torch.autocast(
            dev.name.split(":")[0], dtype=dev.amp_dtype, enabled=dev.amp_dtype is not None
        ):
            out = ddp_model(x)
            loss, _ = loss_fn(out, y, label, valid)
        optim.opt.zero_grad(set_to_none=True)
        optim.scaler.scale(loss).backward()
        optim.scaler.unscale_(optim.opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optim.scaler.step(optim.opt)
        optim.scaler.update()
        optim.sched.step()
        run_loss += float(loss.detach())
        n += 1
        seen += x.shape[0]
        bar.set_postfix(loss=f"{run_loss / n:.4f}")
    return run_loss / max(n, 1), seen


def _payload(
    params: Params, model: torch.nn.Module, epoch: int, metrics: dict[str, float]
) -> dict[str, Any]:
    """A checkpoint: what the predictor needs to rebuild the network, and its weights."""
    return {
        "model_cfg": as_dict(params.model),
        "size": params.train.size,
        "state_dict": model.state_dict(),
        "epoch": epoch,
        "metrics": metrics,
    }


def _open_live(live_dir: str | Path, params: Params, state: Resume) -> Any:
    from dvclive import Live

    live = Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, resume=state.start_epoch > 0)
    live.log_params({"model": as_dict(params.model), "train": as_dict(params.train)})
    return live


def _log_start(params: Params, dev: _Device, loaders: Loaders) -> None:
    log.info(
        "training %s/%s at %dpx on %s: %d figures from the index + %d generated per epoch, "
        "%d epochs",
        params.model.arch,
        params.model.encoder,
        params.train.size,
        dev.name,
        loaders.n_train_records,
        params.train.synthetic_per_epoch,
        params.train.epochs,
    )


def _log_epoch(
    live: Any, epoch: int, epochs: int, train_loss: float, val: dict[str, float], optim: Optimiser
) -> None:
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
    live.log_metric("train/loss", train_loss)
    for key, value in val.items():
        live.log_metric(f"val/{key}", value)
    live.log_metric("lr", optim.sched.get_last_lr()[0], plot=True)


def _finish(
    live: Any, params: Params, model: torch.nn.Module, model_out: Path, seconds: float, seen: int
) -> None:
    if not model_out.exists():
        # Resumed a finished run whose best checkpoint was removed: the last one stands in.
        payload = _payload(params, model, params.train.epochs - 1, {})
        save_checkpoint(model_out, payload)
    live.summary["train/seconds"] = round(seconds, 1)
    live.summary["train/figures_per_second"] = round(seen / max(seconds, 1e-9), 2)
    live.end()
