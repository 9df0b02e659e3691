"""Stage overlay: red overlays of test predictions in plots/overlays (DVC image plots)."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.overlay import write_overlays


def main() -> None:
    p = load_params()
    write_overlays(p.data, p.overlay)


if __name__ == "__main__":
    run_main(main)
