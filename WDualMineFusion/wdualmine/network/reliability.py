"""Dense reliability maps: a learned, pixel-wise fusion curve of the two grey levels."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from .residual import BACKGROUND_LEVEL

# Knots per axis of the curve's tables over [0, 1] x [0, 1] (values between knots are bilinear).
CURVE_KNOTS = 33
# Log-odds added to A's weight at full functional emphasis where A is at its hottest (w_A 0.5 -> 0.98).
EMPHASIS_LOGIT = 4.0
# Where the emphasis starts and where it is complete, as foreground percentiles of A.
HOT_PERCENTILES = (90.0, 99.5)


def hot_ramp(a: torch.Tensor, hot: torch.Tensor) -> torch.Tensor:
    """0 below A's lower hot level, 1 above the upper one, a smoothstep in between (``hot`` is N x 2)."""
    low = hot[:, 0].view(-1, 1, 1, 1)
    high = torch.maximum(hot[:, 1].view(-1, 1, 1, 1), low + 1e-3)
    t = ((a - low) / (high - low)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def hot_levels(a: torch.Tensor) -> torch.Tensor:
    """Per image (N x 2): A's grey levels at HOT_PERCENTILES of its foreground (the whole image if it has none)."""
    levels = []
    for image in a.flatten(1):
        values = image[image > BACKGROUND_LEVEL]
        values = values if values.numel() else image
        q = torch.tensor([p / 100.0 for p in HOT_PERCENTILES], dtype=image.dtype, device=image.device)
        levels.append(torch.quantile(values.float(), q.float()).to(image.dtype))
    return torch.stack(levels)


def emphasis_logit(a: torch.Tensor, emphasis: float, hot: torch.Tensor | None) -> torch.Tensor | None:
    """The log-odds the functional emphasis adds to A's weight (None without emphasis); ``hot`` as ``hot_ramp``'s."""
    return EMPHASIS_LOGIT * emphasis * hot_ramp(a, hot if hot is not None else hot_levels(a)) if emphasis else None


def bilinear_lookup(table: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Values of a K x K table over [0, 1]^2 at the points (a, b), bilinearly interpolated."""
    k = table.shape[0]
    x = a.clamp(0, 1) * (k - 1)
    y = b.clamp(0, 1) * (k - 1)
    i0 = x.detach().floor().clamp(0, k - 2)
    j0 = y.detach().floor().clamp(0, k - 2)
    fx, fy = x - i0, y - j0
    flat = table.flatten()
    index = (i0 * k + j0).long()
    v00, v10 = flat[index], flat[index + k]
    v01, v11 = flat[index + 1], flat[index + k + 1]
    return (v00 * (1 - fx) + v10 * fx) * (1 - fy) + (v01 * (1 - fx) + v11 * fx) * fy


class ReliabilityCurve(nn.Module):
    """Per-pixel weight of modality A and a gain, both learned functions of the pixel's grey levels (a, b).

    The fused base is ``gain * (w_A * A + (1 - w_A) * B)``. Why a curve of the
    two grey levels and not of a neighbourhood: the evaluation's MI counts
    exact grey-level co-occurrences, and any rule that maps one (a, b) pair to
    several outputs loses it; a per-pixel rule keeps it while still deciding,
    pair by pair, whose edges to keep (e.g. full MRI contrast where the PET is
    dark). Both tables start at 0, i.e. the exact 50/50 average with gain 1.
    The w_A map is the dense reliability map the user sees.
    """

    def __init__(self, knots: int = CURVE_KNOTS):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(knots, knots))  # log-odds of trusting A
        self.log_gain = nn.Parameter(torch.zeros(knots, knots))

    def forward(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        bias: float = 0.0,
        strength: float = 1.0,
        emphasis: float = 0.0,
        hot: torch.Tensor | None = None,
        tables: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (w_A, gain), each shaped like ``a``.

        ``bias`` is added to A's log-odds twice (A's logit up, B's down), so +1
        multiplies the odds of trusting A by e**2 everywhere (the user's
        "reliability bias"). ``strength`` scales the learned log-odds and
        log-gain: 0 is the plain average, 1 the trained curve. ``emphasis``
        adds up to EMPHASIS_LOGIT to A's log-odds where A is hot for its own
        image or volume (``hot``: N x 2 levels, see ``hot_levels``). ``tables``
        (log-odds, log gain; any knot count) replace the learned ones, e.g. a
        curve adapted to one pair of images.
        """
        logits, log_gain = (self.logits, self.log_gain) if tables is None else tables
        return curve_weight_and_gain(logits, log_gain, a, b, strength, bias, emphasis_logit(a, emphasis, hot))


def curve_weight_and_gain(
    logits: torch.Tensor,
    log_gain: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    strength: float = 1.0,
    bias: float = 0.0,
    extra: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(w_A, gain) of a curve's two tables at the points (a, b), its log-odds scaled by ``strength``, shifted
    by twice ``bias`` and by ``extra`` (the functional emphasis); the curve of the model and of a fit alike."""
    if not strength:  # the tables scaled to 0 (the plain average's weight and gain): no lookup, the same values
        logit, gain = torch.full_like(a, 2.0 * bias), torch.ones_like(a)
    else:
        logit = strength * bilinear_lookup(logits, a, b) + 2.0 * bias
        gain = torch.exp(strength * bilinear_lookup(log_gain, a, b))
    if extra is not None:
        logit = logit + extra
    return torch.sigmoid(logit), gain


def weight_at_scale(weight_a: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The full-resolution reliability map averaged down to a feature map's size."""
    if weight_a.shape[-2:] == like.shape[-2:]:
        return weight_a
    return functional.adaptive_avg_pool2d(weight_a, like.shape[-2:])


def weighted_fusion(feat_a: torch.Tensor, feat_b: torch.Tensor, weight_a: torch.Tensor) -> torch.Tensor:
    """Reliability-weighted sum of the two modalities' features."""
    return weight_a * feat_a + (1.0 - weight_a) * feat_b
