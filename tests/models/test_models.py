import numpy as np
import pytest
import torch
import torch.nn.functional as F

from forgeseg.core.errors import DataError, ParamsError
from forgeseg.models import MASK_VALUE, SelfCorrelation, build_model, exclusion_mask

CELL = 8  # pixels per feature cell in the pixel-patch features below


def _patch_features(image: np.ndarray) -> torch.Tensor:
    """(H, W) float image -> (1, CELL*CELL, H/CELL, W/CELL) raw pixel-patch features."""
    x = torch.from_numpy(image).float()[None, None]
    return F.pixel_unshuffle(x, CELL)


def _copied_figure(seed: int = 0):
    """A random texture with a 3x2-cell block copied by (+5, +4) cells."""
    rng = np.random.default_rng(seed)
    image = rng.random((96, 96)).astype(np.float32)
    src = (slice(1 * CELL, 4 * CELL), slice(2 * CELL, 4 * CELL))
    dst = (slice(6 * CELL, 9 * CELL), slice(6 * CELL, 8 * CELL))
    image[dst] = image[src]
    src_cells = [(y, x) for y in range(1, 4) for x in range(2, 4)]
    dst_cells = [(y + 5, x + 4) for y, x in src_cells]
    return image, src_cells, dst_cells


def test_best_match_of_source_points_at_copy_and_back():
    image, src_cells, dst_cells = _copied_figure()
    res = SelfCorrelation(k=4, exclude=1).correlate(_patch_features(image))
    offset = res.offset[0].numpy()
    for y, x in src_cells:
        assert tuple(offset[:, y, x]) == (5, 4)
    for y, x in dst_cells:
        assert tuple(offset[:, y, x]) == (-5, -4)
    top1 = res.pooled[0, 0].numpy()
    dup = np.zeros_like(top1, bool)
    for y, x in src_cells + dst_cells:
        dup[y, x] = True
    assert top1[dup].min() > 0.99
    # Chance matches of random texture stay far below the duplicated cells.
    assert top1[~dup].max() < 0.6


def test_pooled_is_sorted_and_shaped():
    image, _, _ = _copied_figure(1)
    pooled = SelfCorrelation(k=5, exclude=2)(_patch_features(image))
    assert pooled.shape == (1, 5, 12, 12)
    assert torch.all(pooled[:, :-1] >= pooled[:, 1:])
    assert pooled.min() >= -1 and pooled.max() <= 1 + 1e-5


@pytest.mark.parametrize("radius", [0, 1, 3])
def test_self_match_neighbourhood_is_never_the_best_match(radius):
    # Smooth features: each cell's nearest neighbours are its most similar cells, so only the
    # exclusion keeps the best match away from the neighbourhood.
    coarse = torch.randn(2, 8, 3, 3, generator=torch.Generator().manual_seed(0))
    smooth = F.interpolate(coarse, size=(12, 12), mode="bilinear", align_corners=True)
    near = SelfCorrelation(k=3, exclude=0).correlate(smooth).offset.abs().amax(dim=1)
    assert (near <= max(radius, 1)).float().mean() > 0.5  # what the exclusion must prevent
    res = SelfCorrelation(k=3, exclude=radius).correlate(smooth)
    cheb = res.offset.abs().amax(dim=1)
    assert torch.all(cheb > radius)


def test_exclusion_mask_is_chebyshev():
    m = exclusion_mask(5, 6, 1)
    assert m.shape == (30, 30)
    p = 2 * 6 + 3  # (2, 3)
    assert m[p, 1 * 6 + 2] and m[p, 3 * 6 + 4] and not m[p, 0 * 6 + 3] and not m[p, 2 * 6 + 5]


def test_tiny_grid_with_everything_excluded_gives_minus_one_not_fill():
    res = SelfCorrelation(k=16, exclude=2).correlate(torch.randn(1, 4, 2, 2))
    assert res.pooled.shape == (1, 16, 2, 2)
    assert torch.all(res.pooled == -1)
    assert torch.all(res.offset == 0)


def test_mask_value_is_finite_in_half_precision():
    for dtype in (torch.float16, torch.bfloat16):
        v = torch.tensor(MASK_VALUE, dtype=dtype)
        assert torch.isfinite(v) and v < -1000


def test_bf16_autocast_has_no_nan_and_matches_float32():
    image, src_cells, _ = _copied_figure(2)
    feats = _patch_features(image)
    feats[..., 0, :] = 0  # an all-zero row: 0/0 in a careless normalisation
    block = SelfCorrelation(k=8, exclude=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = block.correlate(feats.bfloat16())
    assert torch.isfinite(low.pooled.float()).all()
    ref = block.correlate(feats)
    y, x = src_cells[0]
    assert tuple(low.offset[0, :, y, x]) == tuple(ref.offset[0, :, y, x])


@pytest.mark.parametrize("arch", ["unet", "selfcorr_unet"])
@pytest.mark.parametrize("encoder", ["resnet18", "mobilenet_v2"])
@pytest.mark.parametrize("size", [256, 320])
def test_output_contract(arch, encoder, size):
    torch.manual_seed(0)
    model = build_model({"arch": arch, "encoder": encoder}).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert set(out) == {"mask", "image"}
    assert out["mask"].shape == (2, 1, size, size)
    assert out["image"].shape == (2,)


def test_selfcorr_with_two_strides_and_bf16_autocast_forward_backward():
    torch.manual_seed(0)
    model = build_model({"corr_strides": [16, 8], "corr_k": 8})
    assert set(model.corr) == {"16", "8"}
    x = torch.randn(2, 3, 128, 128)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        loss = out["mask"].float().mean() + out["image"].float().mean()
    loss.backward()
    assert torch.isfinite(out["mask"].float()).all() and torch.isfinite(out["image"].float()).all()
    fuse = model.corr["16"].fuse[0].weight.grad
    assert fuse is not None and torch.isfinite(fuse).all() and fuse.abs().sum() > 0


def test_input_side_must_be_multiple_of_32():
    model = build_model({"arch": "unet"})
    with pytest.raises(ValueError, match="multiple of 32"):
        model(torch.randn(1, 3, 100, 100))


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"arch": "transformer"}, "arch"),
        ({"encoder": "resnet_nonexistent"}, "encoder"),
        ({"corr_strides": [12]}, "corr_strides"),
        ({"corr_k": 0}, "corr_k"),
        ({"corr_exclude": -1}, "corr_exclude"),
        ({"decoder_channels": [64, 32]}, "decoder_channels"),
        ({"dropout": 0.1}, "dropout"),
    ],
)
def test_bad_params_name_the_key(cfg, key):
    with pytest.raises(ParamsError, match=f"model.{key}"):
        build_model(cfg)


def test_imagenet_weights_are_refused_without_download():
    with pytest.raises(ParamsError, match="never downloads"):
        build_model({"encoder_weights": "imagenet"})


def test_local_encoder_weights_round_trip(tmp_path):
    torch.manual_seed(1)
    src = build_model({"arch": "unet"})
    path = tmp_path / "enc.pt"
    torch.save(src.encoder.state_dict(), path)
    torch.manual_seed(2)
    dst = build_model({"arch": "selfcorr_unet", "encoder_weights": str(path)})
    for (name, a), b in zip(
        src.encoder.state_dict().items(), dst.encoder.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    # A whole-model state_dict works too: its encoder entries are taken.
    whole = tmp_path / "whole.pt"
    torch.save(src.state_dict(), whole)
    again = build_model({"arch": "unet", "encoder_weights": str(whole)})
    assert torch.equal(again.encoder.conv1.weight, src.encoder.conv1.weight)


def test_weights_for_another_encoder_name_the_file(tmp_path):
    path = tmp_path / "mobile.pt"
    torch.save(build_model({"arch": "unet", "encoder": "mobilenet_v2"}).encoder.state_dict(), path)
    with pytest.raises(DataError, match=r"mobile\.pt"):
        build_model({"encoder": "resnet18", "encoder_weights": str(path)})
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match=r"junk\.pt"):
        build_model({"encoder_weights": str(junk)})
