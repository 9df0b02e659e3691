"""Stage overlay: red overlays of test predictions in plots/overlays (DVC image plots)."""

from forgeseg.infer import write_overlays
from forgeseg.params import load_params
from forgeseg.stage import run_main

if __name__ == "__main__":
    run_main(lambda: write_overlays(load_params()))
