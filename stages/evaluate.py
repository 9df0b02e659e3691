"""Stage evaluate: calibrate post-processing on val; metrics/evaluate.json, plots/evaluate/."""

from forgeseg.core.logs import run_main
from forgeseg.params import load_params
from forgeseg.pipeline.evaluate import evaluate

if __name__ == "__main__":
    run_main(lambda: evaluate(load_params()))
