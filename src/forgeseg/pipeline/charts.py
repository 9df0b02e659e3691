"""PNG charts of the training curves, the ROC and the threshold sweep (``charts`` stage).

For whoever never opens ``dvc plots show``'s HTML: a PNG shows in a terminal image
viewer, a pull request, a chat message or ``dvc plots diff`` as it is. Drawn with
matplotlib's object API on the Agg canvas (no pyplot), so no display and no global state.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from forgeseg.core.atomic import atomic_dir, atomic_path
from forgeseg.core.errors import DataError

__all__ = [
    "CHART_SIZE",
    "PANEL_SIZE",
    "read_table",
    "roc_chart",
    "threshold_chart",
    "training_chart",
    "write_charts",
]

CHART_SIZE = (800, 600)  # px, one chart
PANEL_SIZE = (600, 400)  # px, one panel of the training grid
_DPI = 100
_GRID_COLUMNS = 2
# DVCLive's bookkeeping columns; the one left is the metric.
_INDEX_COLUMNS = {"step", "timestamp"}


def read_table(path: str | os.PathLike[str], columns: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Every column of a .csv or .tsv file as float64, checked; ``columns`` must be present."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "missing (run `dvc repro` to make it)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable ({exc})") from None
    rows = list(csv.reader(text.splitlines(), delimiter="\t" if path.suffix == ".tsv" else ","))
    if not rows or not rows[0]:
        raise DataError(path, "empty: no header line")
    header = rows[0]
    # (line number in the file, fields): errors point at the line a user can open.
    body = [(line, row) for line, row in enumerate(rows[1:], start=2) if row]
    absent = [c for c in columns if c not in header]
    if absent:
        raise DataError(path, f"no column {absent[0]!r} (has: {', '.join(header)})")
    if not body:
        raise DataError(path, "no data rows under the header")
    for line, row in body:
        if len(row) != len(header):
            raise DataError(path, f"line {line}: {len(row)} fields, the header has {len(header)}")
    return {name: _column(path, body, i, name) for i, name in enumerate(header)}


def _column(path: Path, body: list[tuple[int, list[str]]], index: int, name: str) -> np.ndarray:
    values = np.empty(len(body), np.float64)
    for i, (line, row) in enumerate(body):
        try:
            values[i] = float(row[index])
        except ValueError:
            raise DataError(path, f"line {line}: {name} = {row[index]!r} is not a number") from None
    return values


def _figure(size: tuple[int, int]) -> Figure:
    return Figure(figsize=(size[0] / _DPI, size[1] / _DPI), dpi=_DPI, layout="constrained")


def _save(fig: Figure, out: str | os.PathLike[str]) -> Path:
    # No bbox_inches="tight": the PNG keeps exactly the size the figure was made with.
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
    return Path(out)


def _curve(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(step, value, metric name) of one DVCLive curve file."""
    table = read_table(path, columns=("step",))
    names = [c for c in table if c not in _INDEX_COLUMNS]
    if len(names) != 1:
        raise DataError(path, f"expected step and one metric column, found {list(table)}")
    return table["step"], table[names[0]], names[0]


def training_chart(curves_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """One panel per metric of DVCLive's ``plots/metrics``; train and val share a panel."""
    curves_dir = Path(curves_dir)
    files = sorted(curves_dir.rglob("*.tsv"))
    if not files:
        raise DataError(curves_dir, "no .tsv training curves (run `dvc repro train`)")
    panels: dict[str, list[tuple[str, np.ndarray, np.ndarray]]] = {}
    for path in files:
        step, value, name = _curve(path)
        split = path.parent.relative_to(curves_dir).as_posix()
        panels.setdefault(name, []).append((split if split != "." else name, step, value))
    rows = -(-len(panels) // _GRID_COLUMNS)
    fig = _figure((PANEL_SIZE[0] * _GRID_COLUMNS, PANEL_SIZE[1] * rows))
    axes = fig.subplots(rows, _GRID_COLUMNS, squeeze=False).ravel()
    for ax, (name, lines) in zip(axes, panels.items(), strict=False):
        for label, step, value in lines:
            ax.plot(step, value, marker="o", markersize=3, label=label)
        _style(ax, title=name, xlabel="step", ylabel=name, legend=len(lines) > 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are epochs
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    return _save(fig, out)


def _style(ax: Axes, title: str, xlabel: str, ylabel: str, legend: bool = True) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(loc="best")


def roc_chart(roc_csv: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """The ROC of the image score, with its area and the chance diagonal."""
    table = read_table(roc_csv, columns=("fpr", "tpr"))
    fpr, tpr = table["fpr"], table["tpr"]
    order = np.argsort(fpr, kind="stable")
    x, y = fpr[order], tpr[order]
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))  # trapezoids, as sklearn's auc
    fig = _figure(CHART_SIZE)
    ax = fig.subplots()
    ax.plot(fpr, tpr, label=f"image score (area {area:.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    _style(ax, "ROC of the image score (val)", "false positive rate", "true positive rate")
    return _save(fig, out)


def threshold_chart(sweep_csv: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """oF1 against the pixel threshold, the all-authentic floor beside it, the best marked."""
    table = read_table(sweep_csv, columns=("threshold", "of1"))
    threshold, of1 = table["threshold"], table["of1"]
    fig = _figure(CHART_SIZE)
    ax = fig.subplots()
    ax.plot(threshold, of1, marker="o", label="oF1")
    if "floor" in table:
        ax.plot(threshold, table["floor"], linestyle="--", label="all-authentic floor")
    if np.isfinite(of1).any():
        best = int(np.nanargmax(of1))
        label = f"best: {of1[best]:.3f} at {threshold[best]:g}"
        ax.scatter([threshold[best]], [of1[best]], s=80, zorder=3, color="red", label=label)
    _style(ax, "oF1 against pixel threshold (val)", "pixel threshold", "oF1")
    return _save(fig, out)


def write_charts(
    curves_dir: str | os.PathLike[str],
    evaluate_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
) -> list[Path]:
    """``training.png``, ``roc.png`` and ``threshold_sweep.png`` in ``out_dir``, all or none."""
    evaluate_dir = Path(evaluate_dir)
    names = ("training.png", "roc.png", "threshold_sweep.png")
    with atomic_dir(out_dir) as tmp:
        training_chart(curves_dir, tmp / names[0])
        roc_chart(evaluate_dir / "roc.csv", tmp / names[1])
        threshold_chart(evaluate_dir / "threshold_sweep.csv", tmp / names[2])
    return [Path(out_dir) / name for name in names]
