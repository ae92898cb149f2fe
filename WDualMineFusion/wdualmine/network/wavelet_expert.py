"""Wavelet-domain frequency expert: fuse DWT sub-bands of the two images, then invert."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..wavelets_import import import_pytorch_wavelets
from .blocks import ConvAct

# pytorch_wavelets imports pkg_resources, which setuptools 81+ no longer ships: a stand-in provides it
_wavelets = import_pytorch_wavelets()
DWTForward, DWTInverse = _wavelets.DWTForward, _wavelets.DWTInverse


class WaveletExpert(nn.Module):
    """One-level DWT of both images; low band fused by convolution, detail bands by soft max-abs.

    * Low band: the reliability-weighted average of the two approximations plus
      a learned correction from the half-scale fused features (zero at start).
    * Detail bands: a per-coefficient soft choice of the larger magnitude
      (a sigmoid of ``temperature * (|d_A| - |d_B|)``, shifted by the
      reliability log-odds), times a learned gain that starts at 1.

    Working on the images (1 channel each) rather than on feature maps keeps the
    memory-bound transform cheap at full resolution.
    """

    def __init__(self, feature_channels: int, wave: str = "haar", hidden: int = 8):
        super().__init__()
        self.dwt = DWTForward(J=1, wave=wave, mode="zero")
        self.idwt = DWTInverse(wave=wave, mode="zero")
        # one small network predicts the low-band correction (channel 0) and the
        # three detail gains (channels 1-3); zero start = classic wavelet fusion
        self.band_adjust = nn.Sequential(ConvAct(2 + feature_channels, hidden), nn.Conv2d(hidden, 4, 3, padding=1))
        nn.init.zeros_(self.band_adjust[-1].weight)
        nn.init.zeros_(self.band_adjust[-1].bias)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(40.0)))

    def transform(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sub-bands of both images: low N x 2 x h x w, detail N x 2 x 3 x h x w."""
        low, (detail,) = self.dwt(torch.cat([a, b], dim=1))
        return low, detail

    def forward(
        self,
        low: torch.Tensor,
        detail: torch.Tensor,
        features: torch.Tensor,
        weight_a: torch.Tensor,
    ) -> torch.Tensor:
        """Fused image from the sub-bands, the half-scale fused features and A's reliability there."""
        weight_a = weight_a.clamp(1e-4, 1 - 1e-4)
        adjust = self.band_adjust(torch.cat([low, features], dim=1))
        fused_low = weight_a * low[:, :1] + (1 - weight_a) * low[:, 1:] + adjust[:, :1]

        detail_a, detail_b = detail[:, 0], detail[:, 1]
        prior = torch.log(weight_a) - torch.log1p(-weight_a)
        choose_a = torch.sigmoid(self.log_temperature.exp() * (detail_a.abs() - detail_b.abs()) + prior)
        fused_detail = (1 + adjust[:, 1:]) * (choose_a * detail_a + (1 - choose_a) * detail_b)
        return self.idwt((fused_low, [fused_detail.unsqueeze(1)]))
