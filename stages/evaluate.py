"""Stage evaluate: calibrate post-processing on val; metrics/evaluate.json, plots/evaluate/."""

from forgeseg.evaluate import evaluate
from forgeseg.params import load_params
from forgeseg.stage import run_main

if __name__ == "__main__":
    run_main(lambda: evaluate(load_params()))
