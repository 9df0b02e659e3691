"""matchers.dense: finds small translated, mirrored, turned, rotated and rescaled copies as
one source+copy instance; stays silent on look-alike objects (the same shape under another
grain), regular patterns, repeated text, flat and tiny figures. Its steps (the vote, the
region, the pixel evidence) are checked through their public functions."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from scipy.spatial import cKDTree

from forgeseg.config.matchers import DenseConfig
from forgeseg.core.errors import ParamsError
from forgeseg.matchers import dense
from forgeseg.matchers.base import MatchResult
from forgeseg.matchers.dense import Reason, Verdict, detect, grain_sigma, stroke_width
from forgeseg.matchers.dense.blocks import blocks
from forgeseg.matchers.dense.evidence import exact_share, residual
from forgeseg.matchers.dense.index import BlockIndex, build_index, poses, query
from forgeseg.matchers.dense.vote import largest_region, translation_candidates
from forgeseg.panels import Panel, Structure
from forgeseg.synth.forge import apply_geometry

H, W = 200, 320
BAND = (28, 36)  # (h, w) of the copied box around one band


def _blot(seed: int) -> np.ndarray:
    """A blot-like grey figure (H, W) uint8: two rows of independently rendered dark bands,
    each with its own grain, on a noisy light background."""
    rng = np.random.default_rng(seed)
    img = 215 + 4 * rng.normal(0, 1, (H, W)).astype(np.float32)
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    for cy in (50, 140):
        for cx in range(40, W - 20, 60):
            sy, sx = rng.uniform(4, 6), rng.uniform(10, 14)
            depth = rng.uniform(90, 140)
            blob = np.exp(-(((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2) / 2)
            grain = cv2.GaussianBlur(rng.normal(0, 1, (H, W)).astype(np.float32), (0, 0), 1.0)
            img -= depth * blob * (1 + 0.35 * grain)
    return np.clip(img, 0, 255).astype(np.uint8)


def _forge(op: str) -> tuple[np.ndarray, np.ndarray]:
    """Copy the box around one band of :func:`_blot` over another band under ``op``.

    Returns (RGB figure (H, W, 3) uint8, truth source|copy (H, W) bool).
    """
    img = _blot(0)
    bh, bw = BAND
    sy, sx = 50 - bh // 2, 100 - bw // 2  # band centred at (50, 100)
    patch = img[sy : sy + bh, sx : sx + bw]
    if op == "hflip":
        patch = patch[:, ::-1]
    elif op == "rot90":
        patch = np.rot90(patch)
    ph, pw = patch.shape
    ty, tx = 140 - ph // 2, 220 - pw // 2  # over the band at (140, 220)
    out = img.copy()
    out[ty : ty + ph, tx : tx + pw] = patch
    truth = np.zeros((H, W), bool)
    truth[sy : sy + bh, sx : sx + bw] = True
    truth[ty : ty + ph, tx : tx + pw] = True
    return np.repeat(out[:, :, None], 3, axis=2), truth


@pytest.mark.parametrize("op", ["translate", "hflip", "rot90"])
def test_finds_small_copy_as_one_source_plus_copy_instance(op: str) -> None:
    image, truth = _forge(op)
    res = detect(image)
    assert isinstance(res, MatchResult)
    assert res.instances.shape == (1, H, W)
    assert res.instances.dtype == bool
    mask = res.instances[0]
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.5, iou
    assert res.support[0] >= DenseConfig().min_blocks
    assert res.score == max(res.support)
    assert res.n_keypoints > 0
    assert len(res.transforms) == 1 and res.transforms[0]


@pytest.mark.parametrize(
    ("geom", "box", "without"),
    [
        ({"angle": -6.0}, (40, 48), {"affine": False}),
        ({"scale": 1.15}, (40, 48), {"affine": False}),
        ({"angle": 5.0, "scale": 1.1}, BAND, {"affine": False}),
        # Block twins stop matching beyond about 10 degrees; the turned queries find it.
        ({"angle": 16.0}, (40, 48), {"turn": 0.0}),
        ({"angle": -18.0, "scale": 0.9}, (40, 48), {"turn": 0.0}),
    ],
)
def test_finds_a_rotated_or_rescaled_copy(geom: dict, box: tuple[int, int], without: dict) -> None:
    # Resampled exactly as the generator's forger does (bilinear), so the copy's grain is
    # its source's, interpolated: the refined map must reproduce that to pass the residual.
    img = _blot(0)
    bh, bw = box
    sy, sx = 50 - bh // 2, 100 - bw // 2
    patch = img[sy : sy + bh, sx : sx + bw]
    moved = apply_geometry(patch, geom)
    inside = apply_geometry(np.ones(patch.shape, bool), geom, is_mask=True)
    ph, pw = moved.shape
    ty, tx = 140 - ph // 2, 220 - pw // 2
    img[ty : ty + ph, tx : tx + pw][inside] = moved[inside]
    truth = np.zeros((H, W), bool)
    truth[sy : sy + bh, sx : sx + bw] = True
    truth[ty : ty + ph, tx : tx + pw] |= inside
    image = np.repeat(img[:, :, None], 3, axis=2)
    res = detect(image)
    assert res.instances.shape[0] == 1
    mask = res.instances[0]
    assert (mask & truth).sum() / (mask | truth).sum() > 0.5
    # Source to copy, or copy to source: the instance may hold the map both ways.
    want = geom.get("scale", 1.0)
    for tr in res.transforms[0]:
        scale = np.sqrt(abs(np.linalg.det(tr.matrix[:, :2])))
        assert scale == pytest.approx(want, rel=0.03) or scale == pytest.approx(1 / want, rel=0.03)
    # Without the step that gathers it, the copy is missed: the translation vote cannot
    # gather a copy whose shift varies over it, nor block twins match past 10 degrees.
    assert detect(image, DenseConfig(**without)).instances.shape[0] == 0


def _rotated_copy(angle: float) -> np.ndarray:
    """uint8 (H, W) :func:`_blot` with the 40 x 48 box around one band pasted over another
    turned by ``angle`` degrees."""
    img = _blot(0)
    sy, sx = 50 - 20, 100 - 24
    patch = img[sy : sy + 40, sx : sx + 48]
    moved = apply_geometry(patch, {"angle": angle})
    inside = apply_geometry(np.ones(patch.shape, bool), {"angle": angle}, is_mask=True)
    ph, pw = moved.shape
    ty, tx = 140 - ph // 2, 220 - pw // 2
    img[ty : ty + ph, tx : tx + pw][inside] = moved[inside]
    return img


def test_the_sparse_turned_look_up_gathers_what_the_full_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With turn_coarse 2 the turned blocks are looked up every other stride first, all of
    # them only around what that finds: this copy's candidate is the same, for less.
    gray = _rotated_copy(16.0).astype(np.float32)
    cfg = DenseConfig()
    # Twins are indexed at every pixel (dense_index), as detect does.
    corners, desc, _ = blocks(gray, cfg, stride=1, max_blocks=H * W)
    index = build_index(corners, desc, cfg)
    looked_up: list[int] = []

    def counted(index: BlockIndex, desc: np.ndarray, *args: object) -> tuple:
        looked_up.append(len(desc))
        return query(index, desc, *args)

    monkeypatch.setattr(dense.affine, "query", counted)
    full = dense.affine.turned_search(index, gray, cfg.stride, 14.0, replace(cfg, turn_coarse=1))
    n_full = sum(looked_up)
    looked_up.clear()
    sparse = dense.affine.turned_search(index, gray, cfg.stride, 14.0, replace(cfg, turn_coarse=2))
    assert full and sparse
    assert np.array_equal(sparse[0].xy, full[0].xy)
    assert np.allclose(sparse[0].linear, full[0].linear)
    assert sum(looked_up) < 0.5 * n_full


def test_the_index_in_principal_axes_finds_the_twins_of_a_plain_tree() -> None:
    # The tree stands in the descriptors' principal axes to be searched faster; a rotation
    # keeps every distance, so the twins are those a tree on the descriptors finds.
    forged, _ = _forge("hflip")
    cfg = DenseConfig()
    corners, desc, _ = blocks(forged[:, :, 0].astype(np.float32), cfg, stride=1, max_blocks=H * W)
    index = build_index(corners, desc, cfg)
    assert not np.allclose(index.axes, np.eye(16))
    canon, pose, _, _ = poses(desc, cfg)
    plain = BlockIndex(cKDTree(canon), pose, corners, np.zeros(16), np.eye(16))
    exact = replace(cfg, search_eps=0.0)
    got = np.stack(query(index, desc, corners, exact), axis=1)
    want = np.stack(query(plain, desc, corners, exact), axis=1)
    assert len(want) > 100
    assert np.array_equal(np.unique(got, axis=0), np.unique(want, axis=0))


def _large_rescaled_copy() -> tuple[np.ndarray, np.ndarray]:
    """Grey figure (330, 480) uint8 of fine random texture whose 215 x 215 box at (20, 20)
    is pasted rescaled by 1.1 in the bottom-right corner; and the truth source|copy."""
    h, w, side = 330, 480, 215
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, (h // 8 + 2, w // 8 + 2)).astype(np.float32)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    img += 0.5 * cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5)
    img = ((img - img.min()) / (img.max() - img.min()) * 200 + 30).astype(np.uint8)
    geom = {"scale": 1.1}
    moved = apply_geometry(img[20 : 20 + side, 20 : 20 + side], geom)
    inside = apply_geometry(np.ones((side, side), bool), geom, is_mask=True)
    ph, pw = moved.shape
    ty, tx = h - ph - 10, w - pw - 10
    img[ty : ty + ph, tx : tx + pw][inside] = moved[inside]
    truth = np.zeros((h, w), bool)
    truth[20 : 20 + side, 20 : 20 + side] = True
    truth[ty : ty + ph, tx : tx + pw] |= inside
    return img, truth


def test_finds_a_rescaled_copy_larger_than_opencvs_map_limit() -> None:
    # The refinement samples the copy's core, one point per pixel, through cv2.remap, whose
    # maps must stay under 32767 on each side: a core of more pixels than that (a copy of
    # about 180 x 180 px) used to crash the matcher. A small working copy keeps this quick;
    # the core is checked at full resolution all the same.
    img, truth = _large_rescaled_copy()
    assert truth[:, :240].sum() > 40000  # the source alone: its core exceeds 32767 px
    res = detect(img, DenseConfig(max_side=240))
    assert res.instances.shape[0] == 1
    mask = res.instances[0]
    assert (mask & truth).sum() / (mask | truth).sum() > 0.5
    # Source to copy or copy to source.
    scales = [np.sqrt(abs(np.linalg.det(t.matrix[:, :2]))) for t in res.transforms[0]]
    assert any(abs(np.log(s / 1.1)) < 0.02 or abs(np.log(s * 1.1)) < 0.02 for s in scales)


def test_a_structure_that_marks_nothing_or_is_turned_off_changes_nothing() -> None:
    # Direct callers and figures without panels or text see the matcher as it ran before
    # it took a structure.
    image, truth = _forge("translate")
    bare = detect(image)
    # Source and copy marked as text and half the figure left out of the panels: given,
    # it silences the copy.
    marked = Structure((Panel((0, 0, W // 2, H)),), truth.copy())
    assert detect(image, None, marked).instances.shape[0] == 0
    for res in (
        detect(image, None, Structure.whole((H, W))),
        detect(image, DenseConfig(use_structure=False), marked),
    ):
        assert np.array_equal(res.instances, bare.instances)
        assert res.support == bare.support and res.n_matches == bare.n_matches
        assert res.n_keypoints == bare.n_keypoints


def test_silent_on_independently_rendered_lookalike_bands() -> None:
    image = np.repeat(_blot(1)[:, :, None], 3, axis=2)
    res = detect(image)
    assert res.instances.shape == (0, H, W)
    assert res.score == 0.0


def _mirror_symmetric(apart: int) -> np.ndarray:
    """A blot figure holding a textured patch and its mirror image ``apart`` px to its
    right: at 0 one mirror-symmetric object (a fundus photo's rim, a dish, a symmetric
    cell), further apart a flipped copy. RGB (H, W, 3) uint8."""
    rng = np.random.default_rng(0)
    img = _blot(3).astype(np.float32)
    tex = cv2.GaussianBlur(rng.normal(0, 1, (80, 60)).astype(np.float32), (0, 0), 1.5)
    tex = 150 + 60 * tex / tex.std() + 4 * rng.normal(0, 1, (80, 60))
    img[60:140, 100:160] = tex
    img[60:140, 160 + apart : 220 + apart] = tex[:, ::-1]
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def test_a_mirror_symmetric_object_is_not_a_copy_of_itself() -> None:
    trace: list = []
    res = detect(_mirror_symmetric(0), DenseConfig(), trace=trace)
    assert res.instances.shape[0] == 0
    assert any(v.outcome == "self_overlap" for v in trace)
    # Without the check it is reported; moved apart, the same halves are a flipped copy.
    assert detect(_mirror_symmetric(0), DenseConfig(mirror_band=0)).instances.shape[0] == 1
    moved = detect(_mirror_symmetric(40), DenseConfig())
    assert moved.instances.shape[0] == 1 and moved.transforms[0][0].flipped


def test_silent_on_repeated_text() -> None:
    img = np.full((H, W, 3), 255, np.uint8)
    for row in range(4):
        for col, label in enumerate(("WT", "KO", "Actin", "kDa 50")):
            org = (10 + 75 * col, 35 + 45 * row)
            cv2.putText(img, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    assert detect(img).instances.shape == (0, H, W)


def _repeated_label() -> np.ndarray:
    """Grey figure (H, W) uint8: one label image ("AKT" on grainy grey) placed twice with
    identical pixels on a shaded page, as a figure tool repeats a row label."""
    rng = np.random.default_rng(3)
    img = np.repeat(np.linspace(170, 230, W)[None, :], H, axis=0).astype(np.uint8)
    label = np.clip(200 + 6 * rng.normal(0, 1, (30, 70)), 0, 255).astype(np.uint8)
    cv2.putText(label, "AKT", (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 40, 2, cv2.LINE_AA)
    img[20:50, 10:80] = label
    img[130:160, 10:80] = label
    return img


def test_a_label_pasted_twice_with_its_grain_is_reported_as_duplicated() -> None:
    # Grain and all, the two label images are identical pixels: that is a duplication,
    # whatever it shows. Typeset labels (next test) carry no shared grain and stay silent.
    img = _repeated_label()
    res = detect(img)
    assert res.instances.shape[0] == 1
    assert res.transforms[0][0].residual < 0.2


def test_silent_on_a_label_typeset_twice_on_a_grainy_page() -> None:
    rng = np.random.default_rng(4)
    img = np.clip(200 + 6 * rng.normal(0, 1, (H, W)), 0, 255).astype(np.uint8)
    for y in (45, 155):
        cv2.putText(img, "AKT", (14, y), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 40, 2, cv2.LINE_AA)
    trace: list[Verdict] = []
    assert detect(img, trace=trace).instances.shape == (0, H, W)
    # The glyphs' ink carries no grain to compare; equal pixels are what they then lack.
    assert Reason.MIN_EXACT in {v.outcome for v in trace}


def _twins(copied: bool) -> tuple[np.ndarray, np.ndarray]:
    """Grey figure (H, W) uint8 with two bands of exactly the same smooth shape, each under
    its own pixel grain; with ``copied`` the second is the first pasted, grain and all.
    Returns (figure, truth source|copy (H, W) bool)."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:40, :60].astype(np.float32)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (40, 60)).astype(np.float32), (0, 0), 2.0)
    band = np.exp(-(((yy - 20) / 7) ** 2 + ((xx - 30) / 16) ** 2) / 2) * (1 + 1.5 * texture)
    page = np.full((H, W), 215, np.float32)
    page[80:120, 60:120] -= 110 * band
    page[80:120, 200:260] -= 110 * band
    img = np.clip(page + 3 * rng.normal(0, 1, (H, W)), 0, 255).astype(np.uint8)
    truth = np.zeros((H, W), bool)
    if copied:
        img[80:120, 200:260] = img[80:120, 60:120]
        truth[80:120, 60:120] = truth[80:120, 200:260] = True
    return img, truth


def test_tells_a_copy_from_a_lookalike_by_its_grain() -> None:
    # The shapes match to the last grey level of their smooth part; only a copy shares the
    # grain, and the fine residual of copy minus source is what says so.
    lookalike, _ = _twins(copied=False)
    assert detect(lookalike).instances.shape == (0, H, W)
    forged, truth = _twins(copied=True)
    res = detect(forged)
    assert res.instances.shape == (1, H, W)
    mask = res.instances[0]
    assert (mask & truth).sum() / (mask | truth).sum() > 0.5
    assert res.transforms[0][0].residual < 0.2
    loose = DenseConfig(max_residual=10.0, min_hp_zncc=-1.0)
    assert detect(lookalike, loose).instances.shape[0] == 1  # what the residual test stops


def _grainy_page(seed: int) -> np.ndarray:
    """float32 (H, W) flat grey page under white pixel grain of 3 grey levels."""
    rng = np.random.default_rng(seed)
    return (120 + 3 * rng.normal(0, 1, (H, W))).astype(np.float32)


def test_residual_tells_a_shared_grain_from_an_independent_one() -> None:
    page = _grainy_page(8)
    grain = grain_sigma(page, DenseConfig().hp_sigma)
    region = np.zeros((H, W), bool)
    region[40:90, 60:160] = True
    valid = np.ones((H, W), bool)
    # A copy carries its source's grain: copy minus mapped source leaves nothing.
    assert residual(page, page.copy(), valid, region, grain, DenseConfig()) < 0.05
    # A look-alike under its own grain leaves two grains' worth: about 1.
    other = _grainy_page(9)
    assert residual(page, other, valid, region, grain, DenseConfig()) == pytest.approx(1, abs=0.2)


def test_residual_is_not_measured_where_the_region_has_no_grain() -> None:
    # Flat ink drawn over a grainy page (a glyph, a band whose mottling is coarser than
    # grain): there is no grain to compare, so the residual says nothing (NaN) rather than
    # "copy".
    page = _grainy_page(8)
    grain = grain_sigma(page, DenseConfig().hp_sigma)
    page[40:90, 60:160] = 60.0
    region = np.zeros((H, W), bool)
    region[40:90, 60:160] = True
    valid = np.ones((H, W), bool)
    assert np.isnan(residual(page, page.copy(), valid, region, grain, DenseConfig()))
    assert np.isnan(residual(page, page.copy(), valid, region, 0.0, DenseConfig()))


def test_where_grain_cannot_be_compared_only_equal_pixels_make_a_copy() -> None:
    # What decides then is whether the copy's pixels equal the mapped source's to the grey
    # level, up to one brightness map; two objects drawn apart never agree so closely.
    src = np.rint(_grainy_page(10))
    region = np.zeros((H, W), bool)
    region[40:90, 60:160] = True
    valid = np.ones((H, W), bool)
    assert exact_share(src, src.copy(), valid, region) == 1.0
    relit = np.rint(1.15 * src - 12)  # the copy re-lit, then rounded to grey levels
    assert exact_share(relit, src, valid, region) > 0.95
    lookalike = np.rint(_grainy_page(11))
    assert exact_share(lookalike, src, valid, region) < 0.5
    # Too small a region to judge.
    tiny = np.zeros((H, W), bool)
    tiny[10:13, 10:13] = True
    assert exact_share(src, src.copy(), valid, tiny) == 0.0


def test_silent_on_a_regular_pattern_repeated_pixel_for_pixel() -> None:
    # Wells or ladder rungs stamped at a fixed pitch, grain included: every multiple of the
    # pitch matches, which a copy-move does not.
    rng = np.random.default_rng(6)
    tile = np.clip(190 + 5 * rng.normal(0, 1, (40, 32)), 0, 255).astype(np.uint8)
    cv2.rectangle(tile, (6, 12), (25, 27), 60, 2)
    img = np.full((H, W), 200, np.uint8)
    img[80:120, : 32 * 10] = np.tile(tile, (1, 10))
    assert detect(img).instances.shape == (0, H, W)


def test_finds_a_copy_at_an_odd_shift() -> None:
    # Blocks are queried on a 2-px grid but indexed at every pixel, so a copy one pixel off
    # the grid still meets an exact twin.
    img = _blot(0)
    out = img.copy()
    out[127:155, 203:239] = img[36:64, 82:118]
    truth = np.zeros((H, W), bool)
    truth[36:64, 82:118] = truth[127:155, 203:239] = True
    res = detect(out)
    assert res.instances.shape == (1, H, W)
    mask = res.instances[0]
    assert (mask & truth).sum() / (mask | truth).sum() > 0.5


def test_grain_sigma_measures_pixel_noise() -> None:
    rng = np.random.default_rng(7)
    ramp = np.repeat(np.linspace(60, 190, W, dtype=np.float32)[None, :], H, axis=0)
    for sigma in (1.0, 3.0, 6.0):
        noisy = ramp + sigma * rng.normal(0, 1, (H, W)).astype(np.float32)
        assert grain_sigma(noisy, 1.5) == pytest.approx(sigma, rel=0.15)
    assert grain_sigma(np.full((H, W), 255.0, np.float32), 1.5) == 0.0


def test_votes_split_across_a_bin_border_make_one_candidate() -> None:
    # 25 connected source blocks whose twins sit 2.9 or 3.1 px away: with 3-px bins the
    # votes fall into two neighbouring bins, neither reaching min_blocks on its own.
    cfg = DenseConfig(min_blocks=16)
    grid = np.array([(x, y) for y in range(0, 10, 2) for x in range(0, 10, 2)], np.int64)
    n = len(grid)
    corners = np.concatenate([grid, grid + np.array([40, 30]), grid + np.array([41, 30])])
    src = np.arange(n)
    dst = np.where(np.arange(n) % 2 == 0, n + np.arange(n), 2 * n + np.arange(n))
    cands = translation_candidates(corners, src, dst, np.zeros(n, np.int64), cfg)
    assert len(cands) == 1
    assert len(cands[0].xy) == n


def test_a_compact_copy_outranks_more_votes_scattered_over_the_figure() -> None:
    # Transform A: one compact region of 36 blocks. Transform B: 60 votes, but only 20 of
    # them form a region (the rest are chance twins of look-alikes all over the figure).
    # With one slot, the copy must be the one verified.
    cfg = DenseConfig(min_blocks=16, max_candidates=1)
    region_a = np.array([(x, y) for y in range(0, 12, 2) for x in range(0, 12, 2)], np.int64)
    region_b = np.array([(x, y) for y in range(0, 8, 2) for x in range(0, 10, 2)], np.int64)
    region_b = region_b + np.array([100, 0])
    scattered = np.array([(20 * (k % 10), 60 + 20 * (k // 10)) for k in range(40)], np.int64)
    sources = np.concatenate([region_a, region_b, scattered])
    shift = np.where(np.arange(len(sources))[:, None] < len(region_a), [50, 200], [7, 250])
    corners = np.concatenate([sources, sources + shift])
    n = len(sources)
    zero = np.zeros(n, np.int64)
    cands = translation_candidates(corners, np.arange(n), n + np.arange(n), zero, cfg)
    assert len(cands) == 1
    assert np.allclose(cands[0].shift, [50, 200])
    assert len(cands[0].xy) == len(region_a)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_largest_region_joins_blocks_that_touch_and_only_those(step: int) -> None:
    b = DenseConfig().block
    reach = (b // step) * step  # farthest grid offset at which two blocks still touch
    row = np.array([(k * reach, 0) for k in range(5)], np.int64)  # a chain that touches
    apart = np.array([(k * reach, reach + step) for k in range(4)], np.int64)
    offset = np.array([6 * step, 3 * step])  # off the origin: corners share only the step
    corners = np.concatenate([apart, row]) + offset
    picked = largest_region(corners, DenseConfig())
    assert picked.tolist() == list(range(4, 9))
    # Move the second group within reach of the chain: one region of all 9 blocks.
    closer = np.concatenate([apart - np.array([0, step]), row]) + offset
    assert len(largest_region(closer, DenseConfig())) == 9


def test_stroke_width_tells_text_from_blobs() -> None:
    img = _repeated_label()
    label = np.zeros((H, W), bool)
    label[20:50, 10:80] = True
    assert stroke_width(img, label) < DenseConfig().min_stroke
    band, truth = _forge("translate")
    assert stroke_width(band[:, :, 0], truth) > DenseConfig().min_stroke + 1


@pytest.mark.parametrize("shape", [(H, W, 3), (5, 7, 3), (12, 400, 3), (H, W)])
def test_silent_on_flat_tiny_and_grey_figures(shape: tuple[int, ...]) -> None:
    img = np.full(shape, 128, np.uint8)
    res = detect(img)
    assert res.instances.shape == (0, *shape[:2])


def test_accepts_rgba_and_grey_like_rgb() -> None:
    image, _ = _forge("translate")
    rgba = np.dstack([image, np.full((H, W), 255, np.uint8)])
    assert detect(rgba).instances.shape == detect(image[:, :, 0]).instances.shape == (1, H, W)


def test_deterministic() -> None:
    image, _ = _forge("hflip")
    a, b = detect(image), detect(image)
    assert np.array_equal(a.instances, b.instances) and a.support == b.support


def test_config_from_mapping_checks_keys_and_values() -> None:
    assert DenseConfig.from_mapping({"stride": 3, "min_zncc": 1}).min_zncc == 1.0
    with pytest.raises(ParamsError, match="bogus"):
        DenseConfig.from_mapping({"bogus": 1})
    with pytest.raises(ParamsError, match="block"):
        DenseConfig.from_mapping({"block": 10})
    with pytest.raises(ParamsError, match="min_zncc"):
        DenseConfig.from_mapping({"min_zncc": 2.0})
    with pytest.raises(ParamsError, match="flips"):
        DenseConfig.from_mapping({"flips": "yes"})


def test_config_checks_the_new_settings() -> None:
    assert DenseConfig.from_mapping({"max_residual": 1}).max_residual == 1.0
    with pytest.raises(ParamsError, match="max_residual"):
        DenseConfig.from_mapping({"max_residual": -0.5})
    with pytest.raises(ParamsError, match="dense_index"):
        DenseConfig.from_mapping({"dense_index": "yes"})
    with pytest.raises(ParamsError, match="core_erode"):
        DenseConfig.from_mapping({"core_erode": 1.5})
    with pytest.raises(ParamsError, match="affine"):
        DenseConfig.from_mapping({"affine": 1})
    with pytest.raises(ParamsError, match="affine_drift"):
        DenseConfig.from_mapping({"affine_drift": -1})
    with pytest.raises(ParamsError, match="max_affine"):
        DenseConfig.from_mapping({"max_affine": -1})
    with pytest.raises(ParamsError, match="turn"):
        DenseConfig.from_mapping({"turn": -5})
    with pytest.raises(ParamsError, match="turn_coarse"):
        DenseConfig.from_mapping({"turn_coarse": 0})
    with pytest.raises(ParamsError, match="search_eps"):
        DenseConfig.from_mapping({"search_eps": -0.1})
    with pytest.raises(ParamsError, match="min_affine_zncc"):
        DenseConfig.from_mapping({"min_affine_zncc": 1.5})
    with pytest.raises(ParamsError, match="min_exact"):
        DenseConfig.from_mapping({"min_exact": 1.2})
    with pytest.raises(ParamsError, match="max_text_share"):
        DenseConfig.from_mapping({"max_text_share": 1.5})
    with pytest.raises(ParamsError, match="max_gutter_share"):
        DenseConfig.from_mapping({"max_gutter_share": -0.1})


def test_trace_names_the_check_that_stopped_each_candidate() -> None:
    lookalike, _ = _twins(copied=False)
    trace: list[Verdict] = []
    detect(lookalike, DenseConfig(min_hp_zncc=-1.0), trace=trace)
    assert trace and {v.outcome for v in trace} == {Reason.MAX_RESIDUAL}
    # The reasons are the settings' names, as plain strings too (benchmark tables).
    assert {v.outcome for v in trace} == {"max_residual"}
    assert all(isinstance(v.outcome, Reason) for v in trace)
    forged, truth = _twins(copied=True)
    trace = []
    res = detect(forged, trace=trace)
    found = [v for v in trace if v.outcome is Reason.FOUND]
    assert found and len(trace) >= res.instances.shape[0]
    assert all(v.footprint.shape == (H, W) and v.blocks >= 16 for v in trace)
    assert (found[0].footprint & truth).sum() > 0.5 * found[0].footprint.sum()
