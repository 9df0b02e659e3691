"""forgeseg.data.layout: the Kaggle layout scanned, validated and indexed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgeseg.core.errors import DataError
from forgeseg.data.layout import (
    COLUMNS,
    Record,
    ValidationError,
    read_index,
    scan,
    write_index,
)


def _png(path: Path, h: int = 24, w: int = 20, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"RGB": (3,), "RGBA": (4,), "L": ()}[mode]
    Image.fromarray(np.full((h, w, *channels), 100, np.uint8), mode).save(path)


def _npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


def _mask(n: int = 1, h: int = 24, w: int = 20) -> np.ndarray:
    m = np.zeros((n, h, w), np.uint8)
    m[:, :2, :2] = 1
    return m


def _truncated_png(path: Path) -> None:
    """A figure of the right size whose pixel data stops half-way (an interrupted copy)."""
    noise = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _link_out(root: Path, rel: str) -> None:
    """Replace ``root/rel`` by a link to a copy of it outside the root."""
    outside = root.parent / "elsewhere" / Path(rel).name
    outside.parent.mkdir(parents=True, exist_ok=True)
    (root / rel).rename(outside)
    (root / rel).symlink_to(outside)


def _submission(root: Path, text: str) -> None:
    (root / "sample_submission.csv").write_text(text)


def _layout(root: Path) -> Path:
    """Two pairs, one forged-only case, one supplemental, two test figures."""
    for cid in ("10", "11"):
        _png(root / "train_images/authentic" / f"{cid}.png")
        _png(root / "train_images/forged" / f"{cid}.png")
        _npy(root / "train_masks" / f"{cid}.npy", _mask())
    _png(root / "train_images/forged/12.png", 15, 21, mode="L")
    _npy(root / "train_masks/12.npy", _mask(1, 15, 21)[0])  # (H,W) layout
    _png(root / "supplemental_images/90.png")
    _npy(root / "supplemental_masks/90.npy", _mask(2))
    _png(root / "test_images/7.png", 30, 18)
    _png(root / "test_images/8.png")
    (root / "sample_submission.csv").write_text("case_id,annotation\n7,authentic\n8,authentic\n")
    return root


def test_layout_scanned_into_records_with_uids(tmp_path: Path) -> None:
    root = _layout(tmp_path / "data")
    result = scan(root, progress=False)
    assert result.skipped == [] and result.warnings == []
    by_uid = {r.uid: r for r in result.records}
    assert [r.uid for r in result.records] == [
        "authentic/10",
        "authentic/11",
        "forged/10",
        "forged/11",
        "forged/12",
        "supplemental/90",
        "7",
        "8",
    ]
    a, f = by_uid["authentic/10"], by_uid["forged/10"]
    assert (a.case_id, a.label, a.subset, a.mask) == ("10", "authentic", "train", "")
    assert (f.case_id, f.label, f.subset) == ("10", "forged", "train")
    assert f.image == str(root / "train_images/forged/10.png")
    assert f.mask == str(root / "train_masks/10.npy")
    assert (by_uid["forged/12"].height, by_uid["forged/12"].width) == (15, 21)
    s = by_uid["supplemental/90"]
    assert (s.label, s.subset, s.mask) == (
        "forged",
        "supplemental",
        str(root / "supplemental_masks/90.npy"),
    )
    t = by_uid["7"]
    assert (t.label, t.subset, t.height, t.width, t.kind) == ("unknown", "test", 30, 18, "")


def test_parallel_scan_matches_serial(tmp_path: Path) -> None:
    root = _layout(tmp_path / "data")
    (root / "train_masks/11.npy").write_bytes(b"junk")
    serial = scan(root, strict=False, progress=False)
    parallel = scan(root, strict=False, workers=2, progress=False)
    assert parallel == serial


def test_optional_parts_may_be_missing(tmp_path: Path) -> None:
    _png(tmp_path / "train_images/authentic/1.png")
    result = scan(tmp_path, progress=False)
    assert [r.uid for r in result.records] == ["authentic/1"]
    # Legal, but every real authentic figure has a forged twin: the user hears of it.
    assert [(w.path, w.reason.split(":")[0]) for w in result.warnings] == [
        (str(tmp_path / "train_images/authentic/1.png"), "authentic without forged twin")
    ]


@pytest.mark.parametrize("make", ["nothing", "file"])
def test_root_without_train_images_is_an_error(tmp_path: Path, make: str) -> None:
    root = tmp_path / "data"
    if make == "file":
        root.write_text("x")
    else:
        _png(root / "test_images/1.png")
    with pytest.raises(DataError) as err:
        scan(root, progress=False)
    assert str(root) in str(err.value)


# (setup, file that must be named, reason category)
PROBLEMS = {
    "undecodable": (
        lambda r: (r / "train_images/forged/10.png").write_bytes(b"garbage"),
        "train_images/forged/10.png",
        "undecodable image",
    ),
    "truncated": (
        lambda r: _truncated_png(r / "train_images/authentic/11.png"),
        "train_images/authentic/11.png",
        "undecodable image",
    ),
    "shape": (
        lambda r: _npy(r / "train_masks/11.npy", _mask(1, 25, 20)),
        "train_masks/11.npy",
        "mask shape mismatch",
    ),
    "values": (
        lambda r: _npy(r / "train_masks/11.npy", _mask() * 255),
        "train_masks/11.npy",
        "mask values not 0/1",
    ),
    "empty": (
        lambda r: _npy(r / "supplemental_masks/90.npy", np.zeros((1, 24, 20), np.uint8)),
        "supplemental_masks/90.npy",
        "empty mask",
    ),
    "not_npy": (
        lambda r: (r / "train_masks/10.npy").write_text("x"),
        "train_masks/10.npy",
        "not a .npy file",
    ),
    "no_mask": (
        lambda r: (r / "train_masks/10.npy").unlink(),
        "train_images/forged/10.png",
        "forged figure without mask",
    ),
    "no_figure": (
        lambda r: _npy(r / "train_masks/55.npy", _mask()),
        "train_masks/55.npy",
        "mask without figure",
    ),
    "extension": (
        lambda r: _png(r / "train_images/authentic/3.jpg"),
        "train_images/authentic/3.jpg",
        "stray file",
    ),
    "folder": (
        lambda r: _png(r / "extra/1.png"),
        "extra",
        "stray folder",
    ),
    "subfolder": (
        lambda r: _png(r / "train_images/other/1.png"),
        "train_images/other",
        "stray folder",
    ),
    "root_file": (
        lambda r: (r / "notes.txt").write_text("hi"),
        "notes.txt",
        "stray file",
    ),
    "float_values": (
        lambda r: _npy(r / "train_masks/11.npy", _mask().astype(np.float32) * 0.5),
        "train_masks/11.npy",
        "mask values not 0/1",
    ),
    "one_pixel": (
        lambda r: _png(r / "train_images/authentic/11.png", 1, 1, mode="RGBA"),
        "train_images/authentic/11.png",
        "image too small",
    ),
    "strip": (
        lambda r: _png(r / "test_images/8.png", 1, 20000, mode="L"),
        "test_images/8.png",
        "image too small",
    ),
    "elongated": (
        lambda r: _png(r / "test_images/8.png", 10, 400),
        "test_images/8.png",
        "image too elongated",
    ),
    "link_outside": (
        lambda r: _link_out(r, "train_images/forged/10.png"),
        "train_images/forged/10.png",
        "link outside the data root",
    ),
    "appledouble": (
        lambda r: (r / "train_images/forged/._10.png").write_bytes(
            b"\x00\x05\x16\x07" + b"\0" * 60
        ),
        "train_images/forged/._10.png",
        "hidden file",
    ),
    "ds_store": (
        lambda r: (r / "test_images/.DS_Store").write_bytes(b"\0\0\0\1Bud1"),
        "test_images/.DS_Store",
        "hidden file",
    ),
    "submission_header": (
        lambda r: _submission(r, "id,annotation\n7,authentic\n8,authentic\n"),
        "sample_submission.csv",
        "sample submission header",
    ),
    "submission_row": (
        lambda r: _submission(r, "case_id,annotation\n7,authentic,x\n8,authentic\n"),
        "sample_submission.csv",
        "sample submission row",
    ),
    "submission_duplicate": (
        lambda r: _submission(r, "case_id,annotation\n7,a\n8,a\n8,a\n"),
        "sample_submission.csv",
        "sample submission duplicate case_id",
    ),
    "submission_orphan": (
        lambda r: _submission(r, "case_id,annotation\n7,a\n8,a\n9,a\n"),
        "sample_submission.csv",
        "sample submission case_id without figure",
    ),
    "submission_missing": (
        lambda r: _submission(r, "case_id,annotation\n7,a\n"),
        "sample_submission.csv",
        "sample submission missing case_id",
    ),
}
# Problems that cost no figure: the file in question holds none.
NO_FIGURE_LOST = ("stray file", "stray folder", "mask without figure", "hidden file")


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_each_problem_named_by_file_strict_and_lenient(tmp_path: Path, name: str) -> None:
    root = _layout(tmp_path / "data")
    setup, rel, category = PROBLEMS[name]
    setup(root)
    with pytest.raises(ValidationError) as err:
        scan(root, progress=False)
    assert f"{root / rel}: {category}" in str(err.value)
    assert len(err.value.problems) == 1

    result = scan(root, strict=False, progress=False)
    assert [(s.path, s.reason.split(":")[0]) for s in result.skipped] == [
        (str(root / rel), category)
    ]
    good = {r.uid for r in scan(_layout(tmp_path / "clean"), progress=False).records}
    kept = {r.uid for r in result.records}
    assert kept <= good
    # A stray, orphan or hidden file costs no figure; a bad figure or mask exactly that one.
    lost = good - kept
    if category in NO_FIGURE_LOST or category.startswith("sample submission"):
        assert lost == set()
    else:
        assert len(lost) == 1


def test_strict_lists_every_problem_one_per_line(tmp_path: Path) -> None:
    root = _layout(tmp_path / "data")
    for name in ("undecodable", "values", "no_figure", "root_file"):
        PROBLEMS[name][0](root)
    with pytest.raises(ValidationError) as err:
        scan(root, workers=2, progress=False)
    lines = str(err.value).splitlines()
    assert len(err.value.problems) == 4 and len(lines) == 5
    for name in ("undecodable", "values", "no_figure", "root_file"):
        assert any(str(root / PROBLEMS[name][1]) in line for line in lines[1:])


def test_kind_from_meta_csv(tmp_path: Path) -> None:
    root = _layout(tmp_path / "data")
    (root / "meta.csv").write_text(
        "case_id,subset,label,kind,seed\n"
        "10,train,authentic,blot,1\n10,train,forged,blot,1\n"
        "12,train,forged,microscopy,2\n90,supplemental,forged,chart,3\n7,test,forged,gel,4\n"
    )
    kinds = {r.uid: r.kind for r in scan(root, progress=False).records}
    assert kinds == {
        "authentic/10": "blot",
        "forged/10": "blot",
        "authentic/11": "",
        "forged/11": "",
        "forged/12": "microscopy",
        "supplemental/90": "chart",
        "7": "gel",
        "8": "",
    }


def test_meta_csv_missing_columns(tmp_path: Path) -> None:
    root = _layout(tmp_path / "data")
    (root / "meta.csv").write_text("case_id,label\n10,forged\n")
    with pytest.raises(DataError, match="missing column") as err:
        scan(root, progress=False)
    assert "meta.csv" in str(err.value)


def test_test_labels_from_test_solution(tmp_path: Path) -> None:
    root = _layout(tmp_path / "data")
    (root / "test_solution.csv").write_text(
        'case_id,annotation,shape\n7,authentic,authentic\n8,"[1, 3]","[24, 20]"\n'
    )
    labels = {r.uid: r.label for r in scan(root, progress=False).records if r.subset == "test"}
    assert labels == {"7": "authentic", "8": "forged"}


def test_index_round_trip(tmp_path: Path) -> None:
    records = scan(_layout(tmp_path / "data"), progress=False).records
    path = tmp_path / "splits/train.csv"
    write_index(path, records)
    assert path.read_text().splitlines()[0] == ",".join(COLUMNS)
    back = read_index(path)
    assert back == records
    assert all(isinstance(r.height, int) for r in back)


def test_index_with_awkward_values_round_trips(tmp_path: Path) -> None:
    rec = Record("authentic/a,b", "a,b", "authentic", "train", 'x "y".png', "", 3, 4, "")
    write_index(tmp_path / "i.csv", [rec])
    assert read_index(tmp_path / "i.csv") == [rec]


def test_read_index_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_index(tmp_path / "missing.csv")
    (tmp_path / "cols.csv").write_text("uid,case_id\nx,y\n")
    with pytest.raises(DataError, match=r"missing column.*label") as err:
        read_index(tmp_path / "cols.csv")
    assert "cols.csv" in str(err.value)
    header = ",".join(COLUMNS)
    (tmp_path / "bad.csv").write_text(f"{header}\nu,c,forged,train,i.png,,tall,4,\n")
    with pytest.raises(DataError, match="line 2"):
        read_index(tmp_path / "bad.csv")
