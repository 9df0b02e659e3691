"""Stage report: the evidence report of the test split in plots/report/index.html."""

from forgeseg.config import load_params
from forgeseg.core.logs import run_main
from forgeseg.pipeline.report.split import report_split

if __name__ == "__main__":
    run_main(lambda: report_split(load_params()))
