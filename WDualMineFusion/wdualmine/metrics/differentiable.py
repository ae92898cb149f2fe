"""Torch versions of the R1 metrics that gradients can flow through, for adapting a fusion curve to one pair.

Each function takes a batch of fused slices F (N x H x W, already stretched to
0..255 but not rounded) and the 8-bit sources A and B (N x H x W, integer
values 0..255, constants), and returns one value per slice. With the default
``smooth`` (0) CC, SSIM, VIF and Qabf equal the numpy metrics of this package
on integer images to float precision (tests check it). Where a metric's own
gradient is useless for steps of the size an optimiser takes, a smoothed
variant is used for adaptation (``smooth=1``):

* Qabf: F's gradient strength gets a floor of 1 Sobel unit (the ratio and
  orientation terms otherwise have near-infinite derivatives in flat areas), and
  the orientation's derivative is that of atan2 with the same floor;
* MI: F is binned by linear interpolation between neighbouring grey levels, and
  the joint histogram is blurred by a Gaussian of ``smooth`` levels along F;
* the local standard deviation of the flat-noise check gets a floor of 1 grey level.

The adaptation scores every candidate with the exact numpy metrics before
keeping it: these surrogates only point the way.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from .qabf import GAMMA_A, GAMMA_G, KAPPA_A, KAPPA_G, SIGMA_A, SIGMA_G
from .ssim import K1, K2, R1_DATA_RANGE, WIN_SIZE
from .vif import EPS, N_SCALES, SIGMA_N_SQ, _scale_taps
from .flat_noise import NOISE_WINDOW

LEVELS = 256
# Sums run block by block: torch splits one long sum among its threads, so its rounding (and, through an
# optimiser's steps, a fitted curve) would depend on the thread count; a block is always summed by one thread.
BLOCK = 4096


def ordered_sum(x: torch.Tensor, start_dim: int = 0) -> torch.Tensor:
    """Sum over the dimensions from ``start_dim`` on, in an order that does not depend on the thread count."""
    flat = x.flatten(start_dim)
    pad = (-flat.shape[-1]) % BLOCK
    if pad:
        flat = functional.pad(flat, (0, pad))
    return flat.unflatten(-1, (-1, BLOCK)).sum(-1).sum(-1)


def ordered_mean(x: torch.Tensor, start_dim: int = 0) -> torch.Tensor:
    """``ordered_sum`` divided by the number of values summed."""
    return ordered_sum(x, start_dim) / max(1, math.prod(x.shape[start_dim:]))


def stretch(fused: torch.Tensor) -> torch.Tensor:
    """Per-slice min-max stretch to 0..255 (the protocol's, without its rounding)."""
    low = fused.amin(dim=(-2, -1), keepdim=True)
    high = fused.amax(dim=(-2, -1), keepdim=True)
    return (fused - low) / (high - low).clamp_min(1e-12) * 255.0


def _symmetric_pad(x: torch.Tensor, width: int) -> torch.Tensor:
    """numpy's 'symmetric' padding (the edge pixel repeated) of the last two axes."""
    x = torch.cat([x[..., :, :width].flip(-1), x, x[..., :, -width:].flip(-1)], dim=-1)
    return torch.cat([x[..., :width, :].flip(-2), x, x[..., -width:, :].flip(-2)], dim=-2)


def _box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over size x size windows with symmetric edges, same size (N x C x H x W)."""
    return functional.avg_pool2d(_symmetric_pad(x, size // 2), size, stride=1)


def _gaussian_valid(x: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """'valid' separable filtering of every channel of N x C x H x W with the symmetric taps."""
    kernel = torch.tensor(taps, dtype=x.dtype, device=x.device)
    channels, n = x.shape[1], len(taps)
    rows = kernel.view(1, 1, n, 1).expand(channels, 1, n, 1)
    cols = kernel.view(1, 1, 1, n).expand(channels, 1, 1, n)
    return functional.conv2d(functional.conv2d(x, cols, groups=channels), rows, groups=channels)


def cc(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(corr(A, F) + corr(B, F)) / 2 per slice."""

    def corr(x, y):
        x = x.flatten(1) - ordered_mean(x, 1)[:, None]
        y = y.flatten(1) - ordered_mean(y, 1)[:, None]
        return ordered_sum(x * y, 1) / torch.sqrt(ordered_sum(x * x, 1) * ordered_sum(y * y, 1)).clamp_min(1e-12)

    return 0.5 * (corr(a, f) + corr(b, f))


class SourceTerms:
    """The parts of SSIM, VIF and Qabf that depend on the two sources only, computed once for many fused images.

    An adaptation scores one pair's slices against dozens of candidate fusions: the sources' local means,
    variances, pyramid and gradients are the same every time, so only the fused image's terms are
    filtered per candidate (and differentiated through), which halves the filtering of SSIM and VIF.
    """

    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        ys = torch.stack([a, b], 1)
        self.ys = ys
        means = _box_mean(torch.cat([ys, ys * ys], 1), WIN_SIZE)
        self.ssim_uy, self.ssim_uyy = means[:, :2], means[:, 2:4]
        self.vif_scales = []  # per scale: the sources at that scale, their local means and variances
        ref = ys
        for scale in range(1, N_SCALES + 1):
            taps = _scale_taps(scale)
            if scale > 1:
                ref = _gaussian_valid(ref, taps)[:, :, ::2, ::2]
            moments = _gaussian_valid(torch.cat([ref, ref * ref], 1), taps)
            mu_ref = moments[:, :2]
            self.vif_scales.append((ref, mu_ref, (moments[:, 2:4] - mu_ref * mu_ref).clamp_min(0)))
        self.gradients = []  # per source: Sobel strength and orientation
        for source in (a, b):
            sx, sy = _sobel(source)
            self.gradients.append((torch.sqrt(sx * sx + sy * sy), _orientation(sx, sy)))

    def ssim(self, f: torch.Tensor) -> torch.Tensor:
        """ssim(F, A) + ssim(F, B) per slice (R1's constants: data range 2)."""
        x = f[:, None]
        means = _box_mean(torch.cat([x, x * x, x * self.ys], 1), WIN_SIZE)
        ux, uxx, uxy = means[:, :1], means[:, 1:2], means[:, 2:4]
        uy, uyy = self.ssim_uy, self.ssim_uyy
        norm = WIN_SIZE**2 / (WIN_SIZE**2 - 1.0)
        vx, vy, vxy = norm * (uxx - ux * ux), norm * (uyy - uy * uy), norm * (uxy - ux * uy)
        c1, c2 = (K1 * R1_DATA_RANGE) ** 2, (K2 * R1_DATA_RANGE) ** 2
        value = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        pad = (WIN_SIZE - 1) // 2
        return ordered_mean(value[:, :, pad:-pad, pad:-pad], 2).sum(1)

    def vif(self, f: torch.Tensor) -> torch.Tensor:
        """vifp(A, F) + vifp(B, F) per slice, with R1's clipping in R1's order."""
        dist = f[:, None]
        num = torch.zeros(f.shape[0], 2, dtype=f.dtype, device=f.device)
        den = torch.zeros_like(num)
        for scale, (ref, mu_ref, s1) in enumerate(self.vif_scales, start=1):
            taps = _scale_taps(scale)
            if scale > 1:
                dist = _gaussian_valid(dist, taps)[:, :, ::2, ::2]
            moments = _gaussian_valid(torch.cat([dist, dist * dist, ref * dist], 1), taps)
            mu_dist = moments[:, :1]
            s2 = (moments[:, 1:2] - mu_dist * mu_dist).clamp_min(0).expand_as(s1)
            s12 = moments[:, 2:4] - mu_ref * mu_dist
            g = s12 / (s1 + EPS)
            sv = s2 - g * s12
            zero = torch.zeros_like(g)
            flat_ref = s1 < EPS
            g, sv, s1 = torch.where(flat_ref, zero, g), torch.where(flat_ref, s2, sv), torch.where(flat_ref, zero, s1)
            flat_dist = s2 < EPS
            g, sv = torch.where(flat_dist, zero, g), torch.where(flat_dist, zero, sv)
            negative = g < 0
            sv, g = torch.where(negative, s2, sv), torch.where(negative, zero, g)
            sv = sv.clamp_min(EPS)
            num = num + ordered_sum(torch.log10(1 + g * g * s1 / (sv + SIGMA_N_SQ)), 2)
            den = den + ordered_sum(torch.log10(1 + s1 / SIGMA_N_SQ), 2)
        return torch.where(den > 0, num / den.clamp_min(1e-30), torch.ones_like(num)).sum(1)

    def qabf(self, f: torch.Tensor, smooth: float = 0.0) -> torch.Tensor:
        """Q^{AB/F} per slice; ``smooth`` > 0 floors F's gradient strength (in Sobel units) for usable derivatives."""
        fx, fy = _sobel(f)
        g_f = torch.sqrt(fx * fx + fy * fy + smooth)
        alpha_f = _orientation(fx, fy)
        if smooth:  # the value of arctan(fy / fx), the derivative of atan2 with the floor (straight through)
            step = (fx.detach() * fy - fy.detach() * fx) / (fx.detach() ** 2 + fy.detach() ** 2 + smooth)
            alpha_f = alpha_f.detach() + step - step.detach()
        num = den = 0.0
        for g_x, alpha_x in self.gradients:
            ratio = torch.where(g_x > g_f, g_f / g_x.clamp_min(1e-12), torch.where(g_x < g_f, g_x / g_f.clamp_min(1e-12), g_f))
            relative = 1 - torch.abs(alpha_x - alpha_f) / (math.pi / 2)
            q_g = GAMMA_G / (1 + torch.exp(KAPPA_G * (ratio - SIGMA_G)))
            q_a = GAMMA_A / (1 + torch.exp(KAPPA_A * (relative - SIGMA_A)))
            num = num + ordered_sum(q_g * q_a * g_x, 1)
            den = den + ordered_sum(g_x, 1)
        return num / den.clamp_min(1e-12)


def ssim(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """ssim(F, A) + ssim(F, B) per slice (R1's constants: data range 2)."""
    return SourceTerms(a, b).ssim(f)


def vif(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """vifp(A, F) + vifp(B, F) per slice, with R1's clipping in R1's order."""
    return SourceTerms(a, b).vif(f)


def _sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded true convolutions with the protocol's Sobel kernels (conv2d correlates: kernels flipped)."""
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    sobel_y = torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
    kernels = torch.stack([sobel_x.flip(0, 1), sobel_y.flip(0, 1)])[:, None].to(x.dtype).to(x.device)
    response = functional.conv2d(x[:, None], kernels, padding=1)
    return response[:, 0], response[:, 1]


def _orientation(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    vertical = sx == 0
    return torch.where(vertical, torch.full_like(sx, math.pi / 2), torch.atan(sy / torch.where(vertical, torch.ones_like(sx), sx)))


def qabf(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor, smooth: float = 0.0) -> torch.Tensor:
    """Q^{AB/F} per slice; ``smooth`` > 0 floors F's gradient strength (in Sobel units) for usable derivatives."""
    return SourceTerms(a, b).qabf(f, smooth)


def mi(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor, smooth: float = 0.0) -> torch.Tensor:
    """I(F; A) + I(F; B) in nats per slice, F binned by linear interpolation (equal to R1 on integer F).

    ``smooth`` > 0 blurs the joint histogram along F by a Gaussian of that many grey levels.
    """
    f = f.clamp(0, LEVELS - 1)
    low = f.detach().floor().clamp(max=LEVELS - 2)
    upper = f - low
    low = low.long()
    kernel = None
    if smooth:
        radius = int(3 * smooth + 1)
        x = torch.arange(-radius, radius + 1, dtype=f.dtype, device=f.device)
        kernel = torch.exp(-x * x / (2 * smooth * smooth))
        kernel = (kernel / kernel.sum()).view(1, 1, -1)
    values = []
    for k in range(f.shape[0]):
        total = 0.0
        bins = low[k].flatten()
        for source in (a, b):
            labels = source[k].round().long().flatten().clamp(0, LEVELS - 1)
            index = bins * LEVELS + labels
            joint = torch.zeros(LEVELS * LEVELS, dtype=f.dtype, device=f.device)
            joint = joint.index_add(0, index, (1 - upper[k]).flatten()).index_add(0, index + LEVELS, upper[k].flatten())
            p = (joint / labels.numel()).view(LEVELS, LEVELS)  # rows: F's levels, columns: the source's
            if kernel is not None:
                p = functional.conv1d(p.t()[:, None], kernel, padding=kernel.shape[-1] // 2)[:, 0].t()
            p_f, p_s = p.sum(1, keepdim=True), p.sum(0, keepdim=True)
            # empty bins add nothing; they are masked (not indexed out: indexing's backward is slow), and their
            # logarithms are taken of 1 so that no infinite derivative meets the mask
            present = p > 0
            one = torch.ones_like(p)
            terms = p * (torch.log(torch.where(present, p, one)) - torch.log(torch.where(present, p_f * p_s, one)))
            total = total + ordered_sum(torch.where(present, terms, torch.zeros_like(p)))
        values.append(total)
    return torch.stack(values)


def local_sd(x: torch.Tensor, smooth: float = 0.0) -> torch.Tensor:
    """Local standard deviation over the flat-noise check's window (N x H x W); ``smooth`` floors the variance."""
    mean = _box_mean(x[:, None], NOISE_WINDOW)
    square = _box_mean((x * x)[:, None], NOISE_WINDOW)
    return torch.sqrt((square - mean * mean).clamp_min(0) + smooth)[:, 0]
