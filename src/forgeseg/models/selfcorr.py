"""Self-correlation of a feature map: how well each place of a figure matches every other place.

A copy-move forgery is a region that appears twice in one figure. A segmentation network that
looks at one place at a time cannot tell the source or the copy from an ordinary region; it has
to compare places with each other. :class:`SelfCorrelation` does that BusterNet / DOA-GAN style:
every feature vector is compared with every other one of the SAME figure, the comparisons near
the position itself (the trivial self-match and its smooth surroundings) are masked out, and the
``k`` best scores per position become a ``(B, k, h, w)`` feature map that a decoder can read.
Positions inside a duplicated region score close to 1 at their best match; elsewhere the best
match is usually much weaker.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MASK_VALUE", "CorrelationResult", "SelfCorrelation", "exclusion_mask"]

# Fill for excluded pairs. Correlations of unit vectors lie in [-1, 1]; -1e4 sorts below all of
# them and is finite in float16 (max 65504) and bfloat16, unlike -1e9, which overflows to -inf
# under AMP and turns later arithmetic into NaN.
MASK_VALUE = -1e4


class CorrelationResult(NamedTuple):
    """Output of :meth:`SelfCorrelation.correlate`.

    ``pooled``: (B, k, h, w), the k best correlations of each position with positions outside
    its self-match neighbourhood, sorted descending, in [-1, 1]; ``-1`` where a position has
    fewer than k admissible partners (tiny grids). Same dtype as the input features.
    ``offset``: (B, 2, h, w) int64, (dy, dx) in grid cells from each position to its best
    match (match minus query); multiply by the feature stride for pixels. (0, 0) where a
    position has no admissible partner at all.
    """

    pooled: torch.Tensor
    offset: torch.Tensor


@functools.lru_cache(maxsize=16)
def exclusion_mask(h: int, w: int, radius: int, device: torch.device | None = None) -> torch.Tensor:
    """(h*w, h*w) bool: True for pairs within Chebyshev distance ``radius`` on an h x w grid.

    Row-major position order, the same as ``features.flatten(2)``. ``radius=0`` excludes only
    the position itself. Cached (treat the result as read-only): every batch of one input
    size needs the same mask, and at stride 8 of a 512 input building it takes hundreds of MB
    of temporaries.
    """
    ys = torch.arange(h, device=device, dtype=torch.int32).repeat_interleave(w)
    xs = torch.arange(w, device=device, dtype=torch.int32).repeat(h)
    near_y = (ys[:, None] - ys[None, :]).abs_() <= radius
    near_x = (xs[:, None] - xs[None, :]).abs_() <= radius
    return near_y & near_x


class SelfCorrelation(nn.Module):
    """Top-k self-correlation of a feature map, excluding each position's neighbourhood.

    Args:
        k: number of best correlations kept per position (output channels).
        exclude: Chebyshev radius, in feature cells, of the neighbourhood whose matches are
            ignored; neighbouring cells of natural images correlate strongly and would
            otherwise dominate every position's best match.
        center: subtract each position's mean over channels before the L2 normalisation,
            so the score is a Pearson correlation (as in BusterNet). Post-ReLU features are
            all positive, so their plain cosine similarity is high everywhere; centring
            restores the contrast between real matches and chance ones.
    """

    def __init__(self, k: int = 16, exclude: int = 2, center: bool = True) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if exclude < 0:
            raise ValueError(f"exclude must be >= 0, got {exclude}")
        self.k = int(k)
        self.exclude = int(exclude)
        self.center = bool(center)

    def extra_repr(self) -> str:
        return f"k={self.k}, exclude={self.exclude}, center={self.center}"

    def correlation(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) features -> (B, hw, hw) float32 correlations, excluded pairs filled.

        Excluded pairs hold :data:`MASK_VALUE`. Computed in float32 even under autocast: the
        cost is small at stride 16 and bf16's 8-bit mantissa would blur near-ties between a
        real copy (about 1.0) and a strong chance match (about 0.98).
        """
        b, c, h, w = features.shape
        with torch.autocast(device_type=features.device.type, enabled=False):
            f = features.float().reshape(b, c, h * w)
            if self.center:
                f = f - f.mean(dim=1, keepdim=True)
            # eps keeps flat (all-zero) feature vectors at 0 instead of 0/0 = NaN.
            f = F.normalize(f, dim=1, eps=1e-6)
            corr = torch.bmm(f.transpose(1, 2), f)
            excl = exclusion_mask(h, w, self.exclude, features.device)
            return corr.masked_fill(excl, MASK_VALUE)

    def correlate(self, features: torch.Tensor) -> CorrelationResult:
        """(B, C, h, w) features -> :class:`CorrelationResult` (pooled map and best offsets)."""
        if features.ndim != 4:
            raise ValueError(f"expected (B, C, h, w) features, got shape {tuple(features.shape)}")
        b, _, h, w = features.shape
        corr = self.correlation(features)
        k = min(self.k, h * w)
        values, index = corr.topk(k, dim=2, largest=True, sorted=True)
        admissible = values > MASK_VALUE / 2
        # An excluded slot means "no partner": report the weakest possible correlation rather
        # than the fill value, which would swamp the decoder's activations.
        values = torch.where(admissible, values, torch.full_like(values, -1.0))
        if k < self.k:
            values = F.pad(values, (0, self.k - k), value=-1.0)
        pooled = values.transpose(1, 2).reshape(b, self.k, h, w)

        best = index[..., 0]  # (B, hw)
        query = torch.arange(h * w, device=features.device)
        dy = best.div(w, rounding_mode="floor") - query.div(w, rounding_mode="floor")
        dx = best.remainder(w) - query.remainder(w)
        offset = torch.stack([dy, dx], dim=1) * admissible[..., 0].unsqueeze(1)
        return CorrelationResult(pooled.to(features.dtype), offset.reshape(b, 2, h, w))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) features -> (B, k, h, w) pooled correlations (see :meth:`correlate`)."""
        return self.correlate(features).pooled
