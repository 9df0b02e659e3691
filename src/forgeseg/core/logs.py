"""What every stage script and CLI command shares: plain-words logging and one-line errors."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from forgeseg.core.errors import ForgesegError

__all__ = ["run_main", "setup_logging"]


def setup_logging(level: int = logging.INFO) -> None:
    """Log as ``forgeseg <stage>: message``; only rank 0 speaks under torchrun."""
    if int(os.environ.get("RANK", "0")) != 0:
        level = logging.WARNING
    stage = os.environ.get("DVC_STAGE", "")
    prefix = f"forgeseg {stage}: " if stage else "forgeseg: "
    logging.basicConfig(level=level, format=f"{prefix}%(message)s", stream=sys.stderr, force=True)
    # Third-party chatter (DVCLive's "not inside DVC" notes, PIL debug) is not our story.
    for name in ("dvclive", "PIL", "matplotlib", "urllib3", "timm"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run_main(fn: Callable[[], Any]) -> None:
    """Run ``fn``; a :class:`ForgesegError` becomes one line on stderr and exit status 1."""
    setup_logging()
    try:
        fn()
    except ForgesegError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
