"""Figures on local processes: one worker in-process, or a pool of spawned processes.

Results come back in completion order (the caller journals each as it lands and re-orders
by task index). At most ``window`` figures are in flight, so memory stays bounded however
long the corpus is. Each worker process builds its detector once, in its initializer.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from forgeseg.core.errors import ForgesegError
from forgeseg.decision.detector import Detector
from forgeseg.pipeline.corpus.figure import (
    DetectorSpec,
    FigureResult,
    FigureTask,
    limit_threads,
    run_figure,
)

__all__ = ["IN_FLIGHT", "default_workers", "iter_local"]

IN_FLIGHT = 2  # figures queued per worker: one running, one waiting, none piling up
# Libraries that size their thread pools from the environment when they load: a spawned
# worker loads them before its initializer could call any setter.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_worker: dict[str, object] = {}


def default_workers() -> int:
    """The cores this process may use (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _init_worker(spec: DetectorSpec) -> None:
    try:
        _worker["detector"] = spec.build()
        limit_threads()
    except Exception as exc:  # shown by the parent; an exception here would only break the pool
        _worker["fatal"] = str(exc) if isinstance(exc, ForgesegError) else repr(exc)
    _worker["spec"] = spec


def _work(task: FigureTask) -> FigureResult:
    if "fatal" in _worker:
        return FigureResult(task.index, task.uid, task.path, fatal=str(_worker["fatal"]))
    detector = _worker["detector"]
    assert isinstance(detector, Detector)
    spec = _worker["spec"]
    assert isinstance(spec, DetectorSpec)
    # Errors come back as data: some exceptions (DataError among them) do not survive
    # pickling, and the parent decides whether strict mode turns them into a stop.
    return run_figure(detector, spec, task, raise_errors=False)


@contextlib.contextmanager
def _single_threaded_children() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    for k in _THREAD_VARS:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _in_process(
    spec: DetectorSpec, tasks: Iterable[FigureTask], raise_errors: bool
) -> Iterator[FigureResult]:
    detector = spec.build()
    torch_threads = None
    if "torch" in sys.modules:
        import torch

        torch_threads = torch.get_num_threads()
    import cv2

    cv2_threads = cv2.getNumThreads()
    limit_threads()  # the same thread counts as a pool worker: the same float sums
    try:
        for task in tasks:
            yield run_figure(detector, spec, task, raise_errors=raise_errors)
    finally:
        cv2.setNumThreads(cv2_threads)
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)


def iter_local(
    spec: DetectorSpec,
    tasks: Iterable[FigureTask],
    *,
    workers: int,
    raise_errors: bool = False,
    window: int | None = None,
) -> Iterator[FigureResult]:
    """Judge every task on ``workers`` processes (1: in this process); completion order.

    ``raise_errors`` applies in-process only; pool workers always return errors as data.
    Raises :class:`ForgesegError` when a worker process dies (out of memory, say).
    """
    if workers <= 1:
        yield from _in_process(spec, tasks, raise_errors)
        return
    window = window or workers * IN_FLIGHT
    ctx = multiprocessing.get_context("spawn")  # fork under OpenMP/torch threads can hang
    with _single_threaded_children():
        pool = ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=(spec,)
        )
    pending: dict[Future[FigureResult], FigureTask] = {}
    it = iter(tasks)
    try:
        while True:
            while len(pending) < window:
                task = next(it, None)
                if task is None:
                    break
                with _single_threaded_children():
                    pending[pool.submit(_work, task)] = task
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: pending[f].index):
                task = pending.pop(fut)
                try:
                    yield fut.result()
                except BrokenProcessPool as err:
                    raise ForgesegError(
                        f"{task.path}: a worker process died while judging this figure "
                        "(killed by the OS, e.g. out of memory); rerun with the same "
                        "arguments to resume, or with fewer workers"
                    ) from err
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
