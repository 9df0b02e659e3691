"""The side of the local pool that runs in each spawned worker process.

A worker builds its detector once, in its initializer, and ties its life to the process
that started it: a parent killed with ``kill -9`` (or by the OOM killer) leaves no worker
behind judging figures for nobody.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

from forgeseg.core.errors import ForgesegError
from forgeseg.decision.detector import Detector
from forgeseg.pipeline.corpus.figure import (
    DetectorSpec,
    FigureResult,
    FigureTask,
    limit_threads,
    run_figure,
)

__all__ = ["die_with_parent", "init_worker", "ping", "work"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_worker: dict[str, object] = {}


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux only).

    Elsewhere this does nothing: macOS and Windows have no parent-death signal, and the
    stand-in, a thread in every worker polling its parent (as the train stage's lifeline
    runs), is not worth its cost there: the corpus runs that get killed (DVC stages, batch
    schedulers, the OOM killer) run on Linux.

    The signal fires when the *thread* that started this process ends: ``pool.submit``
    starts workers, so the pool must be driven from a thread that outlives it (the
    engine's generator shuts its pool down before it returns).
    """
    if not sys.platform.startswith("linux"):
        return
    # SIGKILL, not SIGTERM: a worker holds nothing to clean up (its results go back
    # through the pool, never to a file), and nothing in it can catch or delay SIGKILL.
    # Its own copy of this helper, not the train stage's lifeline: importing that
    # package would bring torch and the training loop into every worker, and make the
    # infer and evaluate stages depend on the training code.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        log.debug("no prctl: %s", exc)
    # The parent may have died before the signal was armed: this process was then
    # already handed to another parent, and the kernel will never send it.
    if os.getppid() != parent_pid:
        os._exit(1)


def init_worker(spec: DetectorSpec, parent_pid: int) -> None:
    """A pool initializer: tie to the parent, then build the detector once."""
    die_with_parent(parent_pid)
    try:
        _worker["detector"] = spec.build()
        limit_threads()
    except Exception as exc:  # shown by the parent; an exception here would only break the pool
        _worker["fatal"] = str(exc) if isinstance(exc, ForgesegError) else repr(exc)
    _worker["spec"] = spec


def ping() -> int:
    """This worker's pid: a fresh worker that answers has survived its initializer."""
    return os.getpid()


def work(task: FigureTask) -> FigureResult:
    """Judge one figure in this worker; every error comes back as data."""
    if "fatal" in _worker:
        return FigureResult(task.index, task.uid, task.path, fatal=str(_worker["fatal"]))
    detector = _worker["detector"]
    assert isinstance(detector, Detector)
    spec = _worker["spec"]
    assert isinstance(spec, DetectorSpec)
    # Errors come back as data: some exceptions (DataError among them) do not survive
    # pickling, and the parent decides whether strict mode turns them into a stop.
    return run_figure(detector, spec, task, raise_errors=False)
