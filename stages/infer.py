"""Stage infer: data/predictions (masks, submission.csv), metrics/infer.json."""

from forgeseg.infer import infer
from forgeseg.params import load_params
from forgeseg.stage import run_main

if __name__ == "__main__":
    run_main(lambda: infer(load_params()))
