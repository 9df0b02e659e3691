"""The named steps of a training run: loaders, optimiser, resume, one epoch, save."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, DistributedSampler

from forgeseg.config import Params, as_dict
from forgeseg.core.errors import ParamsError
from forgeseg.data.layout import read_index
from forgeseg.data.torchdata import FigureDataset, SyntheticDataset, collate
from forgeseg.models.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["Loaders", "Optimiser", "Resume", "dist_info", "epoch_seed", "fingerprint"]

log = logging.getLogger(__name__)


def dist_info() -> tuple[int, int, int]:
    """(world size, rank, local rank) under torchrun; (1, 0, 0) in a plain process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def fingerprint(params: Params, splits_dir: Path) -> str:
    """What must match for a saved last checkpoint to be resumed: params and split files.

    The learning-rate schedule spans ``train.epochs``, so it is part of the key too.
    """
    key = {
        "model": as_dict(params.model),
        "train": as_dict(params.train),
        "seed": params.base.seed,
        "root": params.data.root,
        "splits": [
            hashlib.sha256((splits_dir / f"{name}.csv").read_bytes()).hexdigest()
            for name in ("train", "val")
        ],
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def epoch_seed(seed: int, epoch: int, *streams: int) -> int:
    """A 32-bit seed drawn from (seed, epoch, *streams) alone: what epoch ``epoch`` draws
    must not depend on how many epochs this process ran before it (a resumed run ran none).
    """
    return int(np.random.SeedSequence([seed, epoch, *streams]).generate_state(1)[0])


@dataclass
class Loaders:
    """Train and val loaders, and the datasets whose epoch drives their augmentation.

    Every random draw of an epoch (the shuffle, the generated figures, their augmentation,
    the loader processes' seeds) comes from (``base.seed``, epoch): epoch k of a resumed
    run sees exactly what epoch k of an uninterrupted run sees.
    """

    train: DataLoader
    val: DataLoader
    parts: list[Any]
    sampler: DistributedSampler
    n_train_records: int
    seed: int

    @classmethod
    def build(
        cls, params: Params, splits_dir: Path, *, world: int, rank: int, on_cuda: bool
    ) -> Loaders:
        t, seed = params.train, params.base.seed
        train_records = read_index(splits_dir / "train.csv")
        val_records = read_index(splits_dir / "val.csv")
        if not train_records:
            raise ParamsError(f"{splits_dir / 'train.csv'} lists no figures: nothing to train on")
        parts: list[Any] = [FigureDataset(train_records, t.size, augment=True, seed=seed)]
        if t.synthetic_per_epoch:
            parts.append(
                SyntheticDataset(
                    t.synthetic_per_epoch,
                    t.size,
                    seed=seed,
                    max_side=t.synthetic_max_side,
                    min_side=params.synth.min_side,
                    reuse_fraction=params.synth.reuse_fraction,
                )
            )
        train_ds = ConcatDataset(parts)
        # Also with one process: its order is a permutation seeded by seed + epoch
        # (set_epoch), where a shuffling loader's generator carries state across epochs
        # and a resumed run would replay epoch 0's order.
        sampler = DistributedSampler(
            train_ds, num_replicas=world, rank=rank, shuffle=True, seed=seed
        )
        train = DataLoader(
            train_ds,
            batch_size=t.batch_size,
            sampler=sampler,
            generator=torch.Generator().manual_seed(epoch_seed(seed, 0)),
            num_workers=t.num_workers,
            collate_fn=collate,
            drop_last=len(train_ds) > t.batch_size,
            pin_memory=on_cuda,
            persistent_workers=False,
        )
        val = DataLoader(
            FigureDataset(val_records, t.size),
            batch_size=t.batch_size,
            shuffle=False,
            num_workers=t.num_workers,
            collate_fn=collate,
        )
        return cls(train, val, parts, sampler, len(train_records), seed)

    def set_epoch(self, epoch: int) -> None:
        for part in self.parts:
            part.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        # The loader draws its processes' base seed from this generator once per epoch.
        self.train.generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))


@dataclass
class Optimiser:
    """AdamW with a linear warm-up then a cosine decay over all steps, and the AMP scaler."""

    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler

    @classmethod
    def build(
        cls, model: torch.nn.Module, params: Params, steps_per_epoch: int, amp_dtype: Any
    ) -> Optimiser:
        t = params.train
        opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        total = t.epochs * steps_per_epoch
        warmup = min(steps_per_epoch, max(total // 20, 1))

        def lr_lambda(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            frac = (step - warmup) / max(total - warmup, 1)
            return 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
        scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
        return cls(opt, sched, scaler)


@dataclass
class Resume:
    """Where a run starts: epoch 0, or after the last epoch of an interrupted run."""

    start_epoch: int = 0
    best_of1: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)

    @classmethod
    def load(
        cls, last_out: Path, key: str, epochs: int, model: torch.nn.Module, optim: Optimiser
    ) -> Resume:
        """Restore ``model`` and ``optim`` from ``last_out`` when it is an unfinished run
        made with the same params and splits (``key``); otherwise a fresh start."""
        if not last_out.exists():
            return cls()
        try:
            last = load_checkpoint(last_out)
        except Exception as exc:  # a corrupt resume file must not block a fresh run
            log.warning("ignoring %s: %s", last_out, exc)
            return cls()
        # Only an interrupted run is resumed. DVC reruns a finished one because a dependency
        # changed (the figures themselves, say, which the fingerprint cannot see): start over.
        unfinished = int(last.get("epoch", -1)) + 1 < epochs
        if not (unfinished and last.get("fingerprint") == key):
            log.info("%s is finished or was made with other params: starting afresh", last_out)
            return cls()
        model.load_state_dict(last["state_dict"])
        optim.opt.load_state_dict(last["optimizer"])
        optim.sched.load_state_dict(last["scheduler"])
        if last.get("scaler"):  # empty when saved without float16 AMP (CPU, bfloat16)
            optim.scaler.load_state_dict(last["scaler"])
        log.info("resuming from %s at epoch %d", last_out, int(last["epoch"]) + 1)
        return cls(
            int(last["epoch"]) + 1,
            float(last["best_of1"]),
            int(last["best_epoch"]),
            list(last.get("history", [])),
        )

    def save(
        self,
        payload: dict[str, Any],
        optim: Optimiser,
        *,
        model_out: Path,
        last_out: Path,
        key: str,
    ) -> None:
        """Keep the best checkpoint by val oF1 and always the latest (for resuming)."""
        val_of1 = payload["metrics"]["of1"]
        # Ties go to the later epoch: equal oF1 with more training is the better bet.
        if val_of1 >= self.best_of1:
            self.best_of1, self.best_epoch = val_of1, payload["epoch"]
            save_checkpoint(model_out, payload)
            log.info("new best val oF1 %.4f: saved %s", self.best_of1, model_out)
        save_checkpoint(
            last_out,
            {
                **payload,
                "optimizer": optim.opt.state_dict(),
                "scheduler": optim.sched.state_dict(),
                "scaler": optim.scaler.state_dict(),
                "fingerprint": key,
                "best_of1": self.best_of1,
                "best_epoch": self.best_epoch,
                "history": self.history,
            },
        )
