"""Stage ingest: validate data.root and split it by case_id into data/splits/*.csv."""

from forgeseg.core.logs import run_main
from forgeseg.params import load_params
from forgeseg.pipeline.ingest import ingest

if __name__ == "__main__":
    run_main(lambda: ingest(load_params()))
