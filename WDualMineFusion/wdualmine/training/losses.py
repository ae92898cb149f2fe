"""The training loss: global statistics (CC, MI) against local structure (gradients, SSIM), residual kept small."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

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
    cc: float = 1.0  # global correlation with both sources: the CC claim
    mi: float = 0.5  # information kept from both sources, relative to the base: the MI claim
    gradient: float = 0.5  # edge strength of the stronger source at each pixel: Qabf, VIF
    ssim: float = 0.5  # local structure with both sources; punishes grey background
    residual: float = 2.0  # residual energy relative to the base's variance: keeps CC/MI near the average's
    mi_bins: int = 32  # histogram bins of the Parzen MI; 0 = the R1-like grey-level MI (256 exact levels)
    # 1: CC and MI count only where the fused image falls below the base's (constraints, not goals),
    # so the residual is free to add structure as long as it keeps the base's global statistics
    hinge: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class FusionLoss(nn.Module):
    def __init__(self, weights: LossWeights = LossWeights()):
        super().__init__()
        self.weights = weights

    def forward(self, a: torch.Tensor, b: torch.Tensor, out: FusionOutput) -> tuple[torch.Tensor, dict[str, float]]:
        fused = out.fused
        cc = 1 - 0.5 * (correlation(fused, a) + correlation(fused, b))
        if self.weights.hinge:
            cc_base = (1 - 0.5 * (correlation(out.base, a) + correlation(out.base, b))).detach()
            cc = torch.relu(cc - cc_base)
        bins = self.weights.mi_bins
        if bins:
            def information(x, source):
                return soft_mutual_information(x, source, bins)
        else:
            information = grey_level_mutual_information
        mi_base = (information(out.base, a) + information(out.base, b)).detach()
        mi_fused = information(fused, a) + information(fused, b)
        mi = (mi_base - mi_fused) / (mi_base + 1e-6)
        if self.weights.hinge:
            mi = torch.relu(mi)
        target = torch.maximum(sobel_magnitude(a), sobel_magnitude(b))
        gradient = (sobel_magnitude(fused) - target).abs().flatten(1).mean(1) / (target.flatten(1).mean(1) + 1e-6)
        ssim = 1 - 0.5 * (box_ssim(fused, a) + box_ssim(fused, b))
        residual = out.residual.flatten(1).pow(2).mean(1) / (out.base.flatten(1).var(1) + 1e-6)
        terms = {"cc": cc.mean(), "mi": mi.mean(), "gradient": gradient.mean(), "ssim": ssim.mean(), "residual": residual.mean()}
        total = sum(getattr(self.weights, name) * value for name, value in terms.items())  # mi_bins, hinge: settings
        return total, {name: float(value.detach()) for name, value in terms.items()}
