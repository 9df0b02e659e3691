"""The solution and submission CSV files of the competition, and scoring them.

A solution lists ``case_id,annotation,shape`` (``authentic`` or RLE runs, and the figure's
``[H, W]``); a submission lists ``case_id,annotation``. Readers check every row and raise
:class:`~forgeseg.core.errors.ScoreError` naming the file and the case ids at fault.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forgeseg.core.atomic import write_text
from forgeseg.core.errors import ScoreError
from forgeseg.core.rle import AUTHENTIC, encode_annotation
from forgeseg.scoring.score import (
    SOLUTION_COLUMNS,
    SUBMISSION_COLUMNS,
    ScoreReport,
    list_ids,
    score_frames,
)

__all__ = [
    "SOLUTION_NAME",
    "build_solution",
    "load_solution",
    "read_solution",
    "read_submission",
    "score_files",
    "solution_row",
    "write_solution",
    "write_submission",
]


def _read_csv(path: str | os.PathLike[str], columns: Sequence[str], what: str) -> list[tuple]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ScoreError(f"{p}: {what} file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScoreError(f"{p}: cannot read the {what} file ({err})") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ScoreError(f"{p}: {what} file is empty (expected a header)") from None
    except csv.Error as err:
        raise ScoreError(f"{p}: {what} file is not valid CSV ({err})") from None
    lacking = [c for c in columns if c not in header]
    if lacking:
        raise ScoreError(f"{p}: {what} file lacks column(s) {lacking}; header is {header}")
    idx = [header.index(c) for c in columns]
    rows = []
    try:
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < len(header):
                raise ScoreError(
                    f"{p}: line {line_no} has {len(row)} fields, header has {len(header)}"
                )
            rows.append(tuple(row[i] for i in idx))
    except csv.Error as err:
        raise ScoreError(f"{p}: {what} file is not valid CSV ({err})") from None
    return rows


def read_solution(path: str | os.PathLike[str]) -> list[tuple[str, str, str]]:
    """Rows ``(case_id, annotation, shape)`` of a solution CSV; other columns are ignored."""
    return _read_csv(path, SOLUTION_COLUMNS, "solution")


def read_submission(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Rows ``(case_id, annotation)`` of a submission CSV; other columns are ignored."""
    return _read_csv(path, SUBMISSION_COLUMNS, "submission")


def score_files(
    solution: str | os.PathLike[str], submission: str | os.PathLike[str]
) -> ScoreReport:
    """Official oF1 of a submission CSV against a solution CSV (see ``score_frames``).

    Errors name the file when it is unreadable or lacks columns; row errors name the case.
    """
    sol_rows = read_solution(solution)
    sub_rows = read_submission(submission)
    try:
        return score_frames(sol_rows, sub_rows)
    except ScoreError as err:
        raise ScoreError(f"{submission} vs {solution}: {err}") from None


def _write_csv(path: str | os.PathLike[str], header: Sequence[str], rows: Iterable[Sequence]):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([str(v) for v in row[: len(header)]])
    write_text(path, buf.getvalue())


def write_solution(rows: Iterable[Sequence[str]], path: str | os.PathLike[str]) -> None:
    """Write ``(case_id, annotation, shape)`` rows as a solution CSV, atomically."""
    rows = list(rows)
    short = [str(r[0]) if len(r) else "?" for r in rows if len(r) < 3]
    if short:
        raise ScoreError(f"solution rows need (case_id, annotation, shape): {list_ids(short)}")
    _write_csv(path, SOLUTION_COLUMNS, rows)


def write_submission(rows: Iterable[Sequence[str]], path: str | os.PathLike[str]) -> None:
    """Write ``(case_id, annotation)`` rows as a Kaggle submission CSV, atomically."""
    _write_csv(path, SUBMISSION_COLUMNS, rows)


def solution_row(case_id: str, instances: np.ndarray, shape: Sequence[int]) -> tuple[str, str, str]:
    """One solution row from bool (N, H, W) true instances of a figure of ``shape`` (H, W).

    A figure without a non-empty instance is written as authentic on both columns, which is
    how the official metric scores it anyway.
    """
    instances = np.asarray(instances)
    h, w = int(shape[0]), int(shape[1])
    if instances.ndim != 3 or instances.shape[1:] != (h, w):
        raise ScoreError(
            f"case {case_id!r}: masks of shape {instances.shape} do not fit a {h}x{w} figure"
        )
    annotation = encode_annotation(instances)
    if annotation == AUTHENTIC:
        return (str(case_id), AUTHENTIC, AUTHENTIC)
    return (str(case_id), annotation, json.dumps([h, w]))


def build_solution(records: Iterable[Any]) -> list[tuple[str, str, str]]:
    """Solution rows keyed by ``record.uid`` for labelled ``forgeseg.data.layout.Record`` objects.

    Forged masks are read with ``imageio.read_mask(record.mask, shape=(height, width))``.

    Raises:
        ScoreError: a record's label is neither ``authentic`` nor ``forged`` (a test figure
            with no known truth cannot be in a solution).
    """
    from forgeseg.core.imageio import read_mask  # imported late: only forged rows need it

    rows = []
    for rec in records:
        if rec.label == AUTHENTIC:
            rows.append((str(rec.uid), AUTHENTIC, AUTHENTIC))
        elif rec.label == "forged":
            shape = (int(rec.height), int(rec.width))
            rows.append(solution_row(rec.uid, read_mask(rec.mask, shape=shape), shape))
        else:
            raise ScoreError(
                f"figure {rec.uid!r} has label {rec.label!r}: only authentic or forged figures "
                "can go into a solution"
            )
    return rows


SOLUTION_NAME = "test_solution.csv"  # written by `forgeseg synth`; absent in the Kaggle copy


def load_solution(root: str | os.PathLike[str]) -> dict[str, str] | None:
    """``{case_id: annotation}`` of the data root's test solution; None when it has none."""
    path = Path(root) / SOLUTION_NAME
    if not path.is_file():
        return None
    return {row[0]: row[1] for row in read_solution(path)}
