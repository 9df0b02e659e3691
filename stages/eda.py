"""Stage eda: dataset statistics (metrics/eda.json, plots/eda/) and a contact sheet."""

from forgeseg.core.logs import run_main
from forgeseg.data.layout import read_index
from forgeseg.params import load_params
from forgeseg.pipeline.eda import run_eda


def main() -> None:
    p = load_params()
    splits = {name: read_index(f"data/splits/{name}.csv") for name in ("train", "val", "test")}
    run_eda(
        splits,
        metrics_path="metrics/eda.json",
        plots_dir="plots/eda",
        contact_sheet_path="plots/eda/contact_sheet.png",
        per_kind=p["eda"]["per_kind"],
        seed=p["base"]["seed"],
    )


if __name__ == "__main__":
    run_main(main)
