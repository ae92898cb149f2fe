"""Soft gradient-based arbitration between the spatial and the wavelet expert."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import ConvAct


def sobel_magnitude(image: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of an N x 1 x H x W image (zero padding)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=image.dtype, device=image.device)
    kernels = torch.stack([kx, kx.t()]).unsqueeze(1)
    gradients = nn.functional.conv2d(image, kernels, padding=1)
    return torch.sqrt((gradients**2).sum(dim=1, keepdim=True) + 1e-12)


class SoftGradientArbiter(nn.Module):
    """Per-pixel gate g in (0, 1): the weight of the wavelet expert (1 - g goes to the spatial one).

    The gate starts as a sigmoid of the larger of the two Sobel magnitudes
    around a threshold, so edges lean to the wavelet expert and flat regions to
    the spatial one; a small convolution learns corrections from both
    gradient maps. ``bias`` (logit units) shifts every pixel toward the
    wavelet expert (> 0) or the spatial one (< 0).
    """

    def __init__(self, hidden: int = 8):
        super().__init__()
        self.slope = nn.Parameter(torch.tensor(8.0))
        self.threshold = nn.Parameter(torch.tensor(0.3))
        self.correction = nn.Sequential(ConvAct(3, hidden), nn.Conv2d(hidden, 1, 1))
        nn.init.zeros_(self.correction[-1].weight)
        nn.init.zeros_(self.correction[-1].bias)

    @staticmethod
    def gradients(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Stacked Sobel magnitudes of A and B and their maximum (N x 3 x H x W)."""
        grad_a, grad_b = sobel_magnitude(a), sobel_magnitude(b)
        return torch.cat([grad_a, grad_b, torch.maximum(grad_a, grad_b)], dim=1)

    def forward(self, gradients: torch.Tensor, bias: float = 0.0) -> torch.Tensor:
        logit = self.slope * (gradients[:, 2:3] - self.threshold) + self.correction(gradients) + bias
        return torch.sigmoid(logit)
