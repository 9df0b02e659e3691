import numpy as np
import pytest
from PIL import Image

from forgeseg.data.layout import Record as Rec
from forgeseg.pipeline.render import (
    PRED_COLORS,
    contact_sheet,
    contact_sheet_by_kind,
    label_tile,
    overlay,
)


def gray(h=60, w=80, value=128):
    return np.full((h, w, 3), value, np.uint8)


def test_overlay_fills_pred_red_and_leaves_the_rest_untouched():
    image = gray()
    image[:, :, 1] = np.arange(80, dtype=np.uint8)[None, :]  # texture, to see "untouched"
    pred = np.zeros((2, 60, 80), bool)
    pred[0, 5:20, 5:20] = True
    pred[1, 30:50, 40:70] = True
    out = overlay(image, pred)
    assert out.shape == image.shape and out.dtype == np.uint8
    inside = out[pred.any(axis=0)].astype(int)
    assert (inside[:, 0] > inside[:, 1]).all() and (inside[:, 0] > inside[:, 2]).all()
    np.testing.assert_array_equal(out[~pred.any(axis=0)], image[~pred.any(axis=0)])
    # One shade per instance, so two instances can be told apart.
    assert not np.array_equal(out[10, 10], out[40, 50])
    assert image[10, 10, 0] == 128  # the input is not modified


def test_overlay_draws_truth_as_green_contour_not_fill():
    image = gray(100, 100)
    true = np.zeros((1, 100, 100), bool)
    true[0, 20:80, 20:80] = True
    out = overlay(image, None, true)
    edge = out[20, 50]
    assert edge[1] == 255 and edge[0] == 0 and edge[2] == 0
    np.testing.assert_array_equal(out[50, 50], image[50, 50])  # interior untouched
    np.testing.assert_array_equal(out[5, 5], image[5, 5])
    # Prediction and truth together: fill red inside, contour green on the boundary.
    both = overlay(image, true, true)
    assert both[50, 50, 0] > both[50, 50, 1] and both[20, 50, 1] == 255


def test_overlay_accepts_empty_and_single_masks():
    image = gray()
    np.testing.assert_array_equal(overlay(image, np.zeros((0, 60, 80), bool)), image)
    single = np.zeros((60, 80), bool)
    single[0:4, 0:4] = True
    out = overlay(image, single, alpha=1.0)
    assert tuple(out[1, 1]) == PRED_COLORS[0]


@pytest.mark.parametrize(
    "bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((5, 5, 3))]
)
def test_overlay_rejects_non_rgb_uint8_images(bad):
    with pytest.raises(ValueError, match=r"RGB \(H, W, 3\)|uint8"):
        overlay(bad, None)


def test_overlay_rejects_masks_of_another_shape():
    with pytest.raises(ValueError, match="pred must be"):
        overlay(gray(), np.zeros((1, 10, 10), bool))


@pytest.mark.parametrize("shape", [(30, 200), (200, 30), (1000, 800), (5, 5)])
def test_label_tile_is_square_thumbnail_plus_caption_band(shape):
    image = np.full((*shape, 3), 255, np.uint8)
    tile = label_tile(image, "western_blot | forged\nforged/123456789 very long caption", 96)
    assert tile.dtype == np.uint8 and tile.shape[1:] == (96, 3)
    band = tile.shape[0] - 96
    assert 10 <= band <= 60
    assert tile[96:].max() > 200  # some caption text was drawn
    # The figure's long side fills the square; letterbox padding is not white.
    h, w = shape
    if h >= w:
        assert tile[:96, 48].min() == 255
    else:
        assert tile[48, :96].min() == 255
    # Same number of caption lines -> same tile shape, so tiles can share a grid.
    assert label_tile(image, "a\nb", 96).shape == tile.shape


def test_contact_sheet_lays_tiles_on_a_grid():
    tiles = [np.full((20, 30, 3), i * 40, np.uint8) for i in range(5)]
    sheet = contact_sheet(tiles, cols=2, gutter=4)
    assert sheet.shape == (3 * 20 + 4 * 4, 2 * 30 + 3 * 4, 3)
    # Tile 3 (row 1, col 1) sits at its cell.
    assert (sheet[4 + 24 : 4 + 24 + 20, 4 + 34 : 4 + 34 + 30] == 120).all()
    with pytest.raises(ValueError):
        contact_sheet([], cols=2)
    with pytest.raises(ValueError):
        contact_sheet(tiles, cols=0)


@pytest.fixture
def tiny_set(tmp_path):
    pytest.importorskip("forgeseg.core.imageio")
    rng = np.random.default_rng(0)
    recs = []
    for kind, n in (("gel", 3), ("microscopy", 2), ("", 1)):
        for i in range(n):
            h, w = 50 + 10 * i, 90
            img = rng.integers(60, 200, (h, w, 3), dtype=np.uint8)
            for label in ("forged", "authentic"):
                cid = f"{kind or 'x'}{i}"
                path = tmp_path / f"{label}_{cid}.png"
                Image.fromarray(img).save(path)
                mask = ""
                if label == "forged":
                    m = np.zeros((1, h, w), np.uint8)
                    m[0, 5:15, 5:15] = 1
                    m[0, 25:35, 50:60] = 1
                    mask = str(tmp_path / f"{cid}.npy")
                    np.save(mask, m)
                recs.append(Rec(f"{label}/{cid}", cid, label, "train", str(path), mask, h, w, kind))
    return recs


def test_contact_sheet_by_kind_one_row_per_kind_deterministic(tiny_set):
    sheet = contact_sheet_by_kind(tiny_set, per_kind=2, tile=64, seed=3)
    cell_h = label_tile(gray(), "a\nb", 64).shape[0]
    cols = 2 * 3
    assert sheet.shape[1] == cols * 64 + (cols + 1) * 4
    # Rows: gel, microscopy, and the kind-less pair grouped by label into a "forged" and
    # an "authentic" row; a title band sits on top.
    rows = 4
    grid_h = rows * cell_h + (rows + 1) * 4
    assert 0 < sheet.shape[0] - grid_h < 60
    red = (sheet[..., 0] > 150) & (sheet[..., 1] < 90) & (sheet[..., 2] < 90)
    assert red.sum() > 20  # truth regions are filled red on the overlay tiles
    np.testing.assert_array_equal(sheet, contact_sheet_by_kind(tiny_set, 2, 64, 3))


def test_contact_sheet_by_kind_skips_figures_without_known_truth(tiny_set):
    unknown = [
        Rec("t1", "t1", "unknown", "test", tiny_set[0].image, "", 50, 90, ""),
        Rec("t2", "t2", "forged", "test", tiny_set[0].image, "", 50, 90, "gel"),  # no mask
    ]
    sheet = contact_sheet_by_kind(unknown, per_kind=1, tile=64, seed=0)
    assert sheet.shape[1] == 64  # the "no labelled figures" placeholder tile
