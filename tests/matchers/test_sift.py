"""matchers.sift: finds transformed copies as one source+copy instance, stays silent on
legitimately repeated elements, never crashes on degenerate figures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from forgeseg.config.matchers import SiftConfig
from forgeseg.core.errors import ParamsError
from forgeseg.matchers.base import MatchResult
from forgeseg.matchers.sift import detect
from forgeseg.matchers.sift.describe import mirror_descriptors
from forgeseg.matchers.sift.verify import clusters
from forgeseg.panels import Panel, Structure

H, W = 300, 400
SIZE = 80  # side of the copied patch
SRC = (30, 30)  # (y, x) of the source patch


def _texture(seed: int) -> np.ndarray:
    """Smooth random texture with fine grain: uint8 gray (H, W), keypoints everywhere."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, (H // 8 + 2, W // 8 + 2)).astype(np.float32)
    img = cv2.resize(base, (W, H), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 1, (H, W)).astype(np.float32)
    img += 0.5 * cv2.GaussianBlur(grain, (0, 0), 1.5)
    img = (img - img.min()) / (img.max() - img.min()) * 200 + 30
    return img.astype(np.uint8)


def _forge(kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A texture figure with a copy of the source patch under ``kind``.

    Returns (RGB figure (H,W,3) uint8, source mask (H,W) bool, copy mask (H,W) bool).
    """
    img = _texture(seed)
    y0, x0 = SRC
    patch = img[y0 : y0 + SIZE, x0 : x0 + SIZE].copy()
    src = np.zeros((H, W), bool)
    src[y0 : y0 + SIZE, x0 : x0 + SIZE] = True
    keep = np.ones(patch.shape, bool)
    if kind == "flip":
        patch = patch[:, ::-1]
    elif kind == "rot90":
        patch = np.rot90(patch).copy()
    elif kind == "rot20":
        # A disc, so the rotated copy has no black corners and the source is the same disc.
        m = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), 20.0, 1.0)
        patch = cv2.warpAffine(patch, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
        yy, xx = np.mgrid[:SIZE, :SIZE]
        keep = (yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2 < (SIZE / 2 - 2) ** 2
        src[:] = False
        src[y0 : y0 + SIZE, x0 : x0 + SIZE] = keep
    elif kind.startswith("scale"):
        n = round(SIZE * float(kind[5:]))
        patch = cv2.resize(patch, (n, n), interpolation=cv2.INTER_LINEAR)
        keep = np.ones(patch.shape, bool)
    ph, pw = patch.shape
    ty, tx = H - ph - 40, W - pw - 50
    out = img.copy()
    out[ty : ty + ph, tx : tx + pw][keep] = patch[keep]
    dst = np.zeros((H, W), bool)
    dst[ty : ty + ph, tx : tx + pw] = keep
    return np.repeat(out[:, :, None], 3, axis=2), src, dst


@pytest.mark.parametrize("kind", ["flip", "rot20", "rot90", "scale0.8", "scale1.25"])
def test_finds_transformed_copy_as_one_source_plus_copy_instance(kind: str) -> None:
    image, src, dst = _forge(kind)
    res = detect(image)
    assert res.instances.shape == (1, H, W)
    assert res.instances.dtype == bool
    mask = res.instances[0]
    truth = src | dst
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.4, iou
    # Both halves: the instance must hold the source and the copy, not one of them.
    assert (mask & src).sum() > 0.3 * src.sum()
    assert (mask & dst).sum() > 0.3 * dst.sum()
    assert res.support[0] >= SiftConfig().min_inliers
    assert res.score == max(res.support)
    assert res.n_matches >= res.support[0]
    # SIFT measures no grain residual: that is the dense matcher's.
    assert all(np.isnan(t.residual) for t in res.transforms[0])
    assert res.transforms[0][0].flipped == (kind == "flip")


def test_transform_maps_source_to_copy_in_full_resolution() -> None:
    # A figure larger than max_side is detected on a downscaled copy; the transform and the
    # mask must still be in the figure's own pixels.
    image, _src, dst = _forge("scale1.25")
    big = cv2.resize(image, (W * 2, H * 2), interpolation=cv2.INTER_NEAREST)
    res = detect(big, SiftConfig(max_side=W, min_side=min(W, 256)))
    assert res.instances.shape == (1, 2 * H, 2 * W)
    assert res.scale == pytest.approx(0.5)
    t = res.transforms[0][0]
    # Either direction is a valid reading of the copy; the scale tells which one was found.
    m = t.matrix if np.linalg.det(t.matrix[:, :2]) > 1 else cv2.invertAffineTransform(t.matrix)
    centre_src = np.array([SRC[1] + SIZE / 2, SRC[0] + SIZE / 2]) * 2
    ys, xs = np.nonzero(dst)
    centre_dst = np.array([xs.mean(), ys.mean()]) * 2
    mapped = m[:, :2] @ centre_src + m[:, 2]
    assert np.linalg.norm(mapped - centre_dst) < 8


def test_a_structure_that_marks_nothing_or_is_turned_off_changes_nothing() -> None:
    # Direct callers and figures without panels or text see the matcher as it ran before
    # it took a structure.
    image, src, _dst = _forge("flip")
    bare = detect(image)
    # The source marked as text and half the figure left out of the panels: given, it
    # silences the copy.
    marked = Structure((Panel((0, 0, W // 2, H)),), src.copy())
    assert detect(image, None, marked).instances.shape[0] == 0
    for res in (
        detect(image, None, Structure.whole((H, W))),
        detect(image, SiftConfig(use_structure=False), marked),
    ):
        assert np.array_equal(res.instances, bare.instances)
        assert res.support == bare.support and res.n_matches == bare.n_matches
        assert res.n_keypoints == bare.n_keypoints


def test_no_copy_no_instance() -> None:
    res = detect(np.repeat(_texture(3)[:, :, None], 3, axis=2))
    assert res.instances.shape == (0, H, W)
    assert res.support == [] and res.score == 0.0


def test_silent_on_repeated_text() -> None:
    # Panel letters, protein labels and tick labels drawn many times: identical pixels that
    # are legitimately repeated in real figures.
    img = np.full((H, W, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for row, y in enumerate(range(30, H, 45)):
        cv2.putText(img, "GAPDH", (10, y), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, "b-actin", (110, y), font, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, "ABC"[row % 3], (230, y), font, 0.9, (0, 0, 0), 2, cv2.LINE_AA)
        for k, label in enumerate(("0", "10", "20")):
            cv2.putText(img, label, (280 + 35 * k, y), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    res = detect(img)
    assert res.instances.shape[0] == 0


def test_silent_on_lookalike_cells() -> None:
    # Cells of the same shape rendered one by one, each with its own noise: look-alikes,
    # not copies.
    rng = np.random.default_rng(5)
    img = np.full((H, W), 40.0, np.float32)
    cell = np.zeros((40, 40), np.float32)
    cv2.ellipse(cell, (20, 20), (14, 9), 30, 0, 360, 150, -1)
    cv2.circle(cell, (22, 19), 4, 230, -1)
    cell = cv2.GaussianBlur(cell, (0, 0), 1.5)
    for y in range(15, H - 45, 55):
        for x in range(15, W - 45, 55):
            noisy = cell + rng.normal(0, 8, cell.shape).astype(np.float32)
            img[y : y + 40, x : x + 40] = np.maximum(img[y : y + 40, x : x + 40], noisy)
    img += rng.normal(0, 3, img.shape).astype(np.float32)
    gray = np.clip(img, 0, 255).astype(np.uint8)
    res = detect(np.repeat(gray[:, :, None], 3, axis=2))
    assert res.instances.shape[0] == 0


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((40, 50, 3), np.uint8),  # tiny and flat
        np.full((300, 200, 3), 128, np.uint8),  # flat: no keypoints
        np.zeros((5, 3, 3), np.uint8),  # smaller than any window
        np.random.default_rng(0).integers(0, 256, (60, 30, 3), dtype=np.uint8),  # tiny noise
        np.zeros((300, 300, 3), np.uint8) + np.uint8(1),
    ],
)
def test_degenerate_figures_give_no_instances(image: np.ndarray) -> None:
    image = image.copy()
    if image.shape[0] == 300 and image.shape[1] == 300:
        cv2.circle(image, (150, 150), 40, (255, 255, 255), -1)  # one object: < 2 keypoints
    res = detect(image)
    assert isinstance(res, MatchResult)
    assert res.instances.shape == (0, *image.shape[:2])


def test_grayscale_as_rgb_equals_gray() -> None:
    image, _, _ = _forge("flip")
    a = detect(image)
    b = detect(image[:, :, 0])
    assert np.array_equal(a.instances, b.instances)
    assert a.support == b.support


def test_deterministic() -> None:
    image, _, _ = _forge("rot20", seed=1)
    a, b = detect(image), detect(image)
    assert np.array_equal(a.instances, b.instances)
    assert a.support == b.support and a.n_matches == b.n_matches


def test_config_from_mapping() -> None:
    cfg = SiftConfig.from_mapping({"min_inliers": 12, "ratio": 0.7, "min_zncc": 1})
    assert cfg.min_inliers == 12 and cfg.ratio == 0.7 and cfg.min_zncc == 1.0
    assert SiftConfig.from_mapping({}) == SiftConfig()
    with pytest.raises(ParamsError, match="min_inlier"):
        SiftConfig.from_mapping({"min_inlier": 3})
    with pytest.raises(ParamsError, match="ratio"):
        SiftConfig.from_mapping({"ratio": 1.5})
    with pytest.raises(ParamsError, match="min_inliers"):
        SiftConfig.from_mapping({"min_inliers": 2.5})
    with pytest.raises(ParamsError, match="flip"):
        SiftConfig.from_mapping({"flip": "yes"})
    with pytest.raises(ParamsError, match="max_side"):
        SiftConfig.from_mapping({"max_side": 100, "min_side": 200})
    with pytest.raises(ParamsError, match="text_dilate_px"):
        SiftConfig.from_mapping({"text_dilate_px": -1})


def test_bad_image_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="uint8"):
        detect(np.zeros((50, 50, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        detect(np.zeros((50, 50, 2), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        detect(np.zeros((4, 50, 50, 3), np.uint8))


def test_mirrored_descriptors_are_a_permutation_that_undoes_itself() -> None:
    rng = np.random.default_rng(0)
    desc = rng.random((5, 128)).astype(np.float32)
    mirrored = mirror_descriptors(desc)
    assert np.array_equal(np.sort(mirrored, axis=1), np.sort(desc, axis=1))
    assert np.array_equal(mirror_descriptors(mirrored), desc)


def test_clusters_link_pairs_whose_both_ends_are_near() -> None:
    # Three pairs close at both ends (one of them in reverse order), one pair far away.
    p = np.array([[10, 10], [12, 11], [200, 150], [300, 300]], np.float32)
    q = np.array([[200, 150], [202, 152], [11, 12], [40, 40]], np.float32)
    groups = clusters(p, q, radius=5.0, min_size=1)
    assert [g.tolist() for g in groups] == [[0, 1, 2], [3]]
    assert [g.tolist() for g in clusters(p, q, radius=5.0, min_size=2)] == [[0, 1, 2]]
    assert clusters(p[:1], q[:1], radius=5.0, min_size=2) == []
