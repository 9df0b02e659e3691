"""The train stage's torchrun worker ends when its launcher is killed with ``kill -9``.

A real process tree, as ``dvc repro`` builds it: a launcher process runs the stage's command
through a shell, torchrun's elastic agent starts ``stages/train.py`` in a session of its
own, and the worker trains a tiny network for many epochs in a temporary folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import yaml

from forgeseg.models.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
STAGE = REPO / "stages" / "train.py"

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process trees")

# The launcher: what DVC does with a stage: `$SHELL -c "<cmd>"`, then wait for it.
LAUNCHER = textwrap.dedent(
    """
    import subprocess, sys
    cmd = f"{sys.executable} -m torch.distributed.run --standalone --nproc-per-node=1 "
    cmd += sys.argv[1]
    sys.exit(subprocess.Popen(["/bin/sh", "-c", cmd]).wait())
    """
)


@pytest.fixture
def workdir(tmp_path: Path, make_train_data) -> Path:
    """A folder the train stage runs in: params.yaml, data, splits; long enough to kill."""
    make_train_data(tmp_path / "data", tmp_path / "data" / "splits")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["base"]["device"] = "cpu"
    raw["data"]["root"] = str(tmp_path / "data")
    raw["model"]["decoder_channels"] = [32, 16, 16, 8, 8]
    raw["train"].update(
        size=64, epochs=500, batch_size=4, synthetic_per_epoch=0, num_workers=0, gpus=1
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path


def _alive(proc: psutil.Process) -> bool:
    # An orphan's zombie waits for a reaper that a container may not have: it runs nothing.
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait_for(what: str, test, timeout: float, log: Path) -> None:
    end = time.monotonic() + timeout
    while not test():
        if time.monotonic() > end:
            pytest.fail(f"no {what} after {timeout:.0f} s; log:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.mark.parametrize("victim", ["launcher", "agent"])
def test_worker_stops_when_its_launcher_is_killed(workdir: Path, victim: str) -> None:
    log = workdir / "stage.log"
    with log.open("w") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(STAGE)],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    seen: dict[int, psutil.Process] = {}

    def cmd(proc: psutil.Process) -> str:
        try:
            return " ".join(proc.cmdline())
        except psutil.Error:
            return ""

    def training() -> bool:
        # Training for real: the worker is up and its first epoch's checkpoint is written.
        try:
            seen.update((p.pid, p) for p in psutil.Process(launcher.pid).children(recursive=True))
        except psutil.Error:
            pass
        return (
            any("-u " in cmd(p) for p in seen.values())
            and (workdir / "checkpoints" / "last.pt").exists()
        )

    try:
        _wait_for("first epoch", training, 240, log)
        (worker,) = (p for p in seen.values() if cmd(p).endswith("-u " + str(STAGE)))
        agent = worker.parent()
        assert "torch.distributed.run" in cmd(agent)
        assert os.getsid(worker.pid) != os.getsid(agent.pid)  # torchrun's own session

        os.kill(launcher.pid if victim == "launcher" else agent.pid, signal.SIGKILL)
        launcher.wait(timeout=10)
        t0 = time.monotonic()
        _wait_for("stop", lambda: not _alive(worker) and not _alive(agent), 15, log)
        stopped_in = time.monotonic() - t0
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for proc in seen.values():
            if _alive(proc):
                proc.kill()  # only when the test failed: leave no trainer behind
    assert stopped_in < 10, f"the worker took {stopped_in:.1f} s to stop"
    assert "has ended: stopping" in log.read_text() or victim == "agent"
    # Whatever was on disk is whole, and no temporary file of an interrupted write is left.
    written = [p for d in ("models", "checkpoints") for p in (workdir / d).glob("*")]
    assert [p.name for p in written if p.name.startswith(".")] == []
    for path in written:
        assert load_checkpoint(path)["epoch"] >= 0
