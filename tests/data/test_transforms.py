import numpy as np
import pytest

from forgeseg.data.transforms import denormalize, letterbox, to_tensor


@pytest.mark.parametrize("shape", [(100, 200), (300, 120), (64, 64), (60, 500)])
def test_letterbox_keeps_aspect_and_unpads_to_original_grid(shape):
    h, w = shape
    image = np.zeros((h, w, 3), np.uint8)
    image[h // 4 : h // 2, w // 4 : w // 2] = 255
    boxed, lb = letterbox(image, 128)
    assert boxed.shape == (128, 128, 3)
    assert max(lb.inner_h, lb.inner_w) == 128
    assert abs(lb.inner_h / lb.inner_w - h / w) < 0.1 or min(lb.inner_h, lb.inner_w) <= 3
    back = lb.unpad(boxed[:, :, 0].astype(np.float32) / 255)
    assert back.shape == (h, w)
    # The bright block comes back where it was.
    assert back[h // 4 + 2 : h // 2 - 2, w // 4 + 2 : w // 2 - 2].mean() > 0.8
    assert back[3 * h // 4 :, 3 * w // 4 :].mean() < 0.05


def test_masks_follow_the_figure_and_small_regions_survive():
    masks = np.zeros((2, 400, 400), bool)
    masks[0, 10:13, 10:13] = True  # 3x3 px: thinner than one input pixel at 64
    masks[1, 200:300, 100:200] = True
    _, lb = letterbox(np.zeros((400, 400, 3), np.uint8), 64)
    small = lb.apply_masks(masks)
    assert small.shape == (2, 64, 64)
    assert small[0].max() > 0  # not lost
    assert abs(small[1].sum() - 100 * 100 * (64 / 400) ** 2) < 2


def test_valid_region_excludes_padding():
    _, lb = letterbox(np.zeros((50, 100, 3), np.uint8), 64)
    valid = lb.valid()
    assert valid.sum() == lb.inner_h * lb.inner_w
    assert not valid[0].any() and not valid[-1].any()


def test_tensor_round_trip():
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    x = to_tensor(img)
    assert x.shape == (3, 32, 32)
    np.testing.assert_array_equal(denormalize(x), img)


def test_letterbox_rejects_non_rgb():
    with pytest.raises(ValueError, match=r"\(H,W,3\)"):
        letterbox(np.zeros((10, 10), np.uint8), 32)
