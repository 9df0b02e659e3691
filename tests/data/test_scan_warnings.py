"""forgeseg.data.layout.scan: what it keeps with a warning, links, hidden files, the CLI.

Problems that cost a file are in test_dataset.py (PROBLEMS); here are the findings that
keep the file (ScanResult.warnings), which a strict scan must let through.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgeseg.cli import main
from forgeseg.core.atomic import atomic_path
from forgeseg.data.layout import ScanResult, ValidationError, scan


def _png(path: Path, h: int = 24, w: int = 20) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(path)


def _mask(n: int = 1, h: int = 24, w: int = 20, dtype: type = np.uint8) -> np.ndarray:
    m = np.zeros((n, h, w), dtype)
    m[:, 3:6, 3:6] = 1
    return m


def _npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)


def _layout(root: Path) -> Path:
    """One pair (10), one forged-only case (11), one test figure (7)."""
    _png(root / "train_images/authentic/10.png")
    for cid in ("10", "11"):
        _png(root / f"train_images/forged/{cid}.png")
        _npy(root / f"train_masks/{cid}.npy", _mask())
    _png(root / "test_images/7.png")
    (root / "sample_submission.csv").write_text("case_id,annotation\n7,authentic\n")
    return root


def _warnings(result: ScanResult) -> list[tuple[str, str]]:
    return [(w.path, w.reason.split(":")[0]) for w in result.warnings]


def _clean_scan(root: Path) -> ScanResult:
    """A strict scan: warnings must never fail it, nor cost a figure."""
    result = scan(root, progress=False)
    assert result.skipped == []
    assert {r.uid for r in result.records} >= {"forged/10", "forged/11", "7"}
    return result


def test_clean_layout_has_no_warnings(tmp_path: Path) -> None:
    assert _clean_scan(_layout(tmp_path / "d")).warnings == []


@pytest.mark.parametrize(
    ("array", "dtype_name"),
    [
        (_mask(dtype=bool), "bool"),
        (_mask(dtype=np.float32), "float32"),
        (_mask(dtype=np.int64), "int64"),
    ],
)
def test_mask_dtype_not_uint8_is_normalised_with_a_warning(
    tmp_path: Path, array: np.ndarray, dtype_name: str
) -> None:
    root = _layout(tmp_path / "d")
    _npy(root / "train_masks/11.npy", array)
    result = _clean_scan(root)
    mask = str(root / "train_masks/11.npy")
    assert _warnings(result) == [(mask, "mask dtype not uint8")]
    assert dtype_name in result.warnings[0].reason


def test_empty_channel_beside_valid_ones_is_reported_by_index(tmp_path: Path) -> None:
    root = _layout(tmp_path / "d")
    m = _mask(3)
    m[1] = 0
    _npy(root / "train_masks/10.npy", m)
    result = _clean_scan(root)
    assert _warnings(result) == [(str(root / "train_masks/10.npy"), "empty mask channel")]
    assert "channel 1 of 3" in result.warnings[0].reason


def test_authentic_twin_of_another_shape_is_reported(tmp_path: Path) -> None:
    root = _layout(tmp_path / "d")
    _png(root / "train_images/authentic/10.png", 30, 20)
    result = _clean_scan(root)
    authentic = str(root / "train_images/authentic/10.png")
    assert _warnings(result) == [(authentic, "pair shape mismatch")]
    assert "20x30" in result.warnings[0].reason and "20x24" in result.warnings[0].reason
    assert "authentic/10" in {r.uid for r in result.records}


def test_authentic_without_forged_twin_is_kept_with_a_warning(tmp_path: Path) -> None:
    root = _layout(tmp_path / "d")
    _png(root / "train_images/authentic/12.png")
    result = _clean_scan(root)
    lone = str(root / "train_images/authentic/12.png")
    assert _warnings(result) == [(lone, "authentic without forged twin")]
    assert "train_images/forged/12.png" in result.warnings[0].reason
    assert "authentic/12" in {r.uid for r in result.records}


def test_link_inside_the_root_is_fine(tmp_path: Path) -> None:
    root = _layout(tmp_path / "d")
    link = root / "train_images/authentic/11.png"
    link.symlink_to(Path("../forged/11.png"))
    result = _clean_scan(root)
    assert result.warnings == []
    assert {r.uid: r.image for r in result.records}["authentic/11"] == str(link)


def test_folder_linked_from_outside_is_refused_not_followed(tmp_path: Path) -> None:
    root = _layout(tmp_path / "d")
    _png(tmp_path / "elsewhere/8.png")
    (root / "test_images/7.png").unlink()
    (root / "test_images").rmdir()
    (root / "test_images").symlink_to(tmp_path / "elsewhere")
    result = scan(root, strict=False, progress=False)
    refused = [s for s in result.skipped if s.path == str(root / "test_images")]
    assert [s.reason.split(":")[0] for s in refused] == ["link outside the data root"]
    assert str(tmp_path / "elsewhere") in refused[0].reason
    assert all(r.subset != "test" for r in result.records)
    with pytest.raises(ValidationError, match="link outside the data root"):
        scan(root, progress=False)


def test_our_own_temporary_files_are_only_a_warning(tmp_path: Path) -> None:
    root = _layout(tmp_path / "d")
    # A write in progress, as a concurrent stage (or a killed one) leaves it.
    with atomic_path(root / "train_masks/10.npy") as tmp:
        np.save(tmp, _mask())
        result = _clean_scan(root)
    assert _warnings(result) == [(str(tmp), "temporary file")]


def test_hidden_folder_is_recorded(tmp_path: Path) -> None:
    root = _layout(tmp_path / "d")
    _png(root / "train_images/forged/.ipynb_checkpoints/10.png")
    result = scan(root, strict=False, progress=False)
    assert [(s.path, s.reason.split(":")[0]) for s in result.skipped] == [
        (str(root / "train_images/forged/.ipynb_checkpoints"), "hidden folder")
    ]


def test_parallel_scan_reports_the_same_warnings(tmp_path: Path) -> None:
    root = _layout(tmp_path / "d")
    _npy(root / "train_masks/11.npy", _mask(2, dtype=bool))
    _png(root / "train_images/authentic/12.png")
    serial = scan(root, progress=False)
    assert len(serial.warnings) == 2
    assert scan(root, workers=2, progress=False) == serial


def test_validate_prints_skips_and_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _layout(tmp_path / "d")
    _npy(root / "train_masks/11.npy", _mask(dtype=bool))
    (root / "train_images/forged/._10.png").write_bytes(b"\x00\x05\x16\x07")
    assert main(["validate", str(root), "--lenient", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert f"skipped {root / 'train_images/forged/._10.png'}: hidden file" in out
    assert f"warning {root / 'train_masks/11.npy'}: mask dtype not uint8" in out
    assert out.rstrip().endswith("1 skipped, 1 warning(s)")
