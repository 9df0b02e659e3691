"""The checks behind :func:`forgeseg.data.layout.scan`, one concern per function.

- :func:`list_entries`: what a folder of the data root holds, with hidden entries and links
  leading out of the root recorded rather than silently followed or ignored.
- :func:`check_figure`: decode one figure and its mask (run in worker processes).
- :func:`check_twins`, :func:`check_pair_shapes`: authentic figures against their forged twins.
- :func:`check_sample_submission`: ``sample_submission.csv`` against ``test_images/``.

Every finding is a :class:`Skip` whose reason reads ``"category: detail"``. A *problem*
costs the file (and fails a strict scan); a *warning* keeps the file and only informs.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from forgeseg.core.errors import DataError
from forgeseg.core.imageio import inspect_mask, verify_image

__all__ = [
    "SUBMISSION_HEADER",
    "FigureCheck",
    "Findings",
    "Skip",
    "check_figure",
    "check_pair_shapes",
    "check_sample_submission",
    "check_twins",
    "is_atomic_temp",
    "list_entries",
    "list_files",
    "run_checks",
]

# The columns of the competition's sample_submission.csv, in this order.
SUBMISSION_HEADER = ("case_id", "annotation")

# Names that forgeseg.core.atomic gives its temporary siblings: tempfile's "." + target
# name + "." + 8 random [a-z0-9_] characters (+ the target's suffix for files), and
# atomic_dir's ".<name>.old.<pid>" while it swaps folders.
_ATOMIC_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:[a-z0-9_]{8}(?P<suffix>\.[^.]+)?|old\.\d+)$")
_SHOWN = 10


@dataclass(frozen=True)
class Skip:
    """A file and what is wrong with it, ``"category: detail"``.

    In ``ScanResult.skipped`` the file was left out; in ``ScanResult.warnings`` it was kept.
    """

    path: str
    reason: str


@dataclass
class Findings:
    """Problems (the file is left out) and warnings (it is kept) gathered by one scan."""

    problems: list[Skip] = field(default_factory=list)
    warnings: list[Skip] = field(default_factory=list)

    def problem(self, path: str | Path, reason: str) -> None:
        self.problems.append(Skip(str(path), reason))

    def warn(self, path: str | Path, reason: str) -> None:
        self.warnings.append(Skip(str(path), reason))


def is_atomic_temp(name: str) -> bool:
    """Whether ``name`` is a temporary sibling left by :mod:`forgeseg.core.atomic`."""
    m = _ATOMIC_TEMP.match(name)
    if m is None:
        return False
    suffix = m.group("suffix")
    return suffix is None or m.group("name").endswith(suffix)


def list_entries(folder: Path, root: Path, found: Findings) -> dict[str, Path | None]:
    """Entries of ``folder`` by name; hidden entries are left out, and recorded.

    ``root`` is the data root, resolved. A link leading out of it is recorded as a problem
    and listed as ``None``: present, so that its mask or figure is not reported orphaned
    too, but never to be read. Temporary files of our own atomic writer are only a
    warning: a write in progress or a killed one is no fault of the data.
    """
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        found.problem(folder, f"unreadable folder: {exc}")
        return {}
    out: dict[str, Path | None] = {}
    for entry in entries:
        if entry.name.startswith("."):
            _record_hidden(entry, found)
            continue
        refused = _link_problem(entry, root)
        if refused:
            found.problem(entry, refused)
        out[entry.name] = None if refused else entry
    return out


def list_files(
    folder: Path | None, suffix: str, root: Path, found: Findings
) -> dict[str, Path | None]:
    """``case_id -> path`` of the files of ``folder`` ending in ``suffix``; others are strays.

    ``None`` marks a file refused by :func:`list_entries` (its problem is recorded).
    A missing ``folder`` (``None``) holds nothing: every part but train_images is optional.
    """
    out: dict[str, Path | None] = {}
    if folder is None:
        return out
    for name, path in list_entries(folder, root, found).items():
        if path is None:
            if Path(name).suffix == suffix:
                out[Path(name).stem] = None
        elif path.is_dir():
            found.problem(path, f"stray folder: unexpected inside {folder.name}")
        elif path.suffix == suffix and path.stem:
            out[path.stem] = path
        else:
            found.problem(path, f"stray file: expected {suffix} files in {folder.name}")
    return out


def _record_hidden(entry: Path, found: Findings) -> None:
    kind = "folder" if entry.is_dir() else "file"
    name = entry.name
    if is_atomic_temp(name):
        found.warn(entry, f"temporary {kind}: left by an atomic write in progress or interrupted")
    elif name.startswith("._"):
        found.problem(entry, "hidden file: macOS AppleDouble metadata (._ prefix), not a figure")
    elif name == ".DS_Store":
        found.problem(entry, "hidden file: macOS Finder metadata, not part of the Kaggle layout")
    else:
        found.problem(entry, f"hidden {kind}: a name starting with '.' is not in the Kaggle layout")


def _link_problem(entry: Path, root: Path) -> str | None:
    """Why ``entry`` is refused as a symbolic link, or None (not a link, or one inside root).

    Data reached through a link out of the root is not the data the pipeline tracks (DVC
    hashes the root), and such a link can point anywhere the user can read.
    """
    if not entry.is_symlink():
        return None
    try:
        target = entry.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links
        return f"unreadable link: {exc}"
    if target.is_relative_to(root):
        return None
    return f"link outside the data root: points to {target}, outside {root}"


@dataclass(frozen=True)
class FigureCheck:
    """What :func:`check_figure` found: ``size`` is ``(H, W)`` or None if undecodable."""

    size: tuple[int, int] | None
    problems: tuple[Skip, ...] = ()
    warnings: tuple[Skip, ...] = ()


def check_figure(job: tuple[str, str]) -> FigureCheck:
    """Decode one figure and its mask (``""``: none); report what is wrong with either."""
    image, mask = job
    try:
        size = verify_image(image)
    except DataError as exc:
        return FigureCheck(None, (Skip(exc.path, exc.problem),))
    if not mask:
        return FigureCheck(size)
    try:
        read = inspect_mask(mask, shape=size)
    except DataError as exc:
        return FigureCheck(size, (Skip(exc.path, exc.problem),))
    notes = tuple(Skip(mask, note) for note in read.notes)
    if read.masks.shape[0] == 0:
        return FigureCheck(size, (Skip(mask, "empty mask: all zeros for a forged figure"),), notes)
    return FigureCheck(size, (), notes)


def run_checks(
    jobs: Sequence[tuple[str, str]], *, workers: int, progress: bool
) -> list[FigureCheck]:
    """:func:`check_figure` over ``jobs``, in order, in ``workers`` processes."""
    bar = tqdm(total=len(jobs), desc="validate", unit="fig", disable=not progress)
    try:
        if workers <= 1 or len(jobs) < 2:
            results = []
            for job in jobs:
                results.append(check_figure(job))
                bar.update()
            return results
        # spawn: the caller may hold threads (tqdm, torch) that make fork unsafe.
        ctx = multiprocessing.get_context("spawn")
        chunk = max(1, min(64, len(jobs) // (workers * 8)))
        with ctx.Pool(processes=min(workers, len(jobs))) as pool:
            results = []
            for res in pool.imap(check_figure, jobs, chunksize=chunk):
                results.append(res)
                bar.update()
            return results
    finally:
        bar.close()


def check_twins(
    authentic: Mapping[str, Path], forged: Mapping[str, Path | None], found: Findings
) -> None:
    """Warn about authentic figures without a forged twin: legal, but not the real layout.

    In the real data every authentic figure is the original of a forged one; a lone one
    usually means a forged file went missing in a copy.
    """
    for cid, path in sorted(authentic.items()):
        if cid not in forged:
            found.warn(
                path,
                f"authentic without forged twin: no train_images/forged/{cid}.png "
                "(in the real data every authentic figure has one)",
            )


class _Figure(Protocol):
    """What :func:`check_pair_shapes` reads of a ``layout.Record`` (read-only)."""

    @property
    def case_id(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def subset(self) -> str: ...
    @property
    def image(self) -> str: ...
    @property
    def height(self) -> int: ...
    @property
    def width(self) -> int: ...


def check_pair_shapes(records: Iterable[_Figure], found: Findings) -> None:
    """Warn where an authentic figure and its forged twin differ in size.

    The authentic file should be the original of the forged one, pixel for pixel outside
    the forgery; another size means a rescaled or a wrong original. Both stay usable alone.
    """
    records = list(records)
    forged = {r.case_id: r for r in records if r.subset == "train" and r.label == "forged"}
    for rec in records:
        twin = forged.get(rec.case_id)
        if rec.subset != "train" or rec.label != "authentic" or twin is None:
            continue
        if (rec.height, rec.width) != (twin.height, twin.width):
            found.warn(
                rec.image,
                f"pair shape mismatch: authentic is {rec.width}x{rec.height}, its forged twin "
                f"train_images/forged/{rec.case_id}.png is {twin.width}x{twin.height} "
                "(width x height)",
            )


def check_sample_submission(path: Path, test_ids: Iterable[str], found: Findings) -> None:
    """Check the header, the rows and the case ids of ``sample_submission.csv``.

    Its ids must be unique and name exactly the figures of ``test_images/``: a submission
    built from it would otherwise miss figures or carry rows Kaggle rejects.
    """
    try:
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        found.problem(path, f"unreadable sample submission: {exc}")
        return
    header = tuple(c.strip() for c in rows[0]) if rows else ()
    if header != SUBMISSION_HEADER:
        found.problem(
            path,
            f"sample submission header: found {','.join(header) or '(empty file)'}, "
            f"expected {','.join(SUBMISSION_HEADER)}",
        )
        return
    lines: dict[str, list[int]] = {}
    bad_rows: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue  # a blank line, as trailing newlines leave
        # A row with a field too many still names its case: count it, or it reads as missing.
        lines.setdefault(row[0].strip(), []).append(number)
        if len(row) != len(SUBMISSION_HEADER):
            bad_rows.append(f"line {number} has {len(row)} fields")
    if bad_rows:
        found.problem(path, f"sample submission row: {_some(bad_rows)}, expected 2 fields")
    _check_submission_ids(path, lines, set(test_ids), found)


def _check_submission_ids(
    path: Path, lines: Mapping[str, list[int]], test_ids: set[str], found: Findings
) -> None:
    dups = [f"{cid} (lines {', '.join(map(str, n))})" for cid, n in lines.items() if len(n) > 1]
    if dups:
        found.problem(path, f"sample submission duplicate case_id: {_some(dups)}")
    orphans = sorted(set(lines) - test_ids)
    if orphans:
        found.problem(
            path,
            f"sample submission case_id without figure: {_some(orphans)} "
            "(no test_images/<case_id>.png)",
        )
    unlisted = sorted(test_ids - set(lines))
    if unlisted:
        found.problem(
            path,
            f"sample submission missing case_id: {_some(unlisted)} "
            "(in test_images/, not in the file)",
        )


def _some(items: Sequence[str]) -> str:
    """The first few items, then how many more: messages stay one readable line."""
    shown = ", ".join(items[:_SHOWN])
    more = len(items) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
