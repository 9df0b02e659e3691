"""The resume journal: per-figure results appended as JSON lines, under a key of the run.

A run killed at any instant (``kill -9``, OOM, a lost node) keeps every figure it
finished: each result is one line, flushed and fsynced before the next figure counts as
done. The journal is the one file here not written through :mod:`forgeseg.core.atomic`,
because appending is its point; its header is written atomically, and a reader drops a
torn last line (the figure it held is simply judged again).

The key hashes what the results depend on: the input files (path, size, mtime; for a
calibration table also the truth's label and mask file), every field of the detector's
spec (settings, output kind, calibration grid, device), and the contents of the model and
calibration files. A journal under another key is stale and ignored, so a changed figure,
param or model never leaks an old result into a new output.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from forgeseg.core.atomic import write_text
from forgeseg.pipeline.corpus.figure import DetectorSpec, FigureResult, FigureTask

__all__ = ["FORMAT", "Journal", "corpus_key", "file_digest"]

FORMAT = "forgeseg-corpus-journal-v1"

log = logging.getLogger(__name__)


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes ("" when it does not exist)."""
    p = Path(path)
    if not p.is_file():
        return ""
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stat(path: str) -> list[Any]:
    try:
        st = os.stat(path)
    except OSError:
        return [path, None, None]
    return [path, st.st_size, st.st_mtime_ns]


def _truth_files(task: FigureTask) -> list[Any]:
    """What a table's truth is read from: the record's label and mask file. Nothing for a
    task without a record (a row), so the keys of row journals stay what they were."""
    if task.record is None:
        return []
    mask = _stat(task.record.mask) if task.record.mask else []
    return [task.record.label, *mask]


def corpus_key(
    tasks: Sequence[FigureTask],
    spec: DetectorSpec,
    *,
    files: Iterable[str | os.PathLike[str]] = (),
) -> str:
    """A hash of everything a run's results depend on; ``files`` (model, calibration) by
    content, inputs by path, size and modification time."""
    uses_model = spec.model_path is not None and spec.decision.method in (
        "network",
        "hybrid",
        "learned",
    )
    trees = spec.decision.learned_model
    content = {
        "format": FORMAT,
        "inputs": [[t.index, t.uid, *_stat(t.path), t.truth, *_truth_files(t)] for t in tasks],
        # Every field of the spec, so that one added later (a calibration grid, say)
        # cannot be left out; the model by content, not by path.
        "spec": {
            **dataclasses.asdict(spec),
            "model_path": file_digest(spec.model_path) if uses_model and spec.model_path else "",
            "decision": {
                **dataclasses.asdict(spec.decision),
                "learned_model": file_digest(trees) if trees else "",
            },
        },
        "files": [[str(f), file_digest(f)] for f in files],
    }
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Journal:
    """``path`` holds the results of the run keyed ``key``: :meth:`load` what a killed run
    finished, :meth:`append` each new result, :meth:`remove` once the output is written."""

    def __init__(self, path: str | os.PathLike[str], key: str) -> None:
        self.path = Path(path)
        self.key = key
        self._file: TextIO | None = None

    def load(self) -> dict[int, FigureResult]:
        """Results recorded under this key, by task index; {} for a missing or stale journal.

        Leaves the file ready for :meth:`append`: a stale one is started afresh, a torn last
        line is cut off.
        """
        found, good_bytes = self._read()
        if found is None:
            write_text(self.path, json.dumps({"journal": FORMAT, "key": self.key}) + "\n")
            return {}
        if good_bytes < self.path.stat().st_size:
            os.truncate(self.path, good_bytes)
        return found

    def _read(self) -> tuple[dict[int, FigureResult] | None, int]:
        """(results, bytes of whole lines) of a journal under this key; (None, 0) otherwise."""
        if not self.path.is_file():
            return None, 0
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        try:
            header = json.loads(lines[0])
        except (json.JSONDecodeError, UnicodeDecodeError):
            header = None
        if not isinstance(header, dict) or header.get("key") != self.key:
            log.info("%s: journal of another run (inputs or settings changed), ignored", self.path)
            return None, 0
        found: dict[int, FigureResult] = {}
        good = len(lines[0]) + 1
        # The last element follows the last newline: empty, or a line torn by a kill.
        for line in lines[1:-1]:
            try:
                result = FigureResult.from_json(json.loads(line))
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
                break  # a torn write can only be the last one; nothing after it is trusted
            found[result.index] = result
            good += len(line) + 1
        return found, good

    def append(self, result: FigureResult) -> None:
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(result.to_json()) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
