"""Stage infer: data/predictions (masks, submission.csv), metrics/infer.json."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.infer import infer

if __name__ == "__main__":
    run_main(lambda: infer(load_params()))
