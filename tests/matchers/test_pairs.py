"""matchers.pairs: panels of a compound figure compared pair by pair, and blot lanes.

Every figure is built here: panels drawn by the synth renderers, laid on a grid with a
white gutter, each with a panel letter and a scale bar where the test needs them.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from forgeseg.config.matchers import PAIR_CLASSES, PairsConfig
from forgeseg.config.sections import DetectConfig
from forgeseg.core.errors import ParamsError
from forgeseg.matchers import get_matcher
from forgeseg.matchers.pairs import detect
from forgeseg.matchers.pairs.poses import POSES, apply_pose, unpose_points
from forgeseg.panels import PANEL_CLASSES, Panel, Structure
from forgeseg.synth.kinds import render_single

GUTTER = 8
# ALIKED + LightGlue run on CPU: fewer keypoints keep these tests to seconds.
KINDS = {
    "rootsift": PairsConfig(),
    "aliked": PairsConfig(features="aliked", aliked_keypoints=256),
}


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """ALIKED on one thread: on a shared 2-core machine OpenMP's spinning threads are
    several times slower than one."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _label(tile: np.ndarray, letter: str | None, bar: bool) -> tuple[np.ndarray, np.ndarray]:
    """The tile with a panel letter top left and a scale bar bottom right, drawn the same
    way in every panel (legitimately identical pixels), and the bool mask of both."""
    t = tile.copy()
    h, w = t.shape[:2]
    text = np.zeros((h, w), bool)
    if letter:
        cv2.rectangle(t, (2, 2), (20, 22), (255, 255, 255), -1)
        cv2.putText(t, letter, (5, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2, cv2.LINE_AA)
        text[2:23, 2:21] = True
    if bar:
        cv2.rectangle(t, (w - 50, h - 12), (w - 10, h - 8), (255, 255, 255), -1)
        cv2.putText(
            t, "50 um", (w - 52, h - 16), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1
        )
        text[h - 26 : h - 7, w - 54 : w - 8] = True
    return t, text


def _figure(
    tiles: list[np.ndarray],
    classes: list[str],
    cols: int,
    letters: str | None = None,
    bar: bool = False,
) -> tuple[np.ndarray, Structure]:
    """Tiles (h, w, 3) uint8 laid row by row on a white grid: (figure, its structure)."""
    ph, pw = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    rows = -(-len(tiles) // cols)
    img = np.full((GUTTER + rows * (ph + GUTTER), GUTTER + cols * (pw + GUTTER), 3), 255, np.uint8)
    text = np.zeros(img.shape[:2], bool)
    panels = []
    for k, (tile, cls) in enumerate(zip(tiles, classes, strict=True)):
        r, c = divmod(k, cols)
        y0, x0 = GUTTER + r * (ph + GUTTER), GUTTER + c * (pw + GUTTER)
        h, w = tile.shape[:2]
        drawn, t = _label(tile, letters[k] if letters else None, bar)
        img[y0 : y0 + h, x0 : x0 + w] = drawn
        text[y0 : y0 + h, x0 : x0 + w] = t
        panels.append(Panel((x0, y0, x0 + w, y0 + h), cls))
    return img, Structure(tuple(panels), text)


def _share(mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    return float(mask[y0:y1, x0:x1].mean())


def _tiles(seed: int, kinds: list[str], h: int, w: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [render_single(rng, k, h, w).image for k in kinds]


@pytest.mark.parametrize("features", list(KINDS))
def test_a_flipped_duplicated_panel_is_found_and_masked_on_both_sides(features: str) -> None:
    tiles = _tiles(5, ["fluorescence", "histology", "fluorescence"], 120, 160)
    tiles.append(tiles[0][:, ::-1].copy())  # panel d: panel a mirrored
    img, st = _figure(tiles, ["microscopy"] * 4, 2, letters="abcd", bar=True)
    res = detect(img, KINDS[features], st)
    assert res.instances.shape == (1, *img.shape[:2])
    inst = res.instances[0]
    boxes = [p.box for p in st.panels]
    assert _share(inst, boxes[0]) > 0.95 and _share(inst, boxes[3]) > 0.95
    assert _share(inst, boxes[1]) == 0.0 and _share(inst, boxes[2]) == 0.0
    (tr,) = res.transforms[0]
    assert tr.flipped and tr.support >= KINDS[features].min_inliers
    # Panel a's top-left corner lands on panel d's top-right corner.
    x = tr.matrix @ np.array([boxes[0][0], boxes[0][1], 1.0])
    assert np.allclose(x, [boxes[3][2] - 1, boxes[3][1]], atol=3)
    if features == "rootsift":  # deterministic (ALIKED's second run costs seconds on CPU)
        again = detect(img, KINDS[features], st)
        assert np.array_equal(again.instances, res.instances) and again.support == res.support


@pytest.mark.parametrize("features", list(KINDS))
def test_two_overlapping_crops_give_their_overlap(features: str) -> None:
    (field,) = _tiles(7, ["histology"], 140, 320)
    left, right = field[:, :200], field[:, 120:]  # one field of view, 80 columns shared
    (other,) = _tiles(8, ["fluorescence"], 140, 200)
    img, st = _figure([left, other, right], ["microscopy"] * 3, 3)
    res = detect(img, KINDS[features], st)
    assert res.instances.shape[0] == 1
    a, b = st.panels[0].box, st.panels[2].box
    truth = np.zeros(img.shape[:2], bool)
    truth[a[1] : a[3], a[0] + 120 : a[0] + 200] = True
    truth[b[1] : b[3], b[0] : b[0] + 80] = True
    inst = res.instances[0]
    iou = (inst & truth).sum() / (inst | truth).sum()
    assert iou > 0.9
    assert not res.transforms[0][0].flipped


def test_a_part_pasted_into_another_panel_is_masked_on_both_sides_not_the_whole_panel() -> None:
    tiles = _tiles(21, ["histology", "fluorescence", "histology"], 160, 200)
    # A third of panel a, turned by 180 degrees, pasted into panel c: the rest of c is its own.
    part = tiles[0][20:110, 30:120]
    tiles[2][30:120, 60:150] = part[::-1, ::-1]
    img, st = _figure(tiles, ["microscopy"] * 3, 3, letters="abc", bar=True)
    res = detect(img, KINDS["rootsift"], st)
    assert res.instances.shape[0] == 1
    a, c = st.panels[0].box, st.panels[2].box
    truth = np.zeros(img.shape[:2], bool)
    truth[a[1] + 20 : a[1] + 110, a[0] + 30 : a[0] + 120] = True
    truth[c[1] + 30 : c[1] + 120, c[0] + 60 : c[0] + 150] = True
    inst = res.instances[0]
    f1 = 2 * (inst & truth).sum() / (inst.sum() + truth.sum())
    assert f1 > 0.8, f1
    # The warped box would have covered most of both panels.
    assert _share(inst, a) < 0.4 and _share(inst, c) < 0.4
    assert _share(inst, st.panels[1].box) == 0.0


def _blots_with_a_reused_lane() -> tuple[np.ndarray, Structure, tuple[int, int, int, int]]:
    """Two blots; one lane strip of the first is pasted over a lane of the second. Returns
    the figure, its structure and the pasted box (x0, y0, x1, y1) in figure pixels."""
    rng = np.random.default_rng(2)
    a = render_single(rng, "western_blot", 120, 300).image
    b = render_single(rng, "western_blot", 120, 300).image
    # A lane of blot a (columns 232-259, its bands in rows 14-105), found by hand.
    x0, y0, x1, y1 = 232, 14, 259, 105
    b = b.copy()
    b[y0:y1, 159 : 159 + (x1 - x0)] = a[y0:y1, x0:x1]
    img, st = _figure([a, b], ["blot", "blot"], 2)
    bx, by = st.panels[1].box[:2]
    return img, st, (bx + 159, by + y0, bx + 159 + (x1 - x0), by + y1)


def test_a_reused_lane_is_found() -> None:
    img, st, pasted = _blots_with_a_reused_lane()
    res = detect(img, PairsConfig(), st)
    assert res.instances.shape[0] == 1
    inst = res.instances[0]
    ax, ay = st.panels[0].box[:2]
    source = (ax + 232, ay + 14, ax + 259, ay + 105)
    assert _share(inst, source) > 0.9 and _share(inst, pasted) > 0.9
    # The lane, not the blots: well under a third of the two panels.
    assert inst.sum() < 0.3 * sum(p.area for p in st.panels)
    # The lane holds 8-11 keypoint inliers: below 12 only the lane matcher finds it.
    assert detect(img, PairsConfig(min_inliers=12), st).instances.shape[0] == 1
    assert detect(img, PairsConfig(lanes=False, min_inliers=12), st).instances.shape[0] == 0


@pytest.mark.parametrize("features", list(KINDS))
def test_distinct_panels_with_identical_scale_bars_and_letters_stay_silent(features: str) -> None:
    tiles = _tiles(11, ["fluorescence", "histology", "fluorescence", "histology"], 120, 160)
    img, st = _figure(tiles, ["microscopy"] * 4, 2, letters="AAAA", bar=True)
    # Without a text mask too: the glyphs' matches must fail on the pixels around them.
    for structure in (st, Structure(st.panels, np.zeros_like(st.text_mask))):
        res = detect(img, KINDS[features], structure)
        assert res.instances.shape[0] == 0, res.transforms


def _dark_field(seed: int, cells: int) -> np.ndarray:
    """A dark fluorescence-like tile (120, 160, 3): a faint noisy ground and ``cells`` cells."""
    rng = np.random.default_rng(seed)
    tile = np.clip(8 + 3 * rng.normal(0, 1, (120, 160, 3)), 0, 255).astype(np.uint8)
    for _ in range(cells):
        x, y = int(rng.integers(30, 130)), int(rng.integers(30, 90))
        cv2.circle(tile, (x, y), int(rng.integers(4, 8)), (0, int(rng.integers(120, 220)), 0), -1)
    return cv2.GaussianBlur(tile, (3, 3), 0)


def test_a_dark_panel_shown_twice_unchanged_is_found() -> None:
    # At the same place in its panel, unscaled: the map of a panel letter or scale bar too.
    # Most matches sit on the glyphs, which the shared region leaves out: they must not
    # count against it, and the panel must correlate all over (min_echo_zncc).
    tiles = [_dark_field(s, 12) for s in (1, 2, 3)]
    tiles.append(tiles[0].copy())
    img, st = _figure(tiles, ["microscopy"] * 4, 2, letters="abcd", bar=True)
    res = detect(img, KINDS["rootsift"], st)
    assert res.instances.shape[0] == 1
    boxes = [p.box for p in st.panels]
    assert _share(res.instances[0], boxes[0]) > 0.95 and _share(res.instances[0], boxes[3]) > 0.95


def test_distinct_blots_with_look_alike_lanes_stay_silent() -> None:
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        tiles = [render_single(rng, "western_blot", 120, 300).image for _ in range(3)]
        img, st = _figure(tiles, ["blot"] * 3, 1)
        assert detect(img, PairsConfig(), st).instances.shape[0] == 0


def test_panels_are_compared_only_within_compared_classes_across_them_by_default() -> None:
    tiles = _tiles(5, ["fluorescence", "histology"], 120, 160)
    tiles.append(tiles[0][::-1].copy())
    img, st = _figure(tiles, ["chart", "chart", "chart"], 3)
    assert detect(img, PairsConfig(), st).instances.shape[0] == 0  # charts: skipped
    assert detect(img, PairsConfig(classes=("chart",)), st).instances.shape[0] == 1
    mixed = Structure(
        tuple(
            Panel(p.box, c) for p, c in zip(st.panels, ["microscopy", "blot", "blot"], strict=True)
        ),
        st.text_mask,
    )
    # A reuse can change the class the classical cut gives it (a quarter turn, re-lighting):
    # by default any two compared panels are paired; same_class restores one class per pair.
    assert detect(img, PairsConfig(), mixed).instances.shape[0] == 1
    assert detect(img, PairsConfig(same_class=True), mixed).instances.shape[0] == 0


def test_the_registry_runs_it_and_one_panel_says_nothing() -> None:
    tiles = _tiles(5, ["fluorescence"], 120, 160)
    img, st = _figure([*tiles, tiles[0][:, ::-1].copy()], ["microscopy"] * 2, 2)
    matcher = get_matcher("pairs")
    assert matcher.detect(img, matcher.settings(DetectConfig())).instances.ndim == 3
    whole = Structure.whole(img.shape[:2])
    assert detect(img, PairsConfig(), whole).instances.shape == (0, *img.shape[:2])
    with pytest.raises(ValueError, match="text_mask"):
        detect(img, PairsConfig(), Structure(st.panels, np.zeros((3, 3), bool)))


def test_poses_map_points_back_to_the_panel() -> None:
    img = np.arange(6 * 9).reshape(6, 9)
    for pose in POSES:
        posed = apply_pose(img, pose)
        ys, xs = np.mgrid[0 : posed.shape[0], 0 : posed.shape[1]]
        pts = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
        back = np.round(unpose_points(pts, pose, img.shape)).astype(int)
        assert np.array_equal(img[back[:, 1], back[:, 0]], posed.ravel()), pose


def test_settings_are_checked_naming_the_full_key() -> None:
    assert PAIR_CLASSES == PANEL_CLASSES
    with pytest.raises(ParamsError, match=r"detect\.pairs\.features must be one of"):
        DetectConfig.from_mapping({"pairs": {"features": "orb"}})
    with pytest.raises(ParamsError, match=r"detect\.pairs\.min_inliers must be >= 4"):
        DetectConfig.from_mapping({"pairs": {"min_inliers": 2}})
    with pytest.raises(ParamsError, match=r"detect\.pairs\.classes must be one of .*got 'graph'"):
        PairsConfig.from_mapping({"classes": ["graph"]})
    with pytest.raises(ParamsError, match=r"detect\.pairs\.min_side .* exceeds"):
        PairsConfig(min_side=600, max_side=400)


def test_a_stretched_or_sheared_fit_is_not_a_reuse() -> None:
    # A reuse is rescaled alike on both axes. Repeated marks (a gel's well markers, the
    # bars of a chart) also fit a mirrored map stretched or sheared by 1.3-1.5.
    from forgeseg.matchers.pairs.verify import fit

    pts = np.random.default_rng(0).uniform(0, 100, (40, 2)).astype(np.float32)
    cfg = PairsConfig()
    similar = np.array([[-1.2, 0.0], [0.0, 1.2]])  # mirrored and rescaled: a reuse
    sheared = np.array([[-1.0, -0.4], [0.0, 1.03]])  # singular values 1.24 / 0.83
    assert fit(pts, pts @ similar.T + 20, 1.0, cfg) is not None
    assert fit(pts, pts @ sheared.T + 20, 1.0, cfg) is None
