"""The Kaggle layout: scan a data root, validate every file, read and write index files.

A data root holds (see docs/ARCHITECTURE.md and the competition notes)::

    train_images/authentic/<case_id>.png     train_images/forged/<case_id>.png
    train_masks/<case_id>.npy                supplemental_images/<case_id>.png
    supplemental_masks/<case_id>.npy         test_images/<case_id>.png
    sample_submission.csv                    meta.csv, test_solution.csv (generated data)

``train_images`` is required, every other part is optional. Anything that does not fit
the layout is a stray file; hidden entries (``.DS_Store``, macOS ``._<id>.png``) are
skipped as ``hidden file``, except the temporary siblings of our own atomic writer, which
are only a warning. Links leading out of the root are refused.

:func:`scan` decodes every figure and mask (in ``workers`` processes) and reports each
problem with the file it concerns; the checks live in :mod:`forgeseg.data.checks`.
Reasons read ``"category: detail"`` so they can be counted by category. Problems cost the
file; warnings (a mask normalised, an empty mask channel dropped, an authentic figure
without or unlike its forged twin) keep it.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

from forgeseg.core.atomic import write_text
from forgeseg.core.errors import DataError
from forgeseg.data.checks import (
    Findings,
    Skip,
    check_pair_shapes,
    check_sample_submission,
    check_twins,
    list_entries,
    list_files,
    run_checks,
)

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
# meta.csv and structure.csv come with generated data only (kinds, reuse, panel boxes).
_ROOT_FILES = frozenset({"sample_submission.csv", "meta.csv", "structure.csv", "test_solution.csv"})
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
class ScanResult:
    """Valid figures; files left out (lenient mode) and files kept with a warning.

    Both lists hold :class:`Skip` entries sorted by path, reasons ``"category: detail"``.
    """

    records: list[Record]
    skipped: list[Skip] = field(default_factory=list)
    warnings: list[Skip] = field(default_factory=list)


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
    found = Findings()
    candidates, root_files = _find_candidates(root_path, found)
    kinds = _read_meta(root_files.get("meta.csv"))
    test_labels = _read_test_solution(root_files.get("test_solution.csv"))

    jobs = [(c.image, c.mask) for c in candidates]
    results = run_checks(jobs, workers=workers, progress=progress)
    records: list[Record] = []
    for cand, res in zip(candidates, results, strict=True):
        found.warnings.extend(res.warnings)
        if res.problems or res.size is None:
            found.problems.extend(res.problems)
            continue
        records.append(_record(cand, res.size, kinds, test_labels))
    check_pair_shapes(records, found)
    problems = sorted(found.problems, key=lambda s: (s.path, s.reason))
    warnings = sorted(found.warnings, key=lambda s: (s.path, s.reason))
    if strict and problems:
        raise ValidationError(root_path, problems)
    return ScanResult(records=records, skipped=problems, warnings=warnings)


def _record(
    cand: _Candidate,
    size: tuple[int, int],
    kinds: Mapping[tuple[str, str, str], str],
    test_labels: Mapping[str, str],
) -> Record:
    label = cand.label
    if cand.subset == "test":
        label = test_labels.get(cand.case_id, "unknown")
    kind = kinds.get((cand.subset, cand.case_id, cand.label)) or kinds.get(
        (cand.subset, cand.case_id, ""), ""
    )
    return Record(
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


def _find_candidates(root: Path, found: Findings) -> tuple[list[_Candidate], dict[str, Path]]:
    """Figures found on disk, and the known root-level files (``meta.csv``, ...) by name."""
    real_root = root.resolve()
    # Only folders that list_entries kept are entered: a refused link is not followed.
    folders: dict[str, Path] = {}
    root_files: dict[str, Path] = {}
    for name, entry in list_entries(root, real_root, found).items():
        if entry is None:
            continue
        if entry.is_dir() and name not in _ROOT_DIRS:
            found.problem(entry, "stray folder: not part of the Kaggle layout")
        elif not entry.is_dir() and name not in _ROOT_FILES:
            found.problem(entry, "stray file: not part of the Kaggle layout")
        else:
            (folders if entry.is_dir() else root_files)[name] = entry
    if "train_images" in folders:
        for name, entry in list_entries(folders["train_images"], real_root, found).items():
            if entry is None:
                continue
            if name not in ("authentic", "forged") or not entry.is_dir():
                kind = "folder" if entry.is_dir() else "file"
                found.problem(
                    entry, f"stray {kind}: train_images holds only authentic/ and forged/"
                )
            else:
                folders[f"train_images/{name}"] = entry

    def files(folder: str, suffix: str) -> dict[str, Path | None]:
        return list_files(folders.get(folder), suffix, real_root, found)

    authentic = files("train_images/authentic", _IMAGE_SUFFIX)
    forged = files("train_images/forged", _IMAGE_SUFFIX)
    train_masks = files("train_masks", _MASK_SUFFIX)
    supp = files("supplemental_images", _IMAGE_SUFFIX)
    supp_masks = files("supplemental_masks", _MASK_SUFFIX)
    test = files("test_images", _IMAGE_SUFFIX)
    check_twins(_kept(authentic), forged, found)
    if "sample_submission.csv" in root_files:
        check_sample_submission(root_files["sample_submission.csv"], test, found)

    out: list[_Candidate] = []
    for cid, path in sorted(_kept(authentic).items()):
        out.append(_Candidate(f"authentic/{cid}", cid, "authentic", "train", str(path), ""))
    out.extend(_forged(forged, train_masks, "train", "forged", "train_masks", found))
    out.extend(
        _forged(supp, supp_masks, "supplemental", "supplemental", "supplemental_masks", found)
    )
    for cid, path in sorted(_kept(test).items()):
        out.append(_Candidate(cid, cid, "unknown", "test", str(path), ""))
    rank = {s: i for i, s in enumerate(SUBSETS)}
    out.sort(key=lambda c: (rank[c.subset], c.uid))
    return out, root_files


def _kept(files: Mapping[str, Path | None]) -> dict[str, Path]:
    return {k: v for k, v in files.items() if v is not None}


def _forged(
    images: Mapping[str, Path | None],
    masks: Mapping[str, Path | None],
    subset: str,
    prefix: str,
    mask_folder: str,
    found: Findings,
) -> list[_Candidate]:
    """Forged figures paired with their masks; a refused half (``None``) drops the pair."""
    out: list[_Candidate] = []
    for cid, path in sorted(_kept(images).items()):
        if cid not in masks:
            found.problem(path, f"forged figure without mask: no {mask_folder}/{cid}.npy")
            continue
        mask = masks[cid]
        if mask is not None:
            out.append(_Candidate(f"{prefix}/{cid}", cid, "forged", subset, str(path), str(mask)))
    image_folder = "train_images/forged" if subset == "train" else "supplemental_images"
    for cid, mask in sorted(_kept(masks).items()):
        if cid not in images:
            found.problem(mask, f"mask without figure: no {image_folder}/{cid}.png")
    return out


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


def _read_meta(path: Path | None) -> dict[tuple[str, str, str], str]:
    """``(subset, case_id, label) -> kind`` and ``(subset, case_id, "") -> kind``."""
    if path is None or not path.is_file():
        return {}
    kinds: dict[tuple[str, str, str], str] = {}
    for row in _read_csv(path, ("case_id", "subset", "kind")):
        subset, cid, kind = row["subset"] or "", row["case_id"] or "", row["kind"] or ""
        kinds[(subset, cid, row.get("label") or "")] = kind
        kinds.setdefault((subset, cid, ""), kind)
    return kinds


def _read_test_solution(path: Path | None) -> dict[str, str]:
    """``case_id -> "authentic" | "forged"`` from a solution file."""
    if path is None or not path.is_file():
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
