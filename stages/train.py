"""Stage train: models/model.pt (best val oF1), checkpoints/last.pt, metrics/train (DVCLive)."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.train import tie_to_launcher, train


def _main() -> None:
    tie_to_launcher()  # torchrun's worker must not outlive dvc (see lifeline.py)
    train(load_params())


if __name__ == "__main__":
    run_main(_main)
