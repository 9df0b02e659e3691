"""Stage decision: the learned decision's trees from train-figure candidates
(models/decision.npz, metrics/decision.json, plots/decision/)."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.decision_stage import train_decision

if __name__ == "__main__":
    run_main(lambda: train_decision(load_params()))
