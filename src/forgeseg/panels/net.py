"""A small fully-convolutional net that reads the structure of a figure from pixel maps.

Input: a figure letterboxed into an (S, S) square, RGB plus a fourth channel that is 1 on
the figure and 0 on the padding (so a black fluorescence panel is not taken for padding).
Output, per input pixel: a panel *core* logit (the central part of a panel, see
:data:`SHRINK`), a panel *interior* logit, a *text* logit (text, panel letters, scale bars)
and one logit per panel class (:data:`forgeseg.panels.structure.PANEL_CLASSES`).

Panels are read from the core map rather than the interior map because neighbouring panels
are often a gutter of one or two input pixels apart: their interiors touch after a
threshold, their cores never do (they stay ``2 * SHRINK`` of a panel's side apart).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from forgeseg.panels.structure import PANEL_CLASSES

__all__ = ["CORE", "INTERIOR", "IN_CHANNELS", "N_MAPS", "SHRINK", "TEXT", "StructureNet"]

# The core of a panel is its box shrunk by this share of its width (height) on each side;
# decoding grows a core's box back by the inverse factor.
SHRINK = 0.15
CORE, INTERIOR, TEXT = 0, 1, 2  # channels of the output; class logits follow
N_MAPS = 3
IN_CHANNELS = 4  # RGB + "on the figure"


class ConvBlock(nn.Sequential):
    """Two 3x3 conv + BN + ReLU: (B, c_in, h, w) -> (B, c_out, h, w)."""

    def __init__(self, c_in: int, c_out: int, dilation: int = 1) -> None:
        pad = dilation
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=pad, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class Context(nn.Module):
    """Wide context at the bottleneck: dilated convs plus the figure-wide mean, so that a
    pixel in the middle of a large panel knows how far the gutters are.
    (B, c, h, w) -> (B, c, h, w)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.dilated = nn.Sequential(ConvBlock(c, c, dilation=2), ConvBlock(c, c, dilation=4))
        self.glob = nn.Sequential(nn.Conv2d(c, c, 1), nn.ReLU(inplace=True))
        self.fuse = nn.Sequential(nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.dilated(x)
        glob = self.glob(x.mean(dim=(2, 3), keepdim=True)).expand_as(local)
        return F.relu(x + self.fuse(torch.cat([local, glob], dim=1)))


class StructureNet(nn.Module):
    """U-Net-shaped: a stride-2 stem, then ``len(channels)`` levels, level 0 at half the
    input resolution, each further level at half the previous one. The maps are predicted
    at stride 2 and upsampled: boxes and text regions need no finer grid, and a
    full-resolution level would cost about four times the compute on a CPU.

    ``forward(x (B, 4, S, S) float) -> (B, 3 + n_classes, S, S) logits``; S must be a
    multiple of ``2 ** len(channels)``.
    """

    def __init__(
        self, channels: Sequence[int] = (16, 24, 32, 48, 64), n_classes: int = len(PANEL_CLASSES)
    ) -> None:
        super().__init__()
        chans = [int(c) for c in channels]
        if len(chans) < 2:
            raise ValueError(f"StructureNet needs at least 2 levels, got channels={chans}")
        self.channels = tuple(chans)
        self.n_classes = int(n_classes)
        self.stem = nn.Sequential(
            nn.Conv2d(IN_CHANNELS, chans[0], 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(inplace=True),
        )
        self.down = nn.ModuleList(
            ConvBlock(c_in, c_out)
            for c_in, c_out in zip([chans[0], *chans[:-1]], chans, strict=True)
        )
        self.context = Context(chans[-1])
        self.up = nn.ModuleList(
            ConvBlock(chans[i + 1] + chans[i], chans[i]) for i in range(len(chans) - 1)
        )
        self.head = nn.Conv2d(chans[0], N_MAPS + self.n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x = self.stem(x)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = self.context(skips.pop())
        for i in reversed(range(len(self.up))):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.up[i](torch.cat([x, skips[i]], dim=1))
        return F.interpolate(self.head(x), size=size, mode="bilinear", align_corners=False)
