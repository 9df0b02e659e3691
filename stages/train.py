"""Stage train: models/model.pt (best val oF1), checkpoints/last.pt, metrics/train (DVCLive)."""

from forgeseg.params import load_params
from forgeseg.stage import run_main
from forgeseg.train import train

if __name__ == "__main__":
    run_main(lambda: train(load_params()))
