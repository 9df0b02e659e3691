"""Stage evaluate: calibrate the decision on val; metrics/evaluate.json, plots/evaluate/."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.evaluate import evaluate

if __name__ == "__main__":
    run_main(lambda: evaluate(load_params()))
