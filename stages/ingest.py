"""Stage ingest: validate data.root and split it by case_id into data/splits/*.csv."""

from forgeseg.ingest import ingest
from forgeseg.params import load_params
from forgeseg.stage import run_main

if __name__ == "__main__":
    run_main(lambda: ingest(load_params()))
