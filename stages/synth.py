"""Stage synth: generate the default dataset in the Kaggle layout (data/synth)."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.paths import PATHS
from forgeseg.synth import generate_dataset


def main() -> None:
    p = load_params()
    s = p.synth
    generate_dataset(
        PATHS.synth,
        n=s.n,
        seed=s.seed,
        n_test=s.n_test,
        n_supplemental=s.n_supplemental,
        min_side=s.min_side,
        max_side=s.max_side,
        reuse_fraction=s.reuse_fraction,
        workers=p.base.workers,
    )


if __name__ == "__main__":
    run_main(main)
