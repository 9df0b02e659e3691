"""The local pool's workers live and die with the run: killed with their parent, and one
killed by the OS (as for want of memory) costs the run only the figure that kills it."""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from forgeseg.config import DetectConfig
from forgeseg.core.atomic import save_png
from forgeseg.core.errors import DataError, ForgesegError
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.corpus import DetectorSpec, FigureTask, Journal, run_corpus
from forgeseg.pipeline.corpus.pool import WORKER_DIED, iter_local

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)

HERE = Path(__file__).resolve().parent
DETECT = DetectConfig(method="geometric", matchers=("dense",), min_area_fraction=0.0)
KILLER = 0  # the task whose figure kills its worker


@pytest.fixture
def faults(monkeypatch):
    """The module of dying specs, importable by name in this process and in spawned workers."""
    monkeypatch.syspath_prepend(str(HERE))
    return importlib.import_module("corpus_faults")


@pytest.fixture
def tasks(tmp_path, make_figure, faults) -> list[FigureTask]:
    """Four figures, as many as two workers hold at once; the first has the killer's size
    (and, the largest file, is sent first)."""
    out = []
    for i in range(4):
        image = make_figure(i, copy=i % 2 == 1)
        if i == KILLER:
            h, w = faults.KILLER_SHAPE
            image = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)
        save_png(tmp_path / f"fig{i}.png", image)
        out.append(FigureTask(i, f"fig{i}", str(tmp_path / f"fig{i}.png")))
    return out


def _alive(pid: int) -> bool:
    # An orphan's zombie waits for a reaper that a container may not have: it runs nothing.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_figure_that_kills_its_worker_is_skipped_and_the_others_are_judged(
    faults, tasks, tmp_path, caplog
):
    spec = faults.KillerFigureSpec(DETECT, DecisionConfig("geometric"))
    journal = Journal(tmp_path / "j.jsonl", "key")
    with caplog.at_level(logging.WARNING):
        results = run_corpus(spec, tasks, workers=2, journal=journal, progress=False)

    killed = results[KILLER]
    assert (killed.skip, killed.worker_died, killed.annotation) == (WORKER_DIED, True, "authentic")
    plain = DetectorSpec(DETECT, DecisionConfig("geometric"))
    alone = list(iter_local(plain, tasks[1:], workers=1))  # this process: nothing dies
    assert [r.skip for r in results[1:]] == [None] * 3
    assert [r.annotation for r in results[1:]] == [r.annotation for r in alone]
    assert results[1].annotation != "authentic"  # a copy was found: real work came back
    # The pool broke with more than the culprit in flight: those were judged again, alone.
    found = (re.search(r"judging the (\d+) figure", r.getMessage()) for r in caplog.records)
    [held] = [int(m[1]) for m in found if m]
    assert held >= 2
    # A death is not journaled: memory decided it, and a rerun must try the figure again.
    lines = (tmp_path / "j.jsonl").read_text().splitlines()[1:]
    assert sorted(json.loads(line)["index"] for line in lines) == [1, 2, 3]


def test_strict_mode_stops_at_a_worker_death_naming_the_figure(faults, tasks):
    spec = faults.KillerFigureSpec(DETECT, DecisionConfig("geometric"))
    with pytest.raises(DataError, match=re.escape(f"{tasks[KILLER].path}: a worker process died")):
        run_corpus(spec, tasks[:2], workers=2, strict=True, progress=False)


def test_workers_that_die_building_the_detector_stop_the_run(faults, tasks):
    spec = faults.DyingBuildSpec(DETECT, DecisionConfig("geometric"))
    with pytest.raises(ForgesegError, match="fresh worker processes in a row were killed") as err:
        list(iter_local(spec, tasks[:2], workers=2))
    assert tasks[0].path in str(err.value)


TIE = textwrap.dedent(
    """
    import ctypes, signal, sys
    from forgeseg.pipeline.corpus.worker import die_with_parent

    die_with_parent(int(sys.argv[1]))
    sig = ctypes.c_int()
    ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
    print(signal.Signals(sig.value).name, flush=True)
    die_with_parent(-1)  # as if the parent had died before the signal was armed
    print("still running", flush=True)
    """
)


@linux_only
def test_a_worker_arms_the_parent_death_signal_or_exits_if_orphaned_already():
    done = subprocess.run(
        [sys.executable, "-c", TIE, str(os.getpid())], capture_output=True, text=True, timeout=60
    )
    assert (done.stdout, done.returncode) == ("SIGKILL\n", 1), done.stderr


# A run that judges figures until it is killed; it prints its pool's worker pids once.
PARENT = textwrap.dedent(
    """
    import itertools, sys, time
    import psutil
    from forgeseg.config import DetectConfig
    from forgeseg.decision.rules import DecisionConfig
    from forgeseg.pipeline.corpus import DetectorSpec, FigureTask
    from forgeseg.pipeline.corpus.pool import iter_local

    def tasks():
        for i in itertools.count():
            time.sleep(0.05)  # a trickle: the workers stay up without taking the cores
            yield FigureTask(i, str(i), sys.argv[1])

    spec = DetectorSpec(DetectConfig(method="geometric", matchers=("dense",)),
                        DecisionConfig("geometric"))
    shown = False
    for _ in iter_local(spec, tasks(), workers=2):
        pids = [p.pid for p in psutil.Process().children()
                if "spawn_main" in " ".join(p.cmdline())]
        if len(pids) == 2 and not shown:
            print(*pids, flush=True)
            shown = True
    """
)


@linux_only
def test_pool_workers_die_when_their_parent_is_killed(tmp_path, make_figure):
    save_png(tmp_path / "fig.png", make_figure(0, copy=True))
    out = tmp_path / "pids.txt"
    with out.open("w") as stdout:
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT, str(tmp_path / "fig.png")],
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not out.read_text().strip():
            assert parent.poll() is None, parent.stderr.read().decode()
            assert time.monotonic() < deadline, "the pool never started its two workers"
            time.sleep(0.1)
        workers = [int(pid) for pid in out.read_text().split()]
        assert len(workers) == 2 and all(_alive(pid) for pid in workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in workers if _alive(pid)]
        assert not left, f"workers {left} outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)  # only when the test failed: leave no orphan
        parent.stderr.close()
