"""The evidence report: transforms in words, a known copy listed with both crops, the page
opening offline in headless Chromium, and a byte budget per figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from forgeseg.cli import main
from forgeseg.config import DetectConfig
from forgeseg.decision.calibration import save_calibration
from forgeseg.decision.detector import Detector
from forgeseg.decision.rules import DecisionConfig
from forgeseg.matchers import Transform
from forgeseg.pipeline.plots_browser import find_chromium
from forgeseg.pipeline.report.browser import check_report
from forgeseg.pipeline.report.build import build_page, figure_entry, write_page
from forgeseg.pipeline.report.collect import Copy, FigureReport, Finding, examine
from forgeseg.pipeline.report.draw import copy_crops
from forgeseg.pipeline.report.settings import ReportConfig
from forgeseg.pipeline.report.words import decompose, describe

REPO = Path(__file__).resolve().parents[2]


def _similarity(mirror: str | None, angle: float, scale: float, t=(300.0, 10.0)) -> np.ndarray:
    a = math.radians(angle)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    flip = {None: np.eye(2), "left-right": np.diag([-1.0, 1.0]), "up-down": np.diag([1.0, -1.0])}
    return np.hstack([rot @ flip[mirror], np.array(t)[:, None]])


@pytest.mark.parametrize(
    ("matrix", "words"),
    [
        (_similarity("left-right", 0, 1.12), "copy flipped left-right, scaled 1.12"),
        ([[1, 0, 4], [0, -1, 200]], "copy flipped up-down"),
        ([[0, -1, 120], [1, 0, 0]], "copy turned 90° clockwise"),
        ([[0, 1, 0], [-1, 0, 90]], "copy turned 90° counter-clockwise"),
        ([[-1, 0, 300], [0, -1, 200]], "copy turned 180°"),
        # A transposition: mirrored left-right, then turned a quarter counter-clockwise.
        ([[0, 1, 0], [1, 0, 0]], "copy flipped left-right, turned 90° counter-clockwise"),
        (_similarity(None, 12.0, 0.9), "copy turned 12.0° clockwise, scaled 0.90"),
        (_similarity(None, -7.5, 1.0), "copy turned 7.5° counter-clockwise"),
        ([[1, 0, 55], [0, 1, 36]], "copy moved 55 px right and 36 px down"),
        ([[1.0004, 0.003, -286], [-0.003, 1.0004, 0]], "copy moved 286 px left"),
    ],
)
def test_transform_in_words(matrix, words):
    assert describe(np.array(matrix, float)) == words


def test_words_say_where_the_copy_went_from_the_source_centre():
    turn = np.array([[0.0, -1.0, 200.0], [1.0, 0.0, 0.0]])  # (50, 20) -> (180, 50)
    assert describe(turn, centre=(50.0, 20.0)) == (
        "copy turned 90° clockwise, moved 130 px right and 30 px down"
    )


@pytest.mark.parametrize("mirror", [None, "left-right"])
@pytest.mark.parametrize(("angle", "scale"), [(0.0, 1.0), (33.0, 1.3), (-150.0, 0.7)])
def test_decompose_recovers_mirror_turn_and_scale(mirror, angle, scale):
    mo = decompose(_similarity(mirror, angle, scale))
    assert mo.scale == pytest.approx(scale)
    if mirror is None:
        assert mo.mirror is None and mo.angle == pytest.approx(angle)
    else:
        # Either mirror with its own turn is the same map; the smaller turn is named.
        assert _similarity(mo.mirror, mo.angle, mo.scale) == pytest.approx(
            _similarity(mirror, angle, scale)
        )
        assert abs(mo.angle) <= 90.0 + 1e-9


def test_a_singular_map_is_refused_in_words():
    with pytest.raises(ValueError, match="singular"):
        describe(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]))


# ---- a generated figure with a known copy ----------------------------------------------


def _figure_with_flipped_copy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)
    image[100:140, 130:180] = image[10:50, 20:70][:, ::-1]  # mirrored copy
    truth = np.zeros((1, 160, 200), bool)
    truth[0, 10:50, 20:70] = truth[0, 100:140, 130:180] = True
    return image, truth


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DetectConfig(), DecisionConfig("geometric", min_area_fraction=0.0))


@pytest.fixture(scope="module")
def report(detector):
    image, truth = _figure_with_flipped_copy()
    noise = np.random.default_rng(2).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    figures = [("plain-noise", noise, None), ("pasted", image, truth)]
    return build_page(detector, iter(figures), ReportConfig(), progress=False)


def test_known_copy_is_examined_with_both_sides_and_undone_crops(detector):
    image, truth = _figure_with_flipped_copy()
    rep = examine(detector, image, "pasted", truth)
    assert rep.forged and rep.findings[0].origin == "geometry"
    copy = rep.findings[0].copies[0]
    assert copy.transform.flipped
    sides = {(bool(m[30, 45]), bool(m[120, 155])) for m in (copy.source, copy.copy)}
    assert sides == {(True, False), (False, True)}  # one side each, not both in one
    src, undone, diff = copy_crops(image, copy, 200)
    assert src.shape == undone.shape and max(src.shape[:2]) == 200
    # Undoing the flip lines the copy up with its source, pixel for pixel (inside the
    # copied region; the crop's margin shows what lies around each side).
    h, w = src.shape[:2]
    inner = np.s_[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    assert np.abs(src[inner].astype(int) - undone[inner].astype(int)).mean() < 2
    assert diff[inner].mean() < 6 and diff.mean() > diff[inner].mean()


def test_page_lists_the_copy_first_with_both_crops_and_its_words(report):
    html = report.html
    assert (report.n_forged, report.n_authentic) == (1, 1)
    assert html.index("#1 pasted") < html.index("plain-noise")
    assert "copy flipped left-right" in html
    for caption in ("source", "copy, transform undone", "difference x3"):
        assert f'alt="pasted copy 1: {caption}"' in html
    assert "support per verified instance" in html and "truth</td><td>forged, 1 instance" in html
    assert 'alt="plain-noise: figure called authentic"' in html


def test_page_needs_nothing_from_elsewhere(report):
    import re

    sources = re.findall(r'<img src="([^"]*)"', report.html)
    assert len(sources) == 5  # 2 figures, 3 crops
    assert all(s.startswith("data:image/jpeg;base64,") for s in sources)
    assert "http://" not in report.html and "https://" not in report.html


def _noise_report(side: int) -> tuple[np.ndarray, FigureReport]:
    """A worst case for JPEG: a noise figure with three copy-moves of noise."""
    image = np.random.default_rng(3).integers(0, 256, (side, side, 3), dtype=np.uint8)
    copies = []
    for k in range(3):
        src = np.zeros((side, side), bool)
        src[50 + 200 * k : 200 + 200 * k, 40:300] = True
        dst = np.roll(src, 500, axis=1)
        pts = np.array([[60.0, 60.0 + 200 * k], [250.0, 180.0 + 200 * k]], np.float32)
        tr = Transform(np.array([[1.0, 0, 500], [0, 1, 0]]), 40, 0.99, 0.9, 0.0, False, pts, pts)
        copies.append(Copy(tr, "dense", src, dst))
    mask = np.any([c.source | c.copy for c in copies], axis=0)
    finding = Finding(mask, "geometry", 120, copies)
    rep = FigureReport("noise", (side, side), True, 1.0, "geometric", [finding], None, [])
    return image, rep


@pytest.mark.parametrize("max_kb", [200, 60])
def test_a_figure_keeps_to_its_byte_budget(max_kb):
    image, rep = _noise_report(1000)
    entry = figure_entry(image, rep, ReportConfig(max_kb=max_kb))
    assert entry.nbytes <= max_kb * 1024
    assert entry.html.count("<img") == 1 + 3 * 3


# ---- the command line -------------------------------------------------------------------


def test_cli_report_writes_a_page_for_a_folder(tmp_path, capsys):
    from forgeseg.core.atomic import save_png

    images = tmp_path / "figures"
    image, _ = _figure_with_flipped_copy()
    save_png(images / "fig_a.png", image)
    save_png(images / "fig_b.png", np.full((80, 90, 3), 200, np.uint8))
    params = tmp_path / "params.yaml"
    tree = yaml.safe_load((REPO / "params.yaml").read_text())
    tree["detect"].update(method="geometric", min_area_fraction=0)
    params.write_text(yaml.safe_dump(tree))
    calib = tmp_path / "postprocess.json"
    save_calibration(calib, DecisionConfig("geometric"))
    out = tmp_path / "report"
    argv = ["report", "--images", str(images), "--out", str(out), "--params", str(params)]
    assert main([*argv, "--postprocess", str(calib)]) == 0
    html = (out / "index.html").read_text()
    assert "#1 fig_a" in html and "fig_b: figure called authentic" in html
    assert main(["report", "--images", str(tmp_path / "none"), "--postprocess", str(calib)]) == 1
    assert f"{tmp_path / 'none'}: not a folder of figures" in capsys.readouterr().err


# ---- in a real browser -----------------------------------------------------------------

CHROMIUM = find_chromium()
browser = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed (apt-get install chromium; .ci/run does)"
)


@browser
def test_page_opens_offline_with_every_image_and_no_error(report, tmp_path):
    page = write_page(tmp_path / "report", report)
    result = check_report(CHROMIUM, page)
    assert result.ok, result
    assert result.images == result.loaded == 5


@browser
def test_browser_check_catches_broken_images_errors_and_remote_loads(report, tmp_path):
    bad = report.html.replace(
        "</body>",
        '<img src="data:image/jpeg;base64,AAAA" alt="truncated">'
        '<img src="https://example.org/x.png" alt="remote">'
        "<script>undefined_function()</script></body>",
    )
    page = tmp_path / "bad.html"
    page.write_text(bad)
    result = check_report(CHROMIUM, page)
    assert not result.ok
    assert result.broken == ["truncated", "remote"]
    text = " ".join(result.errors)
    assert "undefined_function" in text and "blocked" in text
