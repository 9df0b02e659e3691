import numpy as np
import pytest
import torch

from forgeseg.core.errors import ParamsError
from forgeseg.models import build_model
from forgeseg.models.losses import build_loss, soft_dice_loss


def _batch():
    mask = torch.zeros(2, 1, 32, 32)
    mask[0, 0, 4:12, 4:12] = 1
    mask[0, 0, 20:28, 18:26] = 1
    label = torch.tensor([1.0, 0.0])
    return mask, label


def _perfect(mask, label):
    # Logits of +-20: sigmoid is 1 or 0 to float32 precision.
    return {"mask": (mask * 2 - 1) * 20, "image": (label * 2 - 1) * 20}


@pytest.mark.parametrize("name", ["bce_dice", "focal_dice"])
def test_perfect_prediction_costs_almost_nothing(name):
    mask, label = _batch()
    total, parts = build_loss({"name": name})(_perfect(mask, label), mask, label)
    assert parts["dice"] < 1e-4
    assert total.item() < 1e-4
    assert ("bce" in parts) == (name == "bce_dice") and ("focal" in parts) == (name == "focal_dice")


def test_wrong_prediction_costs_more_than_right_one():
    mask, label = _batch()
    loss = build_loss({})
    good, _ = loss(_perfect(mask, label), mask, label)
    bad, parts = loss(_perfect(1 - mask, 1 - label), mask, label)
    assert bad > good + 1
    assert parts["dice"] > 0.9


def test_all_authentic_batch_has_bce_but_no_dice():
    mask = torch.zeros(3, 1, 16, 16)
    label = torch.zeros(3)
    out = {"mask": torch.full((3, 1, 16, 16), 2.0, requires_grad=True), "image": torch.zeros(3)}
    total, parts = build_loss({})(out, mask, label)
    assert "dice" not in parts
    assert parts["bce"] > 1.0  # confident false positives everywhere
    total.backward()
    # Authentic figures are still pushed towards "no forgery" through the pixel term.
    assert (out["mask"].grad > 0).all()


def test_dice_is_per_forged_figure_and_ignores_authentic_ones():
    target = torch.zeros(3, 1, 16, 16)
    target[0, 0, :2, :2] = 1  # small forgery
    target[1, 0, :, :8] = 1  # large forgery
    logits = (target * 2 - 1) * 20
    logits[0] = -20  # the small forgery is missed entirely
    logits[2] = 20  # the authentic figure is all "forged": not Dice's business
    dice = soft_dice_loss(logits, target)
    # Missing the small forgery costs about half, as much as missing the large one would.
    assert dice.item() == pytest.approx(0.5 * (1 - 1 / 5), abs=1e-3)
    assert soft_dice_loss(logits, torch.zeros_like(target)) is None


def test_valid_mask_ignores_padding():
    mask = torch.zeros(1, 1, 16, 16)
    mask[0, 0, 2:6, 2:6] = 1
    label = torch.ones(1)
    logits = (mask * 2 - 1) * 20
    logits[..., 8:] = 20  # nonsense on the letterbox padding
    valid = torch.zeros_like(mask)
    valid[..., :8] = 1
    loss = build_loss({})
    padded, _ = loss({"mask": logits, "image": torch.full((1,), 20.0)}, mask, label, valid)
    unpadded, _ = loss({"mask": logits, "image": torch.full((1,), 20.0)}, mask, label)
    assert padded.item() < 1e-4 < unpadded.item()


def test_pos_weight_raises_the_cost_of_missed_forged_pixels():
    mask, label = _batch()
    out = {"mask": torch.zeros(2, 1, 32, 32), "image": torch.zeros(2)}
    _, plain = build_loss({})(out, mask, label)
    _, weighted = build_loss({"pos_weight": 10})(out, mask, label)
    # At p = 0.5 every pixel costs log 2; forged ones cost 10x that with pos_weight=10.
    frac = mask.mean().item()
    assert weighted["bce"] == pytest.approx(plain["bce"] * (1 - frac + 10 * frac), rel=1e-5)


def test_gradients_reach_the_image_head():
    torch.manual_seed(0)
    model = build_model({"encoder": "resnet18", "corr_exclude": 1})
    x = torch.randn(2, 3, 64, 64)
    mask, label = torch.zeros(2, 1, 64, 64), torch.tensor([1.0, 0.0])
    mask[0, 0, 8:16, 8:16] = 1
    total, parts = build_loss({})(model(x), mask, label)
    total.backward()
    assert parts["image"] > 0
    grads = [p.grad for p in model.image_head.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_loss_under_bf16_autocast_is_float32_and_finite():
    mask, label = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = {"mask": torch.randn(2, 1, 32, 32).bfloat16(), "image": torch.randn(2).bfloat16()}
        total, _ = build_loss({"name": "focal_dice"})(out, mask, label)
    assert total.dtype == torch.float32 and torch.isfinite(total)


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        ({"name": "lovasz"}, "name"),
        ({"bce_weight": -1}, "bce_weight"),
        ({"dice_weight": "half"}, "dice_weight"),
        ({"pos_weight": 0}, "pos_weight"),
        ({"smooth": 1}, "smooth"),
    ],
)
def test_bad_loss_params_name_the_key(cfg, key):
    with pytest.raises(ParamsError, match=f"train.loss.{key}"):
        build_loss(cfg)


def test_tiny_overfit_lowers_the_loss():
    """Two synthetic copy-move figures at S=64: a few dozen steps must clearly learn them."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 3, 64, 64)).astype(np.float32)
    mask = np.zeros((2, 1, 64, 64), np.float32)
    images[0, :, 40:56, 36:52] = images[0, :, 8:24, 8:24]  # forged: a 16x16 copy
    mask[0, :, 8:24, 8:24] = mask[0, :, 40:56, 36:52] = 1
    x, y = torch.from_numpy(images), torch.from_numpy(mask)
    label = torch.tensor([1.0, 0.0])
    # A narrow decoder keeps this a couple of seconds on a busy 2-core machine.
    model = build_model(
        {
            "encoder": "resnet18",
            "corr_strides": [8],
            "corr_exclude": 1,
            "decoder_channels": [64, 32, 32, 16, 16],
        }
    )
    loss_fn = build_loss({})
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(15):
        total, _ = loss_fn(model(x), y, label)
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(total.item())
    assert np.mean(history[-3:]) < 0.5 * np.mean(history[:3])
