"""Stage eda: dataset statistics (metrics/eda.json, plots/eda/) and a contact sheet."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.eda import run_stage


def main() -> None:
    p = load_params()
    run_stage(p.eda, p.base)


if __name__ == "__main__":
    run_main(main)
