"""Residual-to-average output: F = base(A, B) + bounded residual."""

from __future__ import annotations

import torch
from torch import nn

# A pixel counts as background when both inputs are below half an 8-bit grey level.
BACKGROUND_LEVEL = 0.5 / 255.0


def source_scales(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Standard deviation of each source over each image (N x 2), floored to avoid division by 0."""
    return torch.stack([a.flatten(1).std(dim=1), b.flatten(1).std(dim=1)], dim=1).clamp_min(1e-3)


def fusion_terms(
    a: torch.Tensor,
    b: torch.Tensor,
    kind: str = "plain",
    power: float = 1.0,
    scales: torch.Tensor | None = None,
    weight_a: torch.Tensor | None = None,
    gain: torch.Tensor | None = None,
    equalise: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The base the residual is added to, a weighted power mean of the (partially equalised) sources,
    and A's share of it, w_A A'^p / (w_A A'^p + w_B B'^p), per pixel.

    ``kind`` "plain" uses the sources as they are, "zscore" divides each by its
    standard deviation first (rescaled to their mean standard deviation);
    ``equalise`` in (0, 1) goes part of that way, scaling each source by
    (mean sd / its sd) ** equalise. ``scales`` (N x 2 or more columns, the first
    two the sources' standard deviations) fixes those, e.g. to whole-volume values.
    ``power`` p >= 1 gives the generalised mean ((A**p + B**p) / 2) ** (1 / p):
    1 is the arithmetic mean, larger values lean each pixel toward the brighter
    source. Being a function of the two values at each pixel only, it keeps the
    fused image a deterministic function of (A, B), which the grey-level MI of
    the evaluation rewards, while it sharpens edges that only one source has.
    ``weight_a`` (A's weight, default 0.5) and ``gain`` (default 1) come from
    the learned reliability curve. The output head keeps the fused image in [0, 1)
    (clamped below 0, rolled off above the highlight knee).

    The share is what A contributes to the fused value at that pixel after the
    contrast equalisation and the power mean: the reliability map shown to users
    (where both sources are 0 it is w_A).
    """
    alpha = 1.0 if kind == "zscore" else float(equalise)
    if alpha:
        if scales is None:
            scales = source_scales(a, b)
        sd_a = scales[:, 0].view(-1, 1, 1, 1)
        sd_b = scales[:, 1].view(-1, 1, 1, 1)
        mean_sd = 0.5 * (sd_a + sd_b)
        a, b = a * (mean_sd / sd_a) ** alpha, b * (mean_sd / sd_b) ** alpha
    w = torch.full_like(a, 0.5) if weight_a is None else weight_a
    if power == 1.0:
        term_a, term_b = w * a, (1 - w) * b
        mean = term_a + term_b
    else:
        term_a, term_b = w * a.clamp_min(0) ** power, (1 - w) * b.clamp_min(0) ** power
        mean = (term_a + term_b).clamp_min(1e-12) ** (1.0 / power) * ((term_a + term_b) > 0)
    total = term_a + term_b
    share = torch.where(total > 1e-12, term_a / total.clamp_min(1e-12), w)
    if weight_a is None and gain is None and alpha == 0.0 and power == 1.0:
        mean = 0.5 * (a + b)  # the plain average exactly (also in float32 rounding)
    return (mean if gain is None else mean * gain), share


def fusion_base(a: torch.Tensor, b: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """The average the residual is added to (``fusion_terms`` without the share map)."""
    return fusion_terms(a, b, *args, **kwargs)[0]


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
        self, base: torch.Tensor, raw_residual: torch.Tensor, foreground: torch.Tensor, strength: float = 1.0, rolloff: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        residual = self.bound * torch.tanh(raw_residual) * foreground
        return compose_output(base, residual, foreground, strength, rolloff), residual


def compose_output(
    base: torch.Tensor, residual: torch.Tensor, foreground: torch.Tensor, strength: float = 1.0, rolloff: bool = True
) -> torch.Tensor:
    """The fused image from a base and a bounded residual: clamped at 0, rolled off above the knee, 0 off the anatomy."""
    fused = (base + strength * residual).clamp_min(0.0)
    return (highlight_rolloff(fused) if rolloff else fused) * foreground


def needs_rolloff(controls) -> bool:
    """False where the output cannot pass 1: no residual, no learned gain, no contrast equalisation.

    A weighted power mean of two values in [0, 1] stays in [0, 1], so there the
    fused image is left exactly as the base (e.g. the plain average, whose hot
    lesion the shoulder would otherwise compress).
    """
    return not (
        controls.detail_strength == 0 and controls.curve_strength == 0 and controls.equalise == 0 and controls.base == "plain"
    )


def foreground_mask(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a > BACKGROUND_LEVEL) | (b > BACKGROUND_LEVEL)).to(a.dtype)
