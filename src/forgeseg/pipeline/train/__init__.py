"""Training: the network from ``params.yaml`` on the split's train figures plus figures
generated on the fly, validated every epoch on the val split by oF1.

One process on CPU or one GPU; ``torchrun --nproc-per-node=N`` for N GPUs (DDP), where
only rank 0 validates, logs and writes files. :mod:`.loop` runs the epochs, :mod:`.steps`
holds the named steps (loaders, optimiser, resume, one epoch, save), :mod:`.validate` the
per-epoch validation, :mod:`.lifeline` ends a worker whose launcher has died.
"""

from forgeseg.pipeline.train.lifeline import Lifeline, tie_to_launcher
from forgeseg.pipeline.train.loop import TrainResult, train
from forgeseg.pipeline.train.validate import validate

__all__ = ["Lifeline", "TrainResult", "tie_to_launcher", "train", "validate"]
