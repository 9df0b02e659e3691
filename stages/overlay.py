"""Stage overlay: red overlays of test predictions in plots/overlays (DVC image plots)."""

from forgeseg.core.logs import run_main
from forgeseg.params import load_params
from forgeseg.pipeline.infer import write_overlays

if __name__ == "__main__":
    run_main(lambda: write_overlays(load_params()))
