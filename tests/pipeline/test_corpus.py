"""Predicting a whole corpus: bad figures are recorded, not fatal; 1 worker, 2 workers, a
killed-and-resumed run and a Dask cluster all give the same submission."""

from __future__ import annotations

import csv
import logging
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from forgeseg.cli import PREDICT_SKIPPED_STATUS, main
from forgeseg.config import Params, as_dict, override
from forgeseg.core.atomic import save_png
from forgeseg.core.errors import DataError
from forgeseg.decision.calibration import save_calibration
from forgeseg.decision.detector import Detector
from forgeseg.decision.rules import DecisionConfig
from forgeseg.pipeline.corpus import RAISE_ERRORS_ENV, journal_path, skip_path
from forgeseg.pipeline.infer import predict_folder

# The dense matcher alone and no area floor: a copy in a 72x88 figure is found in well
# under a second, and no network checkpoint is needed.
DETECT = {
    "detect.method": "geometric",
    "detect.matchers": ["dense"],
    "detect.min_area_fraction": 0.0,
}
N_GOOD = 6
BAD = ("bomb", "empty", "tiny")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    """A few bytes of PNG whose header claims ``width`` x ``height`` pixels: a bomb's."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b""))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, make_figure) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    images = root / "images"
    for i in range(N_GOOD):
        save_png(images / f"fig{i}.png", make_figure(i, copy=i % 2 == 0))
        if i < 2:
            save_png(root / "good" / f"fig{i}.png", make_figure(i, copy=i % 2 == 0))
    (images / "empty.png").write_bytes(b"")
    (images / "bomb.png").write_bytes(_png_header(20_000, 20_000))
    save_png(images / "tiny.png", np.zeros((1, 1, 3), np.uint8))
    (images / "._fig0.png").write_bytes(b"\x00\x05\x16\x07" + bytes(60))  # AppleDouble
    (images / "notes.txt").write_text("not a figure")
    params = override(Params(), DETECT)
    (root / "params.yaml").write_text(yaml.safe_dump(as_dict(params), sort_keys=False))
    save_calibration(root / "postprocess.json", DecisionConfig("geometric"))
    return {"root": root, "images": images, "good": root / "good", "params": root / "params.yaml"}


def _predict(corpus: dict[str, Path], out: Path, **kw) -> object:
    return predict_folder(
        corpus["images"],
        out,
        model_path=corpus["root"] / "no_model.pt",
        calibration_path=corpus["root"] / "postprocess.json",
        detect=override(Params(), DETECT).detect,
        device="cpu",
        progress=False,
        **kw,
    )


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "submission.csv"
    _predict(corpus, out, workers=1)
    return out


def _rows(path: Path) -> dict[str, str]:
    with path.open(newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["case_id", "annotation"]
        return dict(reader)


def test_bad_figures_get_authentic_rows_and_a_skip_line_each(corpus, reference):
    rows = _rows(reference)
    assert sorted(rows) == sorted([f"fig{i}" for i in range(N_GOOD)] + list(BAD))
    for name in BAD:
        assert rows[name] == "authentic"
    assert rows["fig0"] != "authentic" and rows["fig1"] == "authentic"  # a copy was found
    skips = skip_path(reference).read_text().splitlines()
    assert skips[0] == "case_id,path,reason"
    reasons = {line.split(",")[0]: line for line in skips[1:]}
    assert sorted(reasons) == sorted([*BAD, "._fig0"])
    assert "image too large" in reasons["bomb"]
    assert "image too small" in reasons["tiny"]
    assert "undecodable image" in reasons["empty"]
    assert "hidden file" in reasons["._fig0"]
    assert str(corpus["images"] / "tiny.png") in reasons["tiny"]
    assert not journal_path(reference).exists()  # removed once the output is whole


def test_strict_stops_at_the_first_bad_figure_naming_it(corpus, tmp_path):
    with pytest.raises(DataError, match=r"/\._fig0\.png: hidden file"):
        _predict(corpus, tmp_path / "s.csv", workers=1, strict=True)
    assert not (tmp_path / "s.csv").exists()


def test_two_workers_write_the_same_csv_as_one(corpus, reference, tmp_path):
    out = tmp_path / "two.csv"
    summary = _predict(corpus, out, workers=2)
    assert out.read_bytes() == reference.read_bytes()
    assert skip_path(out).read_bytes() == skip_path(reference).read_bytes()
    assert summary.n_skipped == 4


def test_a_detector_error_is_one_figures_skip_unless_errors_must_raise(
    corpus, tmp_path, monkeypatch
):
    real = Detector.detect
    calls = []

    def flaky(self, image):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("matcher blew up\nsecond line")
        return real(self, image)

    monkeypatch.setattr(Detector, "detect", flaky)
    monkeypatch.delenv(RAISE_ERRORS_ENV, raising=False)
    out = tmp_path / "g.csv"
    _predict(corpus, out, workers=1)
    assert len(_rows(out)) == N_GOOD + len(BAD)
    lines = [line for line in skip_path(out).read_text().splitlines() if "detector error" in line]
    assert lines == [
        f"fig1,{corpus['images'] / 'fig1.png'},detector error: RuntimeError: matcher blew up"
    ]

    calls.clear()
    good = {**corpus, "images": corpus["good"]}  # strict would stop at the bad files first
    with pytest.raises(RuntimeError, match="matcher blew up"):
        _predict(good, tmp_path / "h.csv", workers=1, strict=True)
    calls.clear()
    monkeypatch.setenv(RAISE_ERRORS_ENV, "1")
    with pytest.raises(RuntimeError, match="matcher blew up"):
        _predict(corpus, tmp_path / "i.csv", workers=1)


def test_cli_exit_status_and_last_log_line_count_the_skips(corpus, tmp_path, capsys):
    out = tmp_path / "cli.csv"
    argv = [
        "predict",
        "--images",
        str(corpus["images"]),
        "--out",
        str(out),
        "--workers",
        "1",
        "--params",
        str(corpus["params"]),
        "--postprocess",
        str(corpus["root"] / "postprocess.json"),
    ]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == PREDICT_SKIPPED_STATUS
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "4 of 10 figures skipped" in last and str(skip_path(out)) in last
    assert main([*argv, "--strict"]) == 1


def test_a_run_killed_with_sigkill_resumes_and_ends_equal(corpus, reference, tmp_path, caplog):
    out = tmp_path / "killed.csv"
    journal = journal_path(out)
    cmd = [
        sys.executable,
        "-m",
        "forgeseg.cli",
        "predict",
        "--images",
        str(corpus["images"]),
        "--out",
        str(out),
        "--workers",
        "1",
        "--params",
        str(corpus["params"]),
        "--postprocess",
        str(corpus["root"] / "postprocess.json"),
        "--model",
        "none.pt",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        # Header + 3 results: killed mid-corpus, after some figures are safely recorded.
        while not (journal.is_file() and journal.read_text().count("\n") >= 4):
            assert proc.poll() is None, "predict ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()  # nothing half-written as the output
    with caplog.at_level(logging.INFO):
        _predict(corpus, out, workers=1)
    resumed = [r.getMessage() for r in caplog.records if "resuming" in r.getMessage()]
    assert resumed and "of 10 figures already judged" in resumed[0]
    assert out.read_bytes() == reference.read_bytes()
    assert not journal.exists()


def test_a_dask_cluster_gives_the_local_result(corpus, reference, tmp_path, request):
    distributed = pytest.importorskip("distributed")
    import cv2

    # Workers in this process set OpenCV (and torch) to one thread; later tests get theirs back.
    threads = cv2.getNumThreads()
    request.addfinalizer(lambda: cv2.setNumThreads(threads))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch_threads = torch.get_num_threads()
        request.addfinalizer(lambda: torch.set_num_threads(torch_threads))
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        out = tmp_path / "dask.csv"
        summary = _predict(corpus, out, scheduler=cluster.scheduler_address)
    assert out.read_bytes() == reference.read_bytes()
    assert summary.n_skipped == 4
