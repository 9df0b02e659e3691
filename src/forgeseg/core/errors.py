"""User-facing errors.

Anything a user can cause (a bad file, a bad param) is raised as one of these, with the
offending path and the problem in plain words, so the CLI and stage scripts can print one
line instead of a traceback from deep inside NumPy, PIL or OpenCV.
"""

from __future__ import annotations

import os


class ForgesegError(Exception):
    """Base class: the CLI prints ``str(err)`` and exits non-zero."""


class DataError(ForgesegError):
    """A data file is missing, unreadable or malformed."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ParamsError(ForgesegError):
    """``params.yaml`` (or a CLI option) holds a value the pipeline cannot use."""


class ScoreError(ForgesegError):
    """A solution or submission file cannot be scored (missing rows, bad RLE, ...)."""
