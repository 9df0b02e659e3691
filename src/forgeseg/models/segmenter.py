"""The networks: an SMP U-Net, optionally with self-correlation injected into its skips.

Both architectures share one class, :class:`ForgerySegmenter`. It borrows the encoder, decoder
and segmentation head of an ``smp.Unet`` so that any SMP encoder works unchanged, and adds:

* for each configured stride (16, optionally 8), a :class:`SelfCorrelation` of the encoder
  features at that stride, fused back into the same feature map (residual 1x1 conv + BN +
  ReLU over ``[features, correlations]``), so the decoder's skip connection carries "this
  place matches another place of the figure" next to "this place looks like X";
* an image head (a small MLP) over the pooled encoder bottleneck and the pooled correlation
  maps, giving one "forged" logit per figure.

With no correlation strides it is the plain U-Net with an image head.
"""

from __future__ import annotations

from collections.abc import Sequence

import segmentation_models_pytorch as smp
import torch
from torch import nn

from forgeseg.models.selfcorr import SelfCorrelation

__all__ = ["CorrelationFusion", "ForgerySegmenter", "ImageHead"]


class CorrelationFusion(nn.Module):
    """Self-correlation of one feature map, fused back into it.

    ``forward(features (B, C, h, w)) -> (fused (B, C, h, w), pooled (B, k, h, w))``. The fusion
    is residual so a pretrained encoder's features pass through unchanged at the start and the
    decoder built for ``C`` channels works as is.
    """

    def __init__(self, channels: int, k: int, exclude: int) -> None:
        super().__init__()
        self.corr = SelfCorrelation(k=k, exclude=exclude)
        self.fuse = nn.Sequential(
            nn.Conv2d(channels + k, channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.corr(features)
        fused = features + self.fuse(torch.cat([features, pooled.to(features.dtype)], dim=1))
        return fused, pooled


class ImageHead(nn.Module):
    """One "forged" logit per figure from pooled bottleneck and correlation statistics.

    Input: the bottleneck (B, C, h, w) and a list of pooled correlation maps (B, k, h', w').
    The bottleneck is average- and max-pooled; each correlation map is max- and mean-pooled
    per channel, so the head sees both "is there one strong match anywhere" (the max of the
    top-1 channel) and how common strong matches are (flat backgrounds match everywhere).
    Output: (B,) logits.
    """

    def __init__(self, bottleneck_channels: int, corr_channels: int, hidden: int = 128) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * bottleneck_channels + 2 * corr_channels, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, bottleneck: torch.Tensor, pooled: Sequence[torch.Tensor]) -> torch.Tensor:
        stats = [bottleneck.mean(dim=(2, 3)), bottleneck.amax(dim=(2, 3))]
        for p in pooled:
            stats += [
                p.amax(dim=(2, 3)).to(bottleneck.dtype),
                p.mean(dim=(2, 3)).to(bottleneck.dtype),
            ]
        return self.mlp(torch.cat(stats, dim=1)).squeeze(1)


class ForgerySegmenter(nn.Module):
    """U-Net (any SMP encoder) with optional self-correlation and an image-level head.

    Args:
        encoder: SMP encoder name (``resnet18``, ``mobilenet_v2``, ``efficientnet-b0``, ...).
        corr_strides: encoder strides whose features get a self-correlation block (subset of
            8, 16, 32); empty for the plain U-Net.
        corr_k: correlations kept per position.
        corr_exclude: self-match neighbourhood radius in feature cells.
        decoder_channels: the five SMP decoder widths.
        in_channels: input channels.
        freeze_encoder: keep the encoder's weights and batch-norm statistics fixed (its
            parameters get no gradient and it stays in eval mode), so training changes only
            the correlation blocks, decoder and heads.

    ``forward(x (B, in_channels, S, S) float, ImageNet-normalised; S a multiple of 32)`` returns
    ``{"mask": (B, 1, S, S) logits, "image": (B,) logits}``.
    """

    def __init__(
        self,
        encoder: str = "resnet18",
        corr_strides: Sequence[int] = (16,),
        corr_k: int = 16,
        corr_exclude: int = 2,
        decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        in_channels: int = 3,
        freeze_encoder: bool = False,
    ) -> None:
        super().__init__()
        # Weights always start random here; build_model loads a local file afterwards, so
        # SMP never reaches for the network.
        unet = smp.Unet(
            encoder,
            encoder_weights=None,
            decoder_channels=tuple(decoder_channels),
            in_channels=in_channels,
            classes=1,
        )
        self.encoder = unet.encoder
        self.decoder = unet.decoder
        self.segmentation_head = unet.segmentation_head
        channels = self.encoder.out_channels
        self.corr_strides = tuple(sorted({int(s) for s in corr_strides}, reverse=True))
        # Feature i of an SMP encoder has stride 2**i.
        self._corr_index = {s: s.bit_length() - 1 for s in self.corr_strides}
        self.corr = nn.ModuleDict(
            {
                str(s): CorrelationFusion(channels[i], corr_k, corr_exclude)
                for s, i in self._corr_index.items()
            }
        )
        self.image_head = ImageHead(channels[-1], corr_k * len(self.corr_strides))
        self.freeze_encoder = freeze_encoder
        if freeze_encoder:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> ForgerySegmenter:
        super().train(mode)
        if self.freeze_encoder:
            # Batch-norm statistics move in train mode even without gradients.
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        s = x.shape[-1]
        if x.ndim != 4 or x.shape[-2] % 32 or s % 32:
            raise ValueError(
                f"expected (B, C, S, S) input with S a multiple of 32, got {tuple(x.shape)}"
            )
        features = list(self.encoder(x))
        pooled = []
        for stride, i in self._corr_index.items():
            features[i], p = self.corr[str(stride)](features[i])
            pooled.append(p)
        mask = self.segmentation_head(self.decoder(features))
        image = self.image_head(features[-1], pooled)
        return {"mask": mask, "image": image}
