"""Every file and folder the stages read or write, in one table (``dvc.yaml`` names the same).

Stage functions take a :class:`Paths`; tests root one in a temporary folder with
:meth:`Paths.under`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PATHS", "Paths"]


@dataclass(frozen=True)
class Paths:
    synth: Path = Path("data/synth")  # synth: the generated data root
    splits: Path = Path("data/splits")  # ingest: {train,val,test}.csv, skipped.csv
    ingest_metrics: Path = Path("metrics/ingest.json")
    eda_metrics: Path = Path("metrics/eda.json")
    eda_plots: Path = Path("plots/eda")
    model: Path = Path("models/model.pt")  # train: best val oF1
    last: Path = Path("checkpoints/last.pt")  # train: resumed after an interruption
    train_live: Path = Path("metrics/train")  # train: DVCLive
    decision: Path = Path("models/decision.npz")  # decision: the learned decision's trees
    decision_metrics: Path = Path("metrics/decision.json")
    decision_plots: Path = Path("plots/decision")
    calibration: Path = Path("models/postprocess.json")  # evaluate: what calibration chose
    evaluate_metrics: Path = Path("metrics/evaluate.json")
    evaluate_plots: Path = Path("plots/evaluate")
    predictions: Path = Path("data/predictions")  # infer: submission.csv, masks/
    infer_metrics: Path = Path("metrics/infer.json")
    overlays: Path = Path("plots/overlays")

    def under(self, root: str | Path) -> Paths:
        """The same table below ``root`` instead of the repository root."""
        return Paths(
            **{f.name: Path(root) / getattr(self, f.name) for f in dataclasses.fields(self)}
        )


PATHS = Paths()
