"""Predicting a whole corpus: skip and record bad figures, every core, resume, Dask.

``run_corpus(spec, tasks, workers=..., scheduler=..., journal=...)`` judges every
:class:`FigureTask` with the detector a :class:`DetectorSpec` describes and returns one
:class:`FigureResult` per task, in input order, whichever engine ran it: this process,
a local process pool, or a Dask cluster. A figure that cannot be read, is refused, makes
the detector fail, or gets its pool worker killed (out of memory) is a result with a
``skip`` reason, not the end of the run.
"""

from forgeseg.pipeline.corpus.figure import (
    RAISE_ERRORS_ENV,
    DetectorSpec,
    FigureResult,
    FigureTask,
    run_figure,
)
from forgeseg.pipeline.corpus.journal import Journal, corpus_key
from forgeseg.pipeline.corpus.pool import default_workers
from forgeseg.pipeline.corpus.run import (
    SKIP_COLUMNS,
    journal_path,
    run_corpus,
    skip_path,
    write_skips,
)

__all__ = [
    "RAISE_ERRORS_ENV",
    "SKIP_COLUMNS",
    "DetectorSpec",
    "FigureResult",
    "FigureTask",
    "Journal",
    "corpus_key",
    "default_workers",
    "journal_path",
    "run_corpus",
    "run_figure",
    "skip_path",
    "write_skips",
]
