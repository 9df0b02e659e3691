"""A training worker ends when the process that launched it ends.

``torchrun`` starts each worker in a session of its own, and its elastic agent outlives a
parent killed with ``kill -9``: ``dvc exp run`` killed that way left both training, writing
``models/`` and ``checkpoints/`` for nobody. :func:`tie_to_launcher` ties the worker to the
processes above it:

- its parent (the agent, or whoever ran ``python stages/train.py``), through Linux's
  parent-death signal, and a watchdog thread for other systems;
- under torchrun, the agent's launcher too (``dvc``, or the shell that ran torchrun), which
  only the watchdog can see. Shells that merely wait on their command are looked through,
  up to the process that started them.

A session leader that owns a terminal (an interactive shell) is not watched: when it
dies the terminal hangs up its foreground job, and a job started with ``nohup`` or in the
background is meant to outlive it.

When a watched process goes, the worker asks its agent to stop every rank (SIGTERM, which
the agent passes to all its workers) and stops itself the same way. SIGTERM becomes
``SystemExit`` in the main thread, so an atomic write in progress removes its temporary
file and no output is left half-written; a worker stuck in one long native call is ended
after ``grace_s`` seconds.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass

import psutil

__all__ = ["Lifeline", "tie_to_launcher"]

log = logging.getLogger(__name__)

# Processes that only run their command and wait for it: their own death says nothing, their
# launcher's does. Compared with the executable's name.
_SHELLS = frozenset({"sh", "dash", "bash", "zsh", "ksh", "mksh", "fish", "tcsh", "csh", "busybox"})
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class Lifeline:
    """The processes this worker lives by, and the thread that watches them."""

    watched: list[psutil.Process]
    agent: psutil.Process | None
    poll_s: float
    grace_s: float

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.watched]

    def first_gone(self) -> psutil.Process | None:
        """The first watched process that has ended (a zombie counts: it is only unreaped)."""
        for proc in self.watched:
            try:
                if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                    return proc
            except psutil.NoSuchProcess:
                return proc
        return None

    def watch(self) -> None:
        """Poll until a watched process ends, then stop this worker (and its agent)."""
        while (gone := self.first_gone()) is None:
            time.sleep(self.poll_s)
        self._end(gone)

    def _end(self, gone: psutil.Process) -> None:
        self._stop_agent(gone)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
        time.sleep(self.grace_s)
        log.warning("still running %.0f s after SIGTERM: exiting now", self.grace_s)
        os._exit(128 + signal.SIGTERM)

    def _stop_agent(self, gone: psutil.Process) -> None:
        log.warning(
            "the process that started this training (pid %d) has ended: stopping, "
            "as nothing is left to collect what it writes",
            gone.pid,
        )
        # One rank per machine tells the agent, which then stops all of its workers.
        if self.agent is not None and int(os.environ.get("LOCAL_RANK", "0")) == 0:
            _signal(self.agent, signal.SIGTERM)


def tie_to_launcher(*, poll_s: float = 0.5, grace_s: float = 20.0) -> Lifeline:
    """Make this process stop when its launcher stops; call once, at the start of a worker.

    Installs a SIGTERM handler (SIGTERM raises ``SystemExit(143)`` in the main thread),
    the parent-death signal on Linux, and a daemon thread polling the launchers every
    ``poll_s`` seconds. Returns the :class:`Lifeline`; its ``pids`` are the processes
    watched (none when launched straight from an interactive terminal).
    """
    me = psutil.Process()
    under_torchrun = "TORCHELASTIC_RUN_ID" in os.environ
    watched = _launchers(me, through_parent=under_torchrun)
    agent = me.parent() if under_torchrun else None
    _install_sigterm()
    if watched and watched[0].pid == os.getppid():
        _set_parent_death_signal(signal.SIGTERM)
    line = Lifeline(watched, agent, poll_s, grace_s)
    gone = line.first_gone()
    if gone is not None:  # died before the signal was armed
        line._stop_agent(gone)
        raise SystemExit(128 + signal.SIGTERM)
    if watched:
        log.info(
            "this worker stops when any of these ends: %s",
            ", ".join(f"{_name(p)} (pid {p.pid})" for p in watched),
        )
        threading.Thread(target=line.watch, name="lifeline", daemon=True).start()
    return line


def _launchers(me: psutil.Process, *, through_parent: bool) -> list[psutil.Process]:
    """The parent and, through torchrun's agent and waiting shells, the process above."""
    chain: list[psutil.Process] = []
    proc = me.parent()
    look_through = through_parent
    while proc is not None and proc.pid > 1 and not _owns_terminal(proc):
        chain.append(proc)
        if not (look_through or _name(proc) in _SHELLS):
            break
        look_through = False
        proc = proc.parent()
    return chain


def _owns_terminal(proc: psutil.Process) -> bool:
    try:
        return os.getsid(proc.pid) == proc.pid and proc.terminal() is not None
    except (psutil.Error, OSError):
        return False


def _name(proc: psutil.Process) -> str:
    """The executable's name: ``/bin/sh`` resolves to ``dash``; a script runs as python."""
    for get in (proc.exe, proc.name):
        try:
            if name := os.path.basename(get()):
                return name
        except psutil.Error:
            continue
    return ""


def _signal(proc: psutil.Process, sig: signal.Signals) -> None:
    try:
        proc.send_signal(sig)
    except psutil.Error:
        pass  # already gone: nothing left to stop


def _install_sigterm() -> None:
    stopping = False

    def on_sigterm(signum: int, frame: object) -> None:
        nonlocal stopping
        if stopping:  # the agent's SIGTERM after our own: already unwinding
            return
        stopping = True
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)


def _set_parent_death_signal(sig: signal.Signals) -> None:
    if not sys.platform.startswith("linux"):
        return  # the watchdog alone covers the parent there
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        log.debug("no prctl: %s", exc)
