"""Dense reliability maps: how much each modality is trusted, per pixel and scale."""

from __future__ import annotations

import torch
from torch import nn



class ReliabilityHead(nn.Module):
    """Predicts per-pixel weights (w_A, w_B), w_A + w_B = 1, at one encoder scale.

    The last layer starts at zero, so an untrained head gives an exact 50/50
    average of the two modalities' features; training moves it away from the
    average only where that pays off in the loss.
    """

    def __init__(self, channels: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or max(8, channels // 2)
        # 1x1 convolutions: the encoder features already carry spatial context,
        # and a per-pixel head stays cheap at full resolution
        self.body = nn.Sequential(nn.Conv2d(3 * channels, hidden, 1), nn.LeakyReLU(0.1, inplace=True))
        self.logits = nn.Conv2d(hidden, 2, 1)
        nn.init.zeros_(self.logits.weight)
        nn.init.zeros_(self.logits.bias)

    def forward(self, feat_a: torch.Tensor, feat_b: torch.Tensor, bias: float = 0.0) -> torch.Tensor:
        """Return the weight of modality A (N x 1 x H x W); B's weight is 1 - it.

        ``bias`` is added to A's logit and subtracted from B's, so +1 multiplies
        the odds of trusting A by e**2 everywhere (the user's "reliability bias").
        """
        logits = self.logits(self.body(torch.cat([feat_a, feat_b, (feat_a - feat_b).abs()], dim=1)))
        difference = logits[:, :1] - logits[:, 1:] + 2.0 * bias
        # softmax over two classes == sigmoid of the logit difference
        return torch.sigmoid(difference)


def weighted_fusion(feat_a: torch.Tensor, feat_b: torch.Tensor, weight_a: torch.Tensor) -> torch.Tensor:
    """Reliability-weighted sum of the two modalities' features."""
    return weight_a * feat_a + (1.0 - weight_a) * feat_b
