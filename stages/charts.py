"""Stage charts: PNG training curves, ROC and threshold sweep in plots/charts/."""

from forgeseg.core.logs import run_main
from forgeseg.pipeline.charts import write_charts


def main() -> None:
    write_charts(
        curves_dir="metrics/train/plots/metrics",
        evaluate_dir="plots/evaluate",
        out_dir="plots/charts",
    )


if __name__ == "__main__":
    run_main(main)
