"""benchmarks/workcache.py: a benchmark's checkpoint or generated set is reused only while
the params, data and code that made it are unchanged."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "workcache.py"
_spec = importlib.util.spec_from_file_location("workcache", _PATH)
workcache = importlib.util.module_from_spec(_spec)
sys.modules["workcache"] = workcache
_spec.loader.exec_module(workcache)


def test_a_product_is_fresh_only_under_the_key_it_was_made_with(tmp_path: Path) -> None:
    ckpt = tmp_path / "unet.pt"
    key = workcache.work_key(params={"train": {"lr": 0.001}}, splits="abc")
    assert not workcache.is_fresh(ckpt, key)
    ckpt.write_bytes(b"weights")
    # Made before keys existed (or by hand): not trusted.
    assert not workcache.is_fresh(ckpt, key)
    workcache.mark_fresh(ckpt, key)
    assert workcache.is_fresh(ckpt, key)
    assert workcache.is_fresh(
        ckpt, workcache.work_key(splits="abc", params={"train": {"lr": 0.001}})
    )
    assert not workcache.is_fresh(
        ckpt, workcache.work_key(params={"train": {"lr": 0.01}}, splits="abc")
    )
    assert not workcache.is_fresh(
        ckpt, workcache.work_key(params={"train": {"lr": 0.001}}, splits="abd")
    )


def test_digests_follow_file_contents(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    mod = tmp_path / "pkg" / "synth.py"
    mod.write_text("A = 1\n")
    split = tmp_path / "train.csv"
    split.write_text("uid\nforged/1\n")
    src, data = workcache.source_digest(tmp_path / "pkg"), workcache.file_digest(split)
    assert workcache.source_digest(tmp_path / "pkg") == src
    mod.write_text("A = 2\n")
    split.write_text("uid\nforged/2\n")
    assert workcache.source_digest(tmp_path / "pkg") != src
    assert workcache.file_digest(split) != data
    assert workcache.file_digest(tmp_path / "gone.csv") != workcache.file_digest(split)
