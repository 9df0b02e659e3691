"""forgeseg.core.imageio: every PNG mode to uint8 RGB, every mask layout to bool (N,H,W)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from forgeseg.core import imageio
from forgeseg.core.errors import DataError
from forgeseg.core.imageio import image_size, read_image, read_mask, verify_image


def _rgb(h: int = 12, w: int = 10) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_rgb_round_trip_and_size(tmp_path: Path) -> None:
    img = _rgb()
    Image.fromarray(img).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (12, 10, 3)
    np.testing.assert_array_equal(out, img)
    assert image_size(tmp_path / "a.png") == (12, 10)
    assert verify_image(tmp_path / "a.png") == (12, 10)


def test_gray_and_one_bit_become_three_equal_channels(tmp_path: Path) -> None:
    gray = _rgb()[..., 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (12, 10, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)
    Image.fromarray(gray > 127).save(tmp_path / "b.png")
    bits = read_image(tmp_path / "b.png")
    assert set(np.unique(bits)) <= {0, 255}
    np.testing.assert_array_equal(bits[..., 1] == 255, gray > 127)


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200  # red under the alpha
    rgba[0, 0, 3] = 255  # opaque
    rgba[0, 1, 3] = 0  # transparent: must show white, not the hidden red
    rgba[0, 2, 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (8, 8, 3)
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert tuple(out[0, 2]) == (227, 127, 127)  # round((200*128 + 255*127) / 255)


def test_gray_alpha_is_composited_on_white(tmp_path: Path) -> None:
    la = np.zeros((8, 8, 2), np.uint8)
    la[..., 1] = 0
    la[1, 1] = (40, 255)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = read_image(tmp_path / "la.png")
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[1, 1]) == (40, 40, 40)


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    img = _rgb()
    pal = Image.fromarray(img).quantize(colors=16)
    pal.save(tmp_path / "p.png")
    out = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(out, np.asarray(pal.convert("RGB")))
    idx = np.zeros((8, 8), np.uint8)
    idx[0, 0] = 1
    p = Image.fromarray(idx, "P")
    p.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    p.save(tmp_path / "t.png", transparency=0)
    out = read_image(tmp_path / "t.png")
    assert tuple(out[0, 0]) == (10, 20, 30)
    assert tuple(out[1, 1]) == (255, 255, 255)


def test_sixteen_bit_scaled_to_eight_bit(tmp_path: Path) -> None:
    values = np.array([[0, 257, 1000], [32768, 65280, 65535]], np.uint16)
    Image.fromarray(np.tile(values, (4, 3))).save(tmp_path / "d.png")  # 8 px: MIN_SIDE
    out = read_image(tmp_path / "d.png")
    assert out.dtype == np.uint8 and out.shape == (8, 9, 3)
    np.testing.assert_array_equal(out[:2, :3, 0], [[0, 1, 4], [128, 254, 255]])


@pytest.mark.parametrize("content", [b"", b"not a png at all", None])
def test_undecodable_images_raise_data_error_naming_the_file(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "bad.png"
    if content is None:  # a PNG cut in the middle of its pixel data
        Image.fromarray(_rgb(200, 200)).save(path)
        path.write_bytes(path.read_bytes()[:3000])
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_image(path)
    assert str(path) in str(err.value) and "undecodable image" in str(err.value)
    with pytest.raises(DataError):
        verify_image(path)


def test_missing_image(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing file"):
        read_image(tmp_path / "nope.png")


def test_oversized_figure_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.fromarray(_rgb(20, 20)).save(tmp_path / "big.png")
    monkeypatch.setattr(imageio, "MAX_PIXELS", 399)
    for fn in (read_image, image_size, verify_image):
        with pytest.raises(DataError, match="image too large"):
            fn(tmp_path / "big.png")


def test_pil_decompression_bomb_is_a_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Image.fromarray(_rgb(20, 20)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # PIL raises above 2x this
    with pytest.raises(DataError, match="image too large") as err:
        read_image(tmp_path / "bomb.png")
    assert "bomb.png" in str(err.value)


@pytest.mark.parametrize(
    ("array", "n"),
    [
        (np.ones((6, 5), np.uint8), 1),
        (np.ones((1, 6, 5), np.uint8), 1),
        (np.ones((3, 6, 5), bool), 3),
        (np.ones((6, 5, 1), np.int64), 1),
        (np.ones((6, 5, 2), np.float32), 2),  # (H,W,N): recognisable given the shape
        (np.zeros((0, 6, 5), np.uint8), 0),
    ],
)
def test_mask_layouts_normalised(tmp_path: Path, array: np.ndarray, n: int) -> None:
    np.save(tmp_path / "m.npy", array)
    out = read_mask(tmp_path / "m.npy", shape=(6, 5))
    assert out.dtype == np.bool_ and out.shape == (n, 6, 5)
    assert out.all()


def test_mask_without_shape_keeps_n_h_w_and_recognises_trailing_singleton(
    tmp_path: Path,
) -> None:
    np.save(tmp_path / "a.npy", np.ones((2, 6, 5), np.uint8))
    assert read_mask(tmp_path / "a.npy").shape == (2, 6, 5)
    np.save(tmp_path / "b.npy", np.ones((6, 5, 1), np.uint8))
    assert read_mask(tmp_path / "b.npy").shape == (1, 6, 5)


def test_mask_keeps_instances_and_drops_empty_channels(tmp_path: Path) -> None:
    m = np.zeros((3, 4, 4), np.uint8)
    m[0, 0, 0] = 1
    m[2, 3, 3] = 1
    np.save(tmp_path / "m.npy", m)
    out = read_mask(tmp_path / "m.npy", shape=(4, 4))
    assert out.shape == (2, 4, 4)
    assert out[0, 0, 0] and out[1, 3, 3] and out.sum() == 2


def test_mask_square_tie_reads_as_n_h_w(tmp_path: Path) -> None:
    m = np.zeros((4, 4, 4), np.uint8)
    m[1, 2, 3] = 1
    np.save(tmp_path / "m.npy", m)
    out = read_mask(tmp_path / "m.npy", shape=(4, 4))
    # Read as (H,W,N) the pixel would sit at row 1, column 2 instead.
    assert out.shape == (1, 4, 4) and out[0, 2, 3] and out.sum() == 1


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.ones((2, 7, 5), np.uint8), "mask shape mismatch"),
        (np.ones((7, 5), np.uint8), "mask shape mismatch"),
        (np.ones((1, 1, 6, 5), np.uint8), "mask shape not a mask"),
        (np.full((6, 5), 255, np.uint8), "mask values not 0/1"),
        (np.full((6, 5), -1, np.int16), "mask values not 0/1"),
        (np.full((6, 5), 0.5, np.float32), "mask values not 0/1"),
        (np.full((6, 5), np.nan), "mask values not 0/1"),
        (np.array(["a", "b"]), "mask dtype not numeric"),
    ],
)
def test_bad_masks_raise_data_error_naming_the_file(
    tmp_path: Path, array: np.ndarray, match: str
) -> None:
    path = tmp_path / "m.npy"
    np.save(path, array)
    with pytest.raises(DataError, match=match) as err:
        read_mask(path, shape=(6, 5))
    assert err.value.path == str(path)


def test_not_a_npy_file(tmp_path: Path) -> None:
    (tmp_path / "m.npy").write_bytes(b"hello")
    with pytest.raises(DataError, match=r"not a \.npy file"):
        read_mask(tmp_path / "m.npy")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"o\.npy"):
        read_mask(tmp_path / "o.npy")
    with pytest.raises(DataError, match="missing file"):
        read_mask(tmp_path / "none.npy")


def _save(path: Path, h: int, w: int, mode: str) -> None:
    channels = {"RGB": (3,), "RGBA": (4,), "L": ()}[mode]
    Image.fromarray(np.full((h, w, *channels), 120, np.uint8), mode).save(path)


@pytest.mark.parametrize(
    ("h", "w", "mode", "match"),
    [
        (1, 1, "RGB", r"image too small: 1x1 pixels .*at least 8 px"),
        (1, 20000, "L", r"image too small: 20000x1 pixels .*at least 8 px"),
        (7, 40, "RGBA", r"image too small: 40x7 pixels .*at least 8 px"),
        (400, 10, "L", r"image too elongated: 10x400 pixels .*40\.0:1 exceeds the 20:1 limit"),
        (8, 161, "RGB", r"image too elongated: 161x8 pixels .*the 20:1 limit"),
    ],
)
def test_degenerate_sizes_refused_from_the_header(
    tmp_path: Path, h: int, w: int, mode: str, match: str
) -> None:
    path = tmp_path / "odd.png"
    _save(path, h, w, mode)
    for fn in (read_image, image_size, verify_image):
        with pytest.raises(DataError, match=match) as err:
            fn(path)
        assert err.value.path == str(path)
    # Refused before decoding: a file cut after its header says the same.
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(DataError, match=match.split(":")[0]):
        image_size(path)


@pytest.mark.parametrize(
    ("h", "w", "mode"),
    [(8, 8, "L"), (8, 160, "RGB"), (64, 113, "RGBA"), (200, 3888, "L"), (128, 410, "RGB")],
)
def test_sizes_of_real_and_generated_figures_accepted(
    tmp_path: Path, h: int, w: int, mode: str
) -> None:
    # 113x64 is the smallest real figure; 3888 px its longest side; synth keeps sides >= 32
    # and aspect ratios <= 3.2. The limits (8 px, 20:1) themselves are allowed.
    _save(tmp_path / "ok.png", h, w, mode)
    assert read_image(tmp_path / "ok.png").shape == (h, w, 3)


def test_appledouble_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "._3.png"
    path.write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" + b"\0" * 80)
    with pytest.raises(DataError, match="AppleDouble") as err:
        read_image(path)
    assert err.value.path == str(path) and "undecodable image" in err.value.problem


@pytest.mark.parametrize(
    "array",
    [
        np.ones((2, 6, 5), bool),
        np.ones((6, 5), np.float64),
        np.ones((1, 6, 5), np.float32),
        np.ones((6, 5), np.int16),
    ],
)
def test_mask_dtype_not_uint8_normalised_with_one_warning_naming_the_file(
    tmp_path: Path, array: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / f"m_{array.dtype}.npy"
    np.save(path, array)
    with caplog.at_level("WARNING", logger="forgeseg.core.imageio"):
        out = read_mask(path, shape=(6, 5))
        read_mask(path, shape=(6, 5))  # loaders read each mask every epoch: warn once
    assert out.dtype == np.bool_ and out.all()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        f"{path}: mask dtype not uint8: {array.dtype} 0/1 values read as a 0/1 mask"
    ]
    assert imageio.inspect_mask(path).notes == (messages[0].split(": ", 1)[1],)


def test_uint8_mask_reads_silently(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    np.save(tmp_path / "m.npy", np.ones((1, 6, 5), np.uint8))
    with caplog.at_level("WARNING"):
        read_mask(tmp_path / "m.npy", shape=(6, 5))
    assert caplog.records == []
    assert imageio.inspect_mask(tmp_path / "m.npy").notes == ()


def test_empty_channel_beside_valid_ones_named_by_index(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    m = np.zeros((4, 6, 5), np.uint8)
    m[1, 0, 0] = m[3, 2, 2] = 1
    path = tmp_path / "m.npy"
    np.save(path, m)
    with caplog.at_level("WARNING", logger="forgeseg.core.imageio"):
        out = read_mask(path, shape=(6, 5))
    assert out.shape == (2, 6, 5)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: empty mask channel: channels 0, 2 of 4 all zeros, dropped (no instance)"
    ]


def test_all_zero_mask_is_n_zero_without_a_note(tmp_path: Path) -> None:
    # Whether an empty mask is wrong depends on the caller (scan refuses it, EDA counts it).
    np.save(tmp_path / "m.npy", np.zeros((3, 6, 5), np.uint8))
    read = imageio.inspect_mask(tmp_path / "m.npy", shape=(6, 5))
    assert read.masks.shape == (0, 6, 5) and read.notes == ()
