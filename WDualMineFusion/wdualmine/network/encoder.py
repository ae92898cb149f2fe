"""Shared (Siamese) multi-scale encoder applied to each modality separately."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvAct


class SiameseEncoder(nn.Module):
    """One encoder, the same weights for both modalities.

    Sharing the weights puts both modalities' features in one space, which is
    what lets the reliability heads compare them channel by channel and lets
    the fused features be a plain weighted sum.

    Scale ``s`` has ``channels[s]`` channels at 1 / 2**s of the input size.
    """

    def __init__(self, channels: tuple[int, ...] = (8, 16, 24, 32)):
        super().__init__()
        self.channels = tuple(channels)
        stages = []
        previous = 1
        for index, width in enumerate(self.channels):
            if index == 0:
                # one convolution at full resolution: the CPU budget is spent at
                # coarser scales, and fine detail reaches the output through the
                # wavelet expert, which works on the images themselves
                stages.append(ConvAct(previous, width))
            else:
                stages.append(nn.Sequential(ConvAct(previous, width, stride=2), ConvAct(width, width)))
            previous = width
        self.stages = nn.ModuleList(stages)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = []
        x = image
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
