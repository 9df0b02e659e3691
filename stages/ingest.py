"""Stage ingest: validate data.root and split it by case_id into data/splits/*.csv."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.ingest import ingest


def main() -> None:
    p = load_params()
    ingest(p.data, p.base)


if __name__ == "__main__":
    run_main(main)
