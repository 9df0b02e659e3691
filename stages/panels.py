"""Stage panels: the figure-structure net (models/panels.pt) and its metrics beside the
classical detector on generated val figures (metrics/panels.json)."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.panels_stage import run_stage


def main() -> None:
    p = load_params()
    run_stage(p.panels, p.base, p.synth)


if __name__ == "__main__":
    run_main(main)
