"""Global-context spatial expert: a light U-Net decoder with GCNet-style context blocks."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvAct, upsample_to


class GlobalContextBlock(nn.Module):
    """GCNet context block: attention-pooled global descriptor added to every pixel.

    It gives the coarse scales a view of the whole slice (e.g. overall tracer
    uptake or tissue contrast) at the cost of one 1x1 convolution and a pooling.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(4, channels // reduction)
        self.attention = nn.Conv2d(channels, 1, 1)
        self.transform = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.LayerNorm([hidden, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )
        # start as identity so the block only adds context once it is useful
        nn.init.zeros_(self.transform[-1].weight)
        nn.init.zeros_(self.transform[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        weights = torch.softmax(self.attention(x).view(n, 1, h * w), dim=-1)  # N x 1 x HW
        context = torch.bmm(x.view(n, c, h * w), weights.transpose(1, 2)).view(n, c, 1, 1)
        return x + self.transform(context)


class SpatialExpert(nn.Module):
    """Decodes the reliability-weighted features into a spatial residual (N x 1 x H x W).

    Global context is applied at the two coarsest scales only, where it is cheap.
    """

    def __init__(self, channels: tuple[int, ...] = (8, 16, 24, 32)):
        super().__init__()
        coarsest = len(channels) - 1
        self.context = nn.ModuleDict(
            {str(s): GlobalContextBlock(channels[s]) for s in range(max(0, coarsest - 1), coarsest + 1)}
        )
        self.up_blocks = nn.ModuleList()
        for s in range(coarsest - 1, -1, -1):
            # a 1x1 merge of the upsampled path and the skip, then one 3x3 convolution
            merge = nn.Sequential(nn.Conv2d(channels[s + 1] + channels[s], channels[s], 1), nn.LeakyReLU(0.1, inplace=True))
            self.up_blocks.append(nn.Sequential(merge, ConvAct(channels[s], channels[s])))
        self.head = nn.Conv2d(channels[0], 1, 1)

    def forward(self, fused: list[torch.Tensor]) -> torch.Tensor:
        coarsest = len(fused) - 1
        x = self.context[str(coarsest)](fused[coarsest])
        for block, s in zip(self.up_blocks, range(coarsest - 1, -1, -1)):
            skip = fused[s]
            if str(s) in self.context:
                skip = self.context[str(s)](skip)
            x = block(torch.cat([upsample_to(x, skip), skip], dim=1))
        return self.head(x)
