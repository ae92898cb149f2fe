"""The training loss: global statistics (CC, MI) against local structure (gradients, SSIM), residual kept small."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..metrics.qabf import GAMMA_A, GAMMA_G, KAPPA_A, KAPPA_G, SIGMA_A, SIGMA_G, SOBEL_X, SOBEL_Y
from ..network.arbitration import sobel_magnitude
from ..network.model import FusionOutput


def correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per image (N)."""
    x = x.flatten(1) - x.flatten(1).mean(dim=1, keepdim=True)
    y = y.flatten(1) - y.flatten(1).mean(dim=1, keepdim=True)
    return (x * y).sum(1) / torch.sqrt((x * x).sum(1) * (y * y).sum(1) + 1e-12)


def soft_mutual_information(x: torch.Tensor, y: torch.Tensor, bins: int = 32) -> torch.Tensor:
    """Differentiable MI (nats) per image from Parzen-window histograms over [0, 1]."""
    centres = torch.linspace(0, 1, bins, device=x.device, dtype=x.dtype)
    width = 1.0 / (bins - 1)

    def memberships(v: torch.Tensor) -> torch.Tensor:  # N x P x bins, rows sum to 1
        w = torch.exp(-0.5 * ((v.flatten(1).unsqueeze(-1) - centres) / (0.5 * width)) ** 2)
        return w / (w.sum(-1, keepdim=True) + 1e-12)

    px, py = memberships(x), memberships(y)
    joint = torch.bmm(px.transpose(1, 2), py) / px.shape[1]  # N x bins x bins
    marginal_x, marginal_y = joint.sum(2, keepdim=True), joint.sum(1, keepdim=True)
    return (joint * (torch.log(joint + 1e-10) - torch.log(marginal_x * marginal_y + 1e-10))).sum((1, 2))


def stretched_levels(x: torch.Tensor) -> torch.Tensor:
    """Per-image min-max stretch to 0..255 (N x P), as the R1 protocol stretches a fused image before scoring."""
    flat = x.flatten(1)
    low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    return (flat - low) / (high - low).clamp_min(1e-6) * 255.0


def grey_level_mutual_information(fused: torch.Tensor, source: torch.Tensor, sigma: float = 0.4) -> torch.Tensor:
    """Differentiable stand-in for R1's MI (nats) per image: 256 x 256 grey-level joint histogram.

    R1 counts exact grey levels of the stretched, rounded fused image against
    the source's; any local change that maps one (A, B) pair to several fused
    levels costs MI there, which a coarse Parzen MI does not see. Here the
    source is binned exactly (it takes no gradient) and each fused value is
    spread over its four nearest levels with a narrow Gaussian, so the
    histogram is close to R1's and still differentiable.
    """
    levels = stretched_levels(fused)
    source_bins = torch.round(source.flatten(1).clamp(0, 1) * 255).long()
    nearest = torch.floor(levels).long().unsqueeze(-1) + torch.arange(-1, 3, device=fused.device)
    weights = torch.exp(-0.5 * ((levels.unsqueeze(-1) - nearest) / sigma) ** 2)
    weights = weights / weights.sum(-1, keepdim=True)
    index = nearest.clamp(0, 255) * 256 + source_bins.unsqueeze(-1)
    n, pixels = levels.shape
    joint = torch.zeros(n, 256 * 256, dtype=fused.dtype, device=fused.device)
    joint = joint.scatter_add(1, index.flatten(1), weights.flatten(1)).view(n, 256, 256) / pixels
    marginal_f, marginal_s = joint.sum(2, keepdim=True), joint.sum(1, keepdim=True)
    return (joint * (torch.log(joint + 1e-12) - torch.log(marginal_f * marginal_s + 1e-12))).sum((1, 2))


def _sobel_strength_orientation(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    kernels = torch.tensor(np.stack([SOBEL_X, SOBEL_Y]), dtype=x.dtype, device=x.device).unsqueeze(1)
    # R1 convolves (kernel flipped); the flip only changes the sign of both components, which
    # leaves the strength and arctan(Sy / Sx) as they are
    sx, sy = nn.functional.conv2d(x, kernels, padding=1).unbind(1)
    strength = torch.sqrt(sx * sx + sy * sy + 1e-8)
    vertical = sx == 0
    alpha = torch.where(vertical, torch.full_like(sx, math.pi / 2), torch.atan(sy / torch.where(vertical, torch.ones_like(sx), sx)))
    return strength, alpha


def soft_qabf(fused: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """R1's Qabf per image (N), differentiable: the fused image min-max stretched, sources on 0..255.

    The same Sobel strengths, orientations and sigmoids as the metric; the
    only differences are no rounding of the stretched image and a tiny
    epsilon in the strengths.
    """
    g_f, alpha_f = _sobel_strength_orientation(stretched_levels(fused).view_as(fused))
    num, den = 0.0, 0.0
    for source in (a, b):
        g_x, alpha_x = _sobel_strength_orientation(source * 255.0)
        ratio = torch.where(g_x > g_f, g_f / g_x, g_x / g_f)
        q_g = GAMMA_G / (1 + torch.exp(KAPPA_G * (ratio - SIGMA_G)))
        relative = 1 - (alpha_x - alpha_f).abs() / (math.pi / 2)
        q_a = GAMMA_A / (1 + torch.exp(KAPPA_A * (relative - SIGMA_A)))
        num = num + (q_g * q_a * g_x).flatten(1).sum(1)
        den = den + g_x.flatten(1).sum(1)
    return num / den


def box_ssim(x: torch.Tensor, y: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Mean SSIM per image with a box window, as the R1 protocol scores it.

    The stabilising constants are near zero like R1's (data_range 2 on 0..255
    data), so a grey background is punished here just as in evaluation.
    """
    c1, c2 = 1e-6, 1e-5
    pool = nn.functional.avg_pool2d
    mx, my = pool(x, window, 1), pool(y, window, 1)
    vx = pool(x * x, window, 1) - mx * mx
    vy = pool(y * y, window, 1) - my * my
    cxy = pool(x * y, window, 1) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return ssim.flatten(1).mean(1)


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms; the defaults are the shipped models' recipe (v0.2).

    With ``hinge`` on, CC and MI are constraints, not goals: each costs only
    where the fused image falls below the plain average (A + B) / 2 plus a margin
    (``cc_margin`` in CC, ``mi_margin`` in nats), because the claims are made
    against peers that sit at the average's CC and below its MI. Inside those
    constraints the loss maximises Qabf itself (its differentiable form), the
    structure metric the average is weakest on.
    """

    cc: float = 50.0  # mean correlation with both sources: the CC claim (a steep wall when hinged)
    mi: float = 2.0  # information kept from both sources (nats when hinged): the MI claim
    gradient: float = 0.0  # edge strength against the stronger source's Sobel magnitude (v0.1's structure term)
    ssim: float = 0.0  # box-window SSIM with both sources; punishes a grey background (v0.1)
    residual: float = 1.0  # the experts' residual energy relative to the base's variance: detail, not a new image
    qabf: float = 1.0  # 1 - R1's Qabf (differentiable form): edge preservation exactly as the evaluation scores it
    mi_bins: int = 0  # 0 = the R1-like grey-level MI (256 exact levels); > 0 = a Parzen MI with that many bins
    hinge: int = 1
    cc_margin: float = 0.004
    mi_margin: float = 0.02

    def as_dict(self) -> dict:
        return asdict(self)


class FusionLoss(nn.Module):
    def __init__(self, weights: LossWeights = LossWeights()):
        super().__init__()
        self.weights = weights

    def forward(self, a: torch.Tensor, b: torch.Tensor, out: FusionOutput) -> tuple[torch.Tensor, dict[str, float]]:
        w = self.weights
        fused = out.fused
        information = (lambda x, source: soft_mutual_information(x, source, w.mi_bins)) if w.mi_bins else grey_level_mutual_information

        def mean_cc(x):
            return 0.5 * (correlation(x, a) + correlation(x, b))

        def total_mi(x):
            return information(x, a) + information(x, b)

        terms = {}
        if w.hinge:
            with torch.no_grad():
                average = 0.5 * (a + b)
                cc_floor = mean_cc(average) + w.cc_margin
                mi_floor = total_mi(average) + w.mi_margin
            terms["cc"] = torch.relu(cc_floor - mean_cc(fused))
            terms["mi"] = torch.relu(mi_floor - total_mi(fused)) if w.mi else torch.zeros(len(a))
        else:
            terms["cc"] = 1 - mean_cc(fused)
            mi_base = total_mi(out.base).detach()
            terms["mi"] = (mi_base - total_mi(fused)) / (mi_base + 1e-6) if w.mi else torch.zeros(len(a))
        if w.gradient:
            target = torch.maximum(sobel_magnitude(a), sobel_magnitude(b))
            terms["gradient"] = (sobel_magnitude(fused) - target).abs().flatten(1).mean(1) / (target.flatten(1).mean(1) + 1e-6)
        if w.ssim:
            terms["ssim"] = 1 - 0.5 * (box_ssim(fused, a) + box_ssim(fused, b))
        terms["residual"] = out.residual.flatten(1).pow(2).mean(1) / (out.base.flatten(1).var(1) + 1e-6)
        if w.qabf:
            terms["qabf"] = 1 - soft_qabf(fused, a, b)
        terms = {name: value.mean() for name, value in terms.items()}
        total = sum(getattr(w, name) * value for name, value in terms.items())
        return total, {name: float(value.detach()) for name, value in terms.items()}
