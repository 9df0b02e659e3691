"""One figure through the detector, as a small picklable result.

The same function runs in-process, in a local process pool and on Dask workers, so a
figure is judged identically whichever engine carries it. Everything that crosses a
process boundary here is small: a task names a file, a result holds a submission
annotation (RLE text) or a calibration table of a few hundred bytes, never pixels.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.config.sections import DetectConfig
from forgeseg.core.errors import DataError
from forgeseg.core.rle import AUTHENTIC
from forgeseg.data.layout import Record
from forgeseg.decision.calibration import FigureTable, tabulate
from forgeseg.decision.detector import Detector
from forgeseg.decision.rules import DecisionConfig

__all__ = [
    "OUTPUTS",
    "RAISE_ERRORS_ENV",
    "DetectorSpec",
    "FigureResult",
    "FigureTask",
    "detector_for",
    "limit_threads",
    "raise_errors_requested",
    "run_figure",
]

# "row": a submission annotation per figure (infer, predict); "table": a calibration
# FigureTable per figure (evaluate); "candidates": the learned decision's labelled
# candidates, features and labels (the decision stage).
OUTPUTS = ("row", "table", "candidates")
# Set to 1 (a test suite does) and an unexpected error inside a figure ends the run
# instead of being recorded as that figure's skip.
RAISE_ERRORS_ENV = "FORGESEG_RAISE_ERRORS"


@dataclass(frozen=True)
class DetectorSpec:
    """Everything a worker needs to build the same :class:`Detector` and output: picklable.

    ``thresholds``/``min_support``/``accepts`` are the calibration grid, used by
    ``output="table"``; ``net_threshold`` and ``positive_dice`` make and label the learned
    decision's candidates (``output="candidates"``).
    """

    detect: DetectConfig
    decision: DecisionConfig
    model_path: str | None = None
    device: str = "cpu"
    output: str = "row"
    thresholds: tuple[float, ...] = ()
    min_support: tuple[int, ...] = ()
    accepts: tuple[float, ...] = ()
    net_threshold: float = 0.5
    positive_dice: float = 0.5

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"DetectorSpec.output must be one of {OUTPUTS}, got {self.output!r}")

    def build(self) -> Detector:
        return Detector(self.detect, self.decision, model_path=self.model_path, device=self.device)


@dataclass(frozen=True)
class FigureTask:
    """One figure to judge: ``index`` is its place in the input order, ``uid`` its row key.

    ``record`` (an index row) and ``truth`` (a solution annotation) give the true instances
    when tables are computed; a row needs neither.
    """

    index: int
    uid: str
    path: str
    record: Record | None = None
    truth: str | None = None


@dataclass(frozen=True)
class FigureResult:
    """What came of one figure.

    ``annotation``: the submission annotation (``authentic`` for a skipped figure).
    ``shape``: (H, W) of the decoded figure, None when it was not decoded.
    ``skip``: why the figure got no detection (``"undecodable image: ..."``), else None;
    ``error``: the traceback when that reason was an unexpected exception.
    ``fatal``: the worker could not build its detector at all (the run must stop).
    ``peak_rss_mb``: the worker process's peak resident memory so far.
    ``worker_died``: the skip is a worker process killed while judging the figure. Memory
    at that moment, not the inputs, decided it: never journaled, so a rerun (with fewer
    workers, say) tries the figure again.
    """

    index: int
    uid: str
    path: str
    annotation: str = AUTHENTIC
    shape: tuple[int, int] | None = None
    score: float = 0.0
    table: FigureTable | None = field(default=None, repr=False)
    # (C, F) float features and (C,) int labels of the figure's candidates.
    candidates: tuple[Any, Any] | None = field(default=None, repr=False)
    skip: str | None = None
    error: str | None = None
    fatal: str | None = None
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    worker_died: bool = False

    def to_json(self) -> dict[str, Any]:
        """The journal's line for this result."""
        return {
            "index": self.index,
            "uid": self.uid,
            "path": self.path,
            "annotation": self.annotation,
            "shape": list(self.shape) if self.shape is not None else None,
            "score": self.score,
            "skip": self.skip,
            "error": self.error,
            "seconds": self.seconds,
            "peak_rss_mb": self.peak_rss_mb,
            "table": _table_to_json(self.table) if self.table is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FigureResult:
        shape = data.get("shape")
        table = data.get("table")
        return cls(
            index=int(data["index"]),
            uid=str(data["uid"]),
            path=str(data["path"]),
            annotation=str(data["annotation"]),
            shape=(int(shape[0]), int(shape[1])) if shape else None,
            score=float(data.get("score", 0.0)),
            skip=data.get("skip"),
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
            peak_rss_mb=float(data.get("peak_rss_mb", 0.0)),
            table=_table_from_json(table) if table is not None else None,
        )


def _table_to_json(table: FigureTable) -> dict[str, Any]:
    """Arrays with their dtype and shape (an empty (0, 3) array has no shape in a list);
    floats as JSON numbers, which Python writes and reads back bit for bit."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(table):
        value = getattr(table, f.name)
        if isinstance(value, np.ndarray):
            value = {"dtype": value.dtype.str, "shape": list(value.shape), "data": value.tolist()}
        elif isinstance(value, np.generic):
            value = value.item()
        out[f.name] = value
    return out


def _table_from_json(data: dict[str, Any]) -> FigureTable:
    values = {
        k: np.array(v["data"], dtype=np.dtype(v["dtype"])).reshape(v["shape"])
        if isinstance(v, dict)
        else v
        for k, v in data.items()
    }
    return FigureTable(**values)


def raise_errors_requested() -> bool:
    return os.environ.get(RAISE_ERRORS_ENV, "").strip() not in ("", "0", "false", "no")


def limit_threads() -> None:
    """One thread per library in this process: N worker processes on N cores would only
    oversubscribe them otherwise, and a fixed thread count keeps float sums identical."""
    import cv2

    cv2.setNumThreads(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


_local = threading.local()


def detector_for(spec: DetectorSpec) -> Detector:
    """This thread's detector for ``spec``, built once (Dask runs several threads per
    worker process, and a detector's matchers and network are not shared across threads)."""
    cached = getattr(_local, "entry", None)
    if cached is None or cached[0] != spec:
        detector = spec.build()
        limit_threads()  # after build: the network's import brings torch in
        _local.entry = cached = (spec, detector)
    return cached[1]


def _peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux, VmHWM: ru_maxrss survives exec, so
    a spawned worker would report its parent's peak at the fork instead of its own."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB elsewhere
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _judge(detector: Detector, spec: DetectorSpec, task: FigureTask) -> dict[str, Any]:
    """Read, detect and summarise one figure; raises DataError for a refused file."""
    from forgeseg.core.imageio import read_image

    name = Path(task.path).name
    if name.startswith("._"):
        raise DataError(
            task.path, "hidden file: macOS AppleDouble metadata (._ prefix), not a figure"
        )
    if name.startswith("."):
        raise DataError(task.path, "hidden file: a name starting with '.' is not a figure")
    image = read_image(task.path)
    shape = (int(image.shape[0]), int(image.shape[1]))
    if spec.output == "row":
        from forgeseg.core.rle import encode_annotation

        det = detector.detect(image)
        return {"shape": shape, "annotation": encode_annotation(det.instances), "score": det.score}
    ev = _evidence_with_truth(detector, task, image)
    if spec.output == "candidates":
        return {"shape": shape, "candidates": _candidates(spec, ev)}
    d = spec.detect
    table = tabulate(
        ev,
        spec.thresholds,
        spec.min_support,
        d.min_area,
        d.min_area_fraction,
        learned=detector.learned,
        accepts=spec.accepts,
    )
    return {"shape": shape, "table": table}


def _evidence_with_truth(detector: Detector, task: FigureTask, image: Any) -> Any:
    from forgeseg.data.truth import read_truth

    if task.record is None:
        raise ValueError(f"{task.uid}: a calibration table needs the figure's index record")
    solution = {task.uid: task.truth} if task.truth is not None else None
    truth = read_truth(task.record, image.shape[:2], solution)
    if truth is None:
        raise DataError(task.path, "truth unknown: no mask and no solution row")
    return detector.evidence(image, task.uid, truth)


def _candidates(spec: DetectorSpec, ev: Any) -> tuple[Any, Any]:
    import numpy as np

    from forgeseg.decision.learned import FEATURES, candidates, label_candidates
    from forgeseg.decision.rules import area_floor

    d = spec.detect
    floor = area_floor(ev.image.shape[:2], d.min_area, d.min_area_fraction)
    cands = candidates(ev, spec.net_threshold, floor)
    x = np.stack([c.features for c in cands]) if cands else np.zeros((0, len(FEATURES)))
    return x, label_candidates(cands, ev.truth, spec.positive_dice)


def run_figure(
    detector: Detector, spec: DetectorSpec, task: FigureTask, *, raise_errors: bool = False
) -> FigureResult:
    """Judge one figure; a refused file or an unexpected error becomes the figure's skip.

    With ``raise_errors`` (strict mode), or :data:`RAISE_ERRORS_ENV` set for unexpected
    errors, the exception propagates instead.
    """
    start = time.perf_counter()
    base = {"index": task.index, "uid": task.uid, "path": task.path}
    try:
        found = _judge(detector, spec, task)
    except DataError as exc:
        if raise_errors:
            raise
        found = {"skip": exc.problem}
    except Exception as exc:
        if raise_errors or raise_errors_requested():
            raise
        found = {"skip": f"detector error: {_one_line(exc)}", "error": traceback.format_exc()}
    return FigureResult(
        **base,
        **found,
        seconds=round(time.perf_counter() - start, 4),
        peak_rss_mb=round(_peak_rss_mb(), 1),
    )
