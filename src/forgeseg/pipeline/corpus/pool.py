"""Figures on local processes: one worker in-process, or a pool of spawned processes.

Results come back in completion order (the caller journals each as it lands and re-orders
by task index). At most ``window`` figures are in flight, so memory stays bounded however
long the corpus is. Each worker process builds its detector once, in its initializer
(:mod:`.worker`), and dies with this process.

A worker the OS kills (out of memory, say) breaks the whole pool, and every figure in
flight fails with it, not only the one that killed it. Those figures are judged again one
at a time on a fresh one-worker pool: one that kills its worker again is recorded as a
skip, the others come back judged, and the run goes on with a fresh full pool.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext
from typing import Any

from forgeseg.core.errors import ForgesegError
from forgeseg.pipeline.corpus.figure import (
    DetectorSpec,
    FigureResult,
    FigureTask,
    limit_threads,
    run_figure,
)
from forgeseg.pipeline.corpus.worker import init_worker, ping, work

__all__ = ["IN_FLIGHT", "MAX_BARE_DEATHS", "WORKER_DIED", "default_workers", "iter_local"]

IN_FLIGHT = 2  # figures queued per worker: one running, one waiting, none piling up
# Fresh workers killed in a row before they judged a figure: then the detector's build
# (or the machine) kills every worker, no figure is to blame, and the run must stop.
MAX_BARE_DEATHS = 2
WORKER_DIED = (
    "a worker process died while judging this figure (killed by the OS, e.g. out of memory)"
)
# Libraries that size their thread pools from the environment when they load: a spawned
# worker loads them before its initializer could call any setter.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

log = logging.getLogger(__name__)


def default_workers() -> int:
    """The cores this process may use (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


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


class _Pool:
    """The process pool of the moment: started on first use, replaced after a death."""

    def __init__(self, spec: DetectorSpec, ctx: BaseContext) -> None:
        self.spec = spec
        self._ctx = ctx
        self._pool: ProcessPoolExecutor | None = None
        self._size = 0
        self.proven = False  # a worker of this pool has judged a figure and lived

    def submit(self, size: int, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn(*args)`` on a pool of ``size`` workers (a new one if the size differs).
        Raises BrokenProcessPool when a worker of the current pool has died."""
        if self._pool is None or self._size != size:
            self.close()
            self._pool = ProcessPoolExecutor(
                size,
                mp_context=self._ctx,
                initializer=init_worker,
                initargs=(self.spec, os.getpid()),
            )
            self._size = size
        # Workers start on submit, and read the thread variables as they start.
        with _single_threaded_children():
            return self._pool.submit(fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None
        self.proven = False


def _died(fut: Future[Any]) -> bool:
    """The future failed because its pool broke: a worker process died."""
    return fut.done() and not fut.cancelled() and isinstance(fut.exception(), BrokenProcessPool)


def _by_index(tasks: Iterable[FigureTask]) -> list[FigureTask]:
    return sorted(tasks, key=lambda t: t.index)


def _settle(
    pool: _Pool, pending: dict[Future[FigureResult], FigureTask]
) -> tuple[list[FigureResult], list[FigureTask]]:
    """After a death: (results that came back first, tasks lost with the pool); the broken
    pool is closed."""
    wait(pending)  # a broken pool fails all the futures it holds at once
    done = sorted((f.result() for f in pending if not _died(f)), key=lambda r: r.index)
    lost = _by_index(t for f, t in pending.items() if _died(f))
    pending.clear()
    pool.close()
    if lost:
        log.warning(
            "a worker process died (killed by the OS, e.g. out of memory): judging the %d "
            "figure(s) it held one at a time, to skip only the one that kills a worker",
            len(lost),
        )
    return done, lost


def _alone(pool: _Pool, task: FigureTask) -> FigureResult:
    """Judge ``task`` on a one-worker pool, the only figure there: a death is its own.

    A fresh worker first answers a ping, which runs before the figure on the one worker:
    a worker killed while building its detector is never blamed on a figure.
    """
    bare_deaths = 0
    while True:
        first: Future[Any] | None = None
        try:
            if not pool.proven:
                first = pool.submit(1, ping)
            fut = pool.submit(1, work, task)
        except BrokenProcessPool:  # its worker died idle: the figure never reached it
            pool.close()
            continue
        wait([fut])
        if not _died(fut):
            pool.proven = True
            return fut.result()
        pool.close()
        if first is None or not _died(first):
            return FigureResult(task.index, task.uid, task.path, skip=WORKER_DIED, worker_died=True)
        bare_deaths += 1
        if bare_deaths >= MAX_BARE_DEATHS:
            model = f" (model {pool.spec.model_path})" if pool.spec.model_path else ""
            raise ForgesegError(
                f"{task.path} and the figures after it cannot be judged: {bare_deaths} fresh "
                f"worker processes in a row were killed (by the OS, e.g. out of memory) while "
                f"building the detector{model}, before any figure; rerun with fewer workers "
                "or more memory"
            )


def _fill(
    pool: _Pool,
    workers: int,
    window: int,
    pending: dict[Future[FigureResult], FigureTask],
    next_task: Callable[[], FigureTask | None],
    retry: list[FigureTask],
) -> bool:
    """Submit until ``window`` figures are in flight; True when the pool is found broken."""
    while len(pending) < window:
        task = retry.pop() if retry else next_task()
        if task is None:
            return False
        try:
            pending[pool.submit(workers, work, task)] = task
        except BrokenProcessPool:
            retry.append(task)  # never sent: not a suspect, only sent to the next pool
            return True
    return False


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
    A figure whose worker process dies again when it is judged alone comes back as a skip
    (:data:`WORKER_DIED`, ``worker_died``); raises :class:`ForgesegError` when fresh
    workers die before judging anything (:data:`MAX_BARE_DEATHS` in a row).
    """
    if workers <= 1:
        yield from _in_process(spec, tasks, raise_errors)
        return
    window = window or workers * IN_FLIGHT
    # spawn: fork under OpenMP/torch threads can hang
    pool = _Pool(spec, multiprocessing.get_context("spawn"))
    pending: dict[Future[FigureResult], FigureTask] = {}
    it = iter(tasks)
    retry: list[FigureTask] = []
    try:
        while True:
            broken = _fill(pool, workers, window, pending, lambda: next(it, None), retry)
            if not pending and not broken:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            if broken or any(_died(f) for f in done):
                finished, lost = _settle(pool, pending)
                yield from finished
                for task in lost:
                    yield _alone(pool, task)
                continue
            for fut in sorted(done, key=lambda f: pending[f].index):
                del pending[fut]
                yield fut.result()
    finally:
        for fut in pending:
            fut.cancel()
        pool.close()
