"""Figures on a Dask cluster: the same per-figure function, streamed with bounded memory.

``dask scheduler`` on one machine and ``dask worker ADDRESS`` on each of the others make
the cluster; ``forgeseg predict --scheduler ADDRESS`` (or :func:`iter_dask`) sends it the
figures. At most ``window`` figures are in flight: a new one is submitted as each result
comes back (``distributed.as_completed``), so neither the client nor the scheduler holds
the whole corpus. Workers must see the figures under the same paths (a shared disk).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from forgeseg.core.errors import ForgesegError
from forgeseg.pipeline.corpus.figure import (
    DetectorSpec,
    FigureResult,
    FigureTask,
    detector_for,
    run_figure,
)

__all__ = ["iter_dask"]


def _remote(spec: DetectorSpec, task: FigureTask) -> FigureResult:
    """Runs on a Dask worker: each worker thread builds its detector once, on first use."""
    try:
        detector = detector_for(spec)
    except Exception as exc:
        return FigureResult(task.index, task.uid, task.path, fatal=str(exc))
    return run_figure(detector, spec, task, raise_errors=False)


def _client(scheduler: Any) -> Any:
    from distributed import Client

    try:
        return Client(scheduler, set_as_default=False, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise ForgesegError(
            f"--scheduler {scheduler}: no Dask scheduler answers there ({exc}); start one "
            "with `dask scheduler` and workers with `dask worker ADDRESS`"
        ) from None


def iter_dask(
    spec: DetectorSpec,
    tasks: Iterable[FigureTask],
    *,
    scheduler: Any,
    window: int | None = None,
) -> Iterator[FigureResult]:
    """Judge every task on the cluster at ``scheduler`` (an address such as
    ``tcp://host:8786``, or a ``LocalCluster``); results in completion order."""
    from distributed import as_completed

    client = _client(scheduler)
    try:
        threads = sum(client.nthreads().values())
        if threads == 0:
            raise ForgesegError(f"--scheduler {scheduler}: the cluster has no workers yet")
        window = window or 2 * threads
        # Sent once to every worker instead of once with each figure.
        [spec_future] = client.scatter([spec], broadcast=True)
        it = iter(tasks)
        run = uuid.uuid4().hex[:12]  # two runs on one cluster must not share task keys

        def submit(task: FigureTask) -> Any:
            return client.submit(
                _remote, spec_future, task, pure=False, key=f"figure-{run}-{task.index}"
            )

        stream = as_completed([submit(t) for t in islice(it, window)], loop=client.loop)
        for fut in stream:
            result = fut.result()
            fut.release()
            nxt = next(it, None)
            if nxt is not None:
                stream.add(submit(nxt))
            yield result
    finally:
        client.close()
