"""Run generation jobs on worker processes, in job order, failing loudly instead of hanging.

Workers run in a ``concurrent.futures.ProcessPoolExecutor`` rather than a
``multiprocessing.Pool``: when a worker dies (OOM killer, a crash in native code, a spawn
bootstrap error) a Pool silently starts a replacement and waits forever for the lost
task, while the executor marks itself broken and fails every pending future, which we
turn into a clear error. A watchdog bounds the wait for any single case as well.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tqdm import tqdm

from forgeseg.core.errors import ForgesegError

__all__ = ["CASE_TIMEOUT", "run_parallel"]

# Seconds to wait for the next case in order; one takes well under a second, so only a
# stuck worker (or a machine thrashing far beyond use) gets near this.
CASE_TIMEOUT = 600.0
_IN_FLIGHT = 8  # cases queued per worker: keeps both busy without holding every result

_Pending = deque[tuple[str, Future[Any]]]


def _init_worker() -> None:
    import cv2

    # Two processes on two cores: OpenCV's own thread pool would only oversubscribe them.
    cv2.setNumThreads(1)


def _result(fut: Future[Any], case_id: str, out_dir: str | os.PathLike[str], timeout: float) -> Any:
    """``fut``'s result, or a :class:`ForgesegError` saying which case failed and how."""
    try:
        return fut.result(timeout=timeout)
    except BrokenProcessPool as err:
        raise ForgesegError(
            f"synth {out_dir}: a worker process died while generating case {case_id} "
            "(killed by the OS, e.g. out of memory, or failed to start); "
            "retry with fewer workers or smaller figures"
        ) from err
    except FutureTimeout as err:
        raise ForgesegError(
            f"synth {out_dir}: case {case_id} produced nothing in {timeout:.0f} s; "
            "a worker is stuck or the machine is overloaded"
        ) from err
    except Exception as err:
        raise ForgesegError(
            f"synth {out_dir}: generating case {case_id} failed: {type(err).__name__}: {err}"
        ) from err


def _collect(
    pool: ProcessPoolExecutor,
    fn: Callable[[Any], Any],
    jobs: list[Any],
    ids: list[str],
    window: int,
    pending: _Pending,
    out_dir: str | os.PathLike[str],
    timeout: float,
    bar: tqdm | None,
) -> list[Any]:
    """Submit ``jobs``, at most ``window`` in ``pending`` at a time, and collect in order."""
    results: list[Any] = []
    it = iter(zip(ids, jobs, strict=True))
    while True:
        while len(pending) < window:
            nxt = next(it, None)
            if nxt is None:
                break
            pending.append((nxt[0], pool.submit(fn, nxt[1])))
        if not pending:
            return results
        case_id, fut = pending.popleft()
        results.append(_result(fut, case_id, out_dir, timeout))
        if bar is not None:
            bar.update()


def _abort(pool: ProcessPoolExecutor, pending: _Pending) -> None:
    """Stop at once: do not wait for queued cases, and stop workers that may be stuck, so
    the error surfaces now instead of after the pool drains (or never)."""
    for _, fut in pending:
        fut.cancel()
    procs = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()


def run_parallel(
    fn: Callable[[Any], Any],
    jobs: list[Any],
    ids: list[str],
    workers: int,
    out_dir: str | os.PathLike[str],
    *,
    timeout: float = CASE_TIMEOUT,
    bar: tqdm | None = None,
) -> list[Any]:
    """``[fn(job) for job in jobs]`` on ``workers`` spawned processes, in job order.

    ``fn`` must be picklable (module level); ``ids`` names each job in errors. Raises
    :class:`forgeseg.core.errors.ForgesegError` naming the job and ``out_dir`` when a worker
    process dies, ``fn`` raises, or a job's result does not arrive within ``timeout``
    seconds of the previous one; workers still running are then terminated.
    """
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker)
    pending: _Pending = deque()
    failed = True
    try:
        window = workers * _IN_FLIGHT
        results = _collect(pool, fn, jobs, ids, window, pending, out_dir, timeout, bar)
        failed = False
    finally:
        if failed:
            _abort(pool, pending)
        else:
            pool.shutdown(wait=True)
    return results
