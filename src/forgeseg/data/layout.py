"""The Kaggle layout: scan a data root, validate every file, read and write index files.

A data root holds (see docs/ARCHITECTURE.md and the competition notes)::

    train_images/authentic/<case_id>.png     train_images/forged/<case_id>.png
    train_masks/<case_id>.npy                supplemental_images/<case_id>.png
    supplemental_masks/<case_id>.npy         test_images/<case_id>.png
    sample_submission.csv                    meta.csv, test_solution.csv (generated data)

``train_images`` is required, every other part is optional. Hidden entries (names starting
with ``.``: ``.DS_Store``, editors' and atomic writers' temporary files) are ignored;
anything else that does not fit the layout is a stray file.

:func:`scan` decodes every figure and mask (in ``workers`` processes) and reports each
problem with the file it concerns. Problem reasons read ``"category: detail"`` so they
can be counted by category.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from tqdm import tqdm

from forgeseg.core.atomic import write_text
from forgeseg.core.errors import DataError
from forgeseg.core.imageio import read_mask, verify_image

__all__ = [
    "COLUMNS",
    "LABELS",
    "SUBSETS",
    "Record",
    "ScanResult",
    "Skip",
    "ValidationError",
    "read_index",
    "scan",
    "write_index",
]

COLUMNS = ("uid", "case_id", "label", "subset", "image", "mask", "height", "width", "kind")
LABELS = ("authentic", "forged", "unknown")
SUBSETS = ("train", "supplemental", "test")

_IMAGE_SUFFIX = ".png"
_MASK_SUFFIX = ".npy"
# Root-level files of the real data (sample_submission.csv) and of generated data.
_ROOT_FILES = frozenset({"sample_submission.csv", "meta.csv", "test_solution.csv"})
_ROOT_DIRS = frozenset(
    {"train_images", "train_masks", "supplemental_images", "supplemental_masks", "test_images"}
)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Record:
    """One figure of the data root: a row of an index file (columns :data:`COLUMNS`).

    ``uid`` is ``authentic/<case_id>``, ``forged/<case_id>``, ``supplemental/<case_id>``
    or ``<case_id>`` (test). ``image``/``mask`` are the root joined with the relative path
    (``mask`` is ``""`` when the figure has none). ``height``/``width`` are pixels from the
    figure's header. ``kind`` comes from ``meta.csv`` when present, else ``""``.
    """

    uid: str
    case_id: str
    label: str
    subset: str
    image: str
    mask: str
    height: int
    width: int
    kind: str = ""


@dataclass(frozen=True)
class Skip:
    """A file left out of the records (lenient mode) and why: ``"category: detail"``."""

    path: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    records: list[Record]
    skipped: list[Skip] = field(default_factory=list)


class ValidationError(DataError):
    """Every problem found in a data root, one ``path: reason`` per line of the message."""

    def __init__(self, root: PathLike, problems: Sequence[Skip]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p.path}: {p.reason}" for p in self.problems)
        super().__init__(
            root,
            f"{len(self.problems)} problem(s) in the data root "
            f"(use lenient mode to skip them):\n{lines}",
        )


@dataclass(frozen=True)
class _Candidate:
    """A figure found on disk, before validation."""

    uid: str
    case_id: str
    label: str
    subset: str
    image: str
    mask: str


def scan(
    root: PathLike, *, strict: bool = True, workers: int = 1, progress: bool = True
) -> ScanResult:
    """List and validate every figure of a Kaggle-layout data root.

    Args:
        root: the data root.
        strict: raise one :class:`ValidationError` listing every problem; otherwise skip
            bad figures and record each problem (stray files included) in ``skipped``.
        workers: processes decoding figures and masks (1: in this process).
        progress: show a tqdm bar while validating.

    Returns:
        Records sorted by subset (train, supplemental, test) then uid; train figures are
        ``authentic``/``forged``, supplemental ones ``forged``, test ones take their label
        from ``test_solution.csv`` when present, else ``unknown``.

    Raises:
        DataError: the root is not a folder or has no ``train_images`` folder, or
            ``meta.csv``/``test_solution.csv`` is malformed.
        ValidationError: (strict) any problem in any file.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise DataError(root_path, "data root is not a folder")
    if not (root_path / "train_images").is_dir():
        raise DataError(
            root_path,
            "no train_images folder: not a data root in the Kaggle layout "
            "(train_images/{authentic,forged}, train_masks, test_images, ...)",
        )
    problems: list[Skip] = []
    candidates = _find_candidates(root_path, problems)
    kinds = _read_meta(root_path / "meta.csv")
    test_labels = _read_test_solution(root_path / "test_solution.csv")

    jobs = [(c.image, c.mask) for c in candidates]
    results = _run_checks(jobs, workers=workers, progress=progress)
    records: list[Record] = []
    for cand, (size, found) in zip(candidates, results, strict=True):
        if found or size is None:
            problems.extend(Skip(path, reason) for path, reason in found)
            continue
        label = cand.label
        if cand.subset == "test":
            label = test_labels.get(cand.case_id, "unknown")
        kind = kinds.get((cand.subset, cand.case_id, cand.label)) or kinds.get(
            (cand.subset, cand.case_id, ""), ""
        )
        records.append(
            Record(
                uid=cand.uid,
                case_id=cand.case_id,
                label=label,
                subset=cand.subset,
                image=cand.image,
                mask=cand.mask,
                height=size[0],
                width=size[1],
                kind=kind,
            )
        )
    problems.sort(key=lambda s: (s.path, s.reason))
    if strict and problems:
        raise ValidationError(root_path, problems)
    return ScanResult(records=records, skipped=problems)


def _list_dir(folder: Path, problems: list[Skip]) -> dict[str, Path]:
    """Visible plain files of ``folder`` by name; sub-folders are recorded as strays."""
    files: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            problems.append(Skip(str(entry), f"stray folder: unexpected inside {folder.name}"))
        else:
            files[entry.name] = entry
    return files


def _files_with_suffix(folder: Path, suffix: str, problems: list[Skip]) -> dict[str, Path]:
    """``case_id -> path`` of the files of ``folder`` ending in ``suffix``; others are strays."""
    out: dict[str, Path] = {}
    if not folder.is_dir():
        return out
    for path in _list_dir(folder, problems).values():
        if path.suffix == suffix and path.stem:
            out[path.stem] = path
        else:
            problems.append(
                Skip(str(path), f"stray file: expected {suffix} files in {folder.name}")
            )
    return out


def _find_candidates(root: Path, problems: list[Skip]) -> list[_Candidate]:
    for name, entry in _list_dir_all(root).items():
        if entry.is_dir() and name not in _ROOT_DIRS:
            problems.append(Skip(str(entry), "stray folder: not part of the Kaggle layout"))
        elif not entry.is_dir() and name not in _ROOT_FILES:
            problems.append(Skip(str(entry), "stray file: not part of the Kaggle layout"))

    train = root / "train_images"
    for name, entry in _list_dir_all(train).items():
        if name not in ("authentic", "forged") or not entry.is_dir():
            kind = "folder" if entry.is_dir() else "file"
            problems.append(
                Skip(str(entry), f"stray {kind}: train_images holds only authentic/ and forged/")
            )
    authentic = _files_with_suffix(train / "authentic", _IMAGE_SUFFIX, problems)
    forged = _files_with_suffix(train / "forged", _IMAGE_SUFFIX, problems)
    train_masks = _files_with_suffix(root / "train_masks", _MASK_SUFFIX, problems)
    supp = _files_with_suffix(root / "supplemental_images", _IMAGE_SUFFIX, problems)
    supp_masks = _files_with_suffix(root / "supplemental_masks", _MASK_SUFFIX, problems)
    test = _files_with_suffix(root / "test_images", _IMAGE_SUFFIX, problems)

    out: list[_Candidate] = []
    for cid, path in sorted(authentic.items()):
        out.append(_Candidate(f"authentic/{cid}", cid, "authentic", "train", str(path), ""))
    out.extend(_forged(forged, train_masks, "train", "forged", "train_masks", problems))
    out.extend(
        _forged(supp, supp_masks, "supplemental", "supplemental", "supplemental_masks", problems)
    )
    for cid, path in sorted(test.items()):
        out.append(_Candidate(cid, cid, "unknown", "test", str(path), ""))
    rank = {s: i for i, s in enumerate(SUBSETS)}
    out.sort(key=lambda c: (rank[c.subset], c.uid))
    return out


def _list_dir_all(folder: Path) -> dict[str, Path]:
    return {e.name: e for e in sorted(folder.iterdir()) if not e.name.startswith(".")}


def _forged(
    images: dict[str, Path],
    masks: dict[str, Path],
    subset: str,
    prefix: str,
    mask_folder: str,
    problems: list[Skip],
) -> list[_Candidate]:
    out: list[_Candidate] = []
    for cid, path in sorted(images.items()):
        mask = masks.get(cid)
        if mask is None:
            problems.append(
                Skip(str(path), f"forged figure without mask: no {mask_folder}/{cid}.npy")
            )
            continue
        out.append(_Candidate(f"{prefix}/{cid}", cid, "forged", subset, str(path), str(mask)))
    image_folder = "train_images/forged" if subset == "train" else "supplemental_images"
    for cid in sorted(set(masks) - set(images)):
        problems.append(Skip(str(masks[cid]), f"mask without figure: no {image_folder}/{cid}.png"))
    return out


_Check = tuple[tuple[int, int] | None, list[tuple[str, str]]]


def _check_one(job: tuple[str, str]) -> _Check:
    """Decode one figure and its mask; return its ``(H, W)`` and ``(path, reason)`` problems."""
    image, mask = job
    try:
        size = verify_image(image)
    except DataError as exc:
        return None, [(exc.path, exc.problem)]
    if not mask:
        return size, []
    try:
        masks = read_mask(mask, shape=size)
    except DataError as exc:
        return size, [(exc.path, exc.problem)]
    if masks.shape[0] == 0:
        return size, [(mask, "empty mask: all zeros for a forged figure")]
    return size, []


def _run_checks(jobs: Sequence[tuple[str, str]], *, workers: int, progress: bool) -> list[_Check]:
    bar = tqdm(total=len(jobs), desc="validate", unit="fig", disable=not progress)
    try:
        if workers <= 1 or len(jobs) < 2:
            results = []
            for job in jobs:
                results.append(_check_one(job))
                bar.update()
            return results
        # spawn: the caller may hold threads (tqdm, torch) that make fork unsafe.
        ctx = multiprocessing.get_context("spawn")
        chunk = max(1, min(64, len(jobs) // (workers * 8)))
        with ctx.Pool(processes=min(workers, len(jobs))) as pool:
            results = []
            for res in pool.imap(_check_one, jobs, chunksize=chunk):
                results.append(res)
                bar.update()
            return results
    finally:
        bar.close()


def _read_csv(path: Path, required: Iterable[str]) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable CSV: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)} (has: {', '.join(header)})")
    try:
        return list(reader)
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV: {exc}") from None


def _read_meta(path: Path) -> dict[tuple[str, str, str], str]:
    """``(subset, case_id, label) -> kind`` and ``(subset, case_id, "") -> kind``."""
    if not path.is_file():
        return {}
    kinds: dict[tuple[str, str, str], str] = {}
    for row in _read_csv(path, ("case_id", "subset", "kind")):
        subset, cid, kind = row["subset"] or "", row["case_id"] or "", row["kind"] or ""
        kinds[(subset, cid, row.get("label") or "")] = kind
        kinds.setdefault((subset, cid, ""), kind)
    return kinds


def _read_test_solution(path: Path) -> dict[str, str]:
    """``case_id -> "authentic" | "forged"`` from a solution file."""
    if not path.is_file():
        return {}
    rows = _read_csv(path, ("case_id", "annotation"))
    return {
        r["case_id"]: "authentic" if (r["annotation"] or "").strip() == "authentic" else "forged"
        for r in rows
    }


def write_index(path: PathLike, records: Iterable[Record]) -> None:
    """Write records as an index CSV with the columns :data:`COLUMNS`, atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for rec in records:
        writer.writerow([getattr(rec, c) for c in COLUMNS])
    write_text(path, buf.getvalue())


def read_index(path: PathLike) -> list[Record]:
    """Read an index CSV written by :func:`write_index`.

    Raises:
        DataError: missing file, missing columns, a non-integer height/width, or an
            unknown label/subset (the message names the line).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "index file not found (run the ingest stage first)")
    rows = _read_csv(p, COLUMNS)
    names = [f.name for f in fields(Record)]
    records: list[Record] = []
    for line, row in enumerate(rows, start=2):
        values = {n: row[n] or "" for n in names}
        if values["label"] not in LABELS:
            raise DataError(p, f"line {line}: unknown label {values['label']!r}")
        if values["subset"] not in SUBSETS:
            raise DataError(p, f"line {line}: unknown subset {values['subset']!r}")
        try:
            height, width = int(values["height"]), int(values["width"])
        except ValueError:
            raise DataError(
                p,
                f"line {line}: height/width not integers "
                f"({values['height']!r}, {values['width']!r})",
            ) from None
        records.append(
            Record(
                uid=values["uid"],
                case_id=values["case_id"],
                label=values["label"],
                subset=values["subset"],
                image=values["image"],
                mask=values["mask"],
                height=height,
                width=width,
                kind=values["kind"],
            )
        )
    return records
