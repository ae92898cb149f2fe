"""Residual-to-average output: F = base(A, B) + bounded residual."""

from __future__ import annotations

import torch
from torch import nn

# A pixel counts as background when both inputs are below half an 8-bit grey level.
BACKGROUND_LEVEL = 0.5 / 255.0


def plain_average(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 0.5 * (a + b)


def source_scales(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Standard deviation of each source over each image (N x 2), floored to avoid division by 0."""
    return torch.stack([a.flatten(1).std(dim=1), b.flatten(1).std(dim=1)], dim=1).clamp_min(1e-3)


def zscored_average(a: torch.Tensor, b: torch.Tensor, scales: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of the sources divided by their standard deviations, rescaled to the plain average's range.

    Correlation ignores offsets, so dividing without subtracting the mean gives
    the CC-maximising sum of z-scores while the background stays exactly 0.
    ``scales`` (N x 2) lets a volume use one pair of standard deviations for all
    its slices, so the base does not flicker from slice to slice.
    """
    if scales is None:
        scales = source_scales(a, b)
    sd_a = scales[:, 0].view(-1, 1, 1, 1)
    sd_b = scales[:, 1].view(-1, 1, 1, 1)
    mean_sd = 0.5 * (sd_a + sd_b)
    return 0.5 * mean_sd * (a / sd_a + b / sd_b)


class ResidualToAverage(nn.Module):
    """Adds R = bound * tanh(r), scaled by the detail strength, to the base inside the head.

    The residual is zeroed where both inputs are background, so the fused
    background stays exactly 0 (a grey background ruins SSIM), and the result
    is clamped to the inputs' [0, 1] range.
    """

    def __init__(self, bound: float = 0.25):
        super().__init__()
        self.bound = bound

    def forward(
        self, base: torch.Tensor, raw_residual: torch.Tensor, foreground: torch.Tensor, strength: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        residual = self.bound * torch.tanh(raw_residual) * foreground
        fused = (base + strength * residual).clamp(0.0, 1.0) * foreground
        return fused, residual


def foreground_mask(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a > BACKGROUND_LEVEL) | (b > BACKGROUND_LEVEL)).to(a.dtype)
