"""Small convolution building blocks shared by the encoder and the experts."""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)


class ConvAct(nn.Sequential):
    """3x3 convolution followed by a leaky ReLU.

    No normalisation layer: fusion runs with batch 1 in the live preview and on
    single slices, where batch statistics would make the output depend on the
    batch it happens to be computed in.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(conv3x3(in_channels, out_channels, stride), nn.LeakyReLU(0.1, inplace=True))


def upsample_to(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Bilinear upsampling of ``x`` to the spatial size of ``reference``."""
    return nn.functional.interpolate(x, size=reference.shape[-2:], mode="bilinear", align_corners=False)
