"""Stage train: models/model.pt (best val oF1), checkpoints/last.pt, metrics/train (DVCLive)."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.train import train

if __name__ == "__main__":
    run_main(lambda: train(load_params()))
