import numpy as np
import pytest
from PIL import Image

from forgeseg.core.atomic import atomic_dir, atomic_path, save_npy, save_png, write_json


def test_failed_write_leaves_neither_target_nor_temp(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_previous_version(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"of1": 0.5})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("{broken")
        raise RuntimeError
    assert target.read_text().strip().startswith("{")
    assert '"of1": 0.5' in target.read_text()


def test_atomic_dir_replaces_whole_folder(tmp_path):
    out = tmp_path / "preds"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    with atomic_dir(out) as tmp:
        (tmp / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    with pytest.raises(ValueError), atomic_dir(out) as tmp:
        (tmp / "c.txt").write_text("3")
        raise ValueError
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds"]


def test_npy_and_png_round_trip(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    save_npy(tmp_path / "m.npy", arr)
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), arr)
    rgb = np.random.default_rng(0).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    save_png(tmp_path / "f.png", rgb)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "f.png")), rgb)


def test_json_handles_numpy_values(tmp_path):
    write_json(tmp_path / "m.json", {"a": np.float32(0.5), "b": np.int64(3), "c": np.ones(2)})
    assert '"b": 3' in (tmp_path / "m.json").read_text()


def test_outputs_get_ordinary_permissions_not_temp_file_ones(tmp_path):
    import os
    import stat

    write_json(tmp_path / "m.json", {})
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "x").write_text("1")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask
