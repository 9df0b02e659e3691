"""Stage train: models/model.pt (best val oF1), checkpoints/last.pt, metrics/train (DVCLive)."""

from forgeseg.core.logs import run_main
from forgeseg.params import load_params
from forgeseg.pipeline.train import train

if __name__ == "__main__":
    run_main(lambda: train(load_params()))
