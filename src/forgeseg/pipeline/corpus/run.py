"""A whole corpus through one engine: resume from the journal, judge the rest, re-order.

Whichever engine carries the figures (this process, a local pool, a Dask cluster), the
results come back re-ordered by input order, so the output is identical row for row.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from forgeseg.core.atomic import write_text
from forgeseg.core.errors import DataError, ForgesegError
from forgeseg.pipeline.corpus.figure import (
    DetectorSpec,
    FigureResult,
    FigureTask,
    raise_errors_requested,
)
from forgeseg.pipeline.corpus.journal import Journal
from forgeseg.pipeline.corpus.pool import iter_local

__all__ = ["SKIP_COLUMNS", "journal_path", "run_corpus", "skip_path", "write_skips"]

SKIP_COLUMNS = ("case_id", "path", "reason")
# Outputs whose results a journal can hold (FigureResult.to_json writes them whole).
JOURNALED = ("row", "table")

log = logging.getLogger(__name__)


def skip_path(out: str | os.PathLike[str]) -> Path:
    """The skip file beside an output: ``submission.csv`` -> ``submission.skipped.csv``."""
    p = Path(out)
    return p.with_name(f"{p.stem}.skipped.csv")


def journal_path(out: str | os.PathLike[str]) -> Path:
    """The resume journal beside an output: ``submission.csv.journal.jsonl``."""
    p = Path(out)
    return p.with_name(f"{p.name}.journal.jsonl")


def write_skips(path: str | os.PathLike[str], results: Sequence[FigureResult]) -> int:
    """Write ``case_id,path,reason`` for every skipped figure (header only when none), so
    a skip file never outlives the run it describes. Returns the number of skips."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SKIP_COLUMNS)
    skipped = [r for r in results if r.skip is not None]
    writer.writerows((r.uid, r.path, r.skip) for r in skipped)
    write_text(path, buf.getvalue())
    return len(skipped)


def _stop_if_strict(result: FigureResult, strict: bool) -> None:
    if result.fatal is not None:
        raise ForgesegError(f"cannot build the detector in a worker: {result.fatal}")
    if result.skip is None:
        return
    if result.error is not None and (strict or raise_errors_requested()):
        raise RuntimeError(f"{result.path}: {result.skip}\n{result.error}")
    if strict:
        raise DataError(result.path, result.skip)


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _engine(
    spec: DetectorSpec,
    todo: Sequence[FigureTask],
    workers: int,
    scheduler: Any,
    strict: bool,
) -> Iterator[FigureResult]:
    if scheduler is not None or workers > 1:
        # Largest first: a big figure started last would leave every other worker idle
        # while it runs. Output order is restored from the task index.
        todo = sorted(todo, key=lambda t: -_file_size(t.path))
    if scheduler is not None:
        from forgeseg.pipeline.corpus.dask_engine import iter_dask

        return iter_dask(spec, todo, scheduler=scheduler)
    return iter_local(spec, todo, workers=min(workers, max(len(todo), 1)), raise_errors=strict)


def run_corpus(
    spec: DetectorSpec,
    tasks: Sequence[FigureTask],
    *,
    workers: int = 1,
    scheduler: Any = None,
    journal: Journal | None = None,
    strict: bool = False,
    progress: bool = True,
    desc: str = "predict",
) -> list[FigureResult]:
    """Judge every task, in input order; figures a journal already holds are not redone.

    ``scheduler``: a Dask scheduler address (or cluster) instead of ``workers`` local
    processes. ``strict``: a refused figure raises :class:`DataError` (an unexpected
    error re-raises) instead of being recorded as a skip. Each skip is logged.
    """
    from tqdm import tqdm

    if journal is not None and spec.output not in JOURNALED:
        raise ValueError(f"only {' and '.join(JOURNALED)} results are journaled")
    done = journal.load() if journal is not None else {}
    wanted = {t.index for t in tasks}
    done = {i: r for i, r in done.items() if i in wanted}
    if done and journal is not None:
        log.info(
            "resuming: %d of %d figures already judged (%s)", len(done), len(tasks), journal.path
        )
    todo = [t for t in tasks if t.index not in done]
    results = dict(done)
    bar = tqdm(total=len(tasks), initial=len(done), desc=desc, unit="figure", disable=not progress)
    # Nothing left (a finished run resumed): no detector is built, no pool started.
    stream = _engine(spec, todo, workers, scheduler, strict) if todo else iter(())
    try:
        for result in stream:
            _stop_if_strict(result, strict)
            if result.skip is not None:
                log.warning("%s: skipped (%s)", result.path, result.skip)
            if journal is not None and not result.worker_died:
                journal.append(result)
            results[result.index] = result
            bar.update()
    finally:
        # Stops the pool or the Dask client now, also when a strict stop ends the loop.
        close = getattr(stream, "close", None)
        if close is not None:
            close()
        bar.close()
        if journal is not None:
            journal.close()
    return [results[t.index] for t in tasks]
