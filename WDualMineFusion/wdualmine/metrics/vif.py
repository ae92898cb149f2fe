"""VIF of METRICS.md (R1): pixel-domain multiscale VIFp (Sheikh & Bovik), summed over both sources.

R1 calls it "VIFF", but it is vifp_mscale, not Han et al.'s multi-resolution VIFF.
"""

from functools import lru_cache

import numpy as np

from ._filters import convolve_valid_separable

# sigma_n^2 is an absolute noise variance, so images must be in 0..255 units.
SIGMA_N_SQ = 2.0
EPS = 1e-10
N_SCALES = 4


def fspecial_gaussian(size, sigma):
    """size x size Gaussian window built like MATLAB's fspecial('gaussian')."""
    half = (size - 1) / 2.0
    y, x = np.ogrid[-half:half + 1, -half:half + 1]
    window = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    window[window < np.finfo(window.dtype).eps * window.max()] = 0.0
    total = window.sum()
    if total != 0:
        window /= total
    return window


@lru_cache(maxsize=None)
def _scale_taps(scale):
    """1-D factor of the scale's window (size 2^(5-s) + 1, sigma = size / 5).

    The normalised window is outer(u, u), and the row sums of outer(u, u) with sum(u) = 1 are u,
    so the row sums give the factor exactly. fspecial's eps cut never removes anything for
    sigma = size / 5 (corner values stay above exp(-6.25), about 0.002, of the centre), which keeps
    the window rank 1; the check below guards that reasoning.
    """
    size = 2 ** (N_SCALES + 1 - scale) + 1
    window = fspecial_gaussian(size, size / 5.0)
    taps = window.sum(axis=1)
    if not np.allclose(np.outer(taps, taps), window, rtol=0, atol=1e-15):
        raise AssertionError("VIF window is not separable")
    return tuple(taps)


def _pixel_terms(sigma1_sq, sigma2_sq, sigma12):
    """Per-pixel numerator and denominator terms of one scale, clipping in R1's exact order."""
    sigma1_sq = np.maximum(sigma1_sq, 0.0)
    sigma2_sq = np.maximum(sigma2_sq, 0.0)
    g = sigma12 / (sigma1_sq + EPS)
    sv_sq = sigma2_sq - g * sigma12

    flat_ref = sigma1_sq < EPS
    g = np.where(flat_ref, 0.0, g)
    sv_sq = np.where(flat_ref, sigma2_sq, sv_sq)
    sigma1_sq = np.where(flat_ref, 0.0, sigma1_sq)

    flat_dist = sigma2_sq < EPS
    g = np.where(flat_dist, 0.0, g)
    sv_sq = np.where(flat_dist, 0.0, sv_sq)

    negative = g < 0
    sv_sq = np.where(negative, sigma2_sq, sv_sq)
    g = np.where(negative, 0.0, g)

    sv_sq = np.where(sv_sq <= EPS, EPS, sv_sq)

    num = np.log10(1.0 + g * g * sigma1_sq / (sv_sq + SIGMA_N_SQ))
    den = np.log10(1.0 + sigma1_sq / SIGMA_N_SQ)
    return num, den


def _vifp_many(refs, dist):
    """vifp(ref, dist) for each ref; all images are filtered together so dist's statistics are shared."""
    images = [np.asarray(image, dtype=np.float64) for image in (*refs, dist)]
    if len({image.shape for image in images}) != 1 or images[0].ndim != 2:
        raise ValueError("VIF needs 2-D images of one shape")
    stack = np.stack(images)
    n_refs = len(refs)
    num = np.zeros(n_refs)
    den = np.zeros(n_refs)
    for scale in range(1, N_SCALES + 1):
        taps = _scale_taps(scale)
        if scale > 1:
            stack = convolve_valid_separable(stack, taps)[:, ::2, ::2]
        ref, dst = stack[:n_refs], stack[n_refs]
        # One filtering call for the means, second moments and cross moments.
        moments = convolve_valid_separable(np.concatenate([stack, stack * stack, ref * dst]), taps)
        mu = moments[:n_refs + 1]
        mu_ref, mu_dst = mu[:n_refs], mu[n_refs]
        sq = moments[n_refs + 1:2 * n_refs + 2]
        sigma1_sq = sq[:n_refs] - mu_ref * mu_ref
        sigma2_sq = sq[n_refs] - mu_dst * mu_dst
        sigma12 = moments[2 * n_refs + 2:] - mu_ref * mu_dst
        pixel_num, pixel_den = _pixel_terms(sigma1_sq, sigma2_sq[None], sigma12)
        num += pixel_num.sum(axis=(1, 2))
        den += pixel_den.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        vifp = num / den
    # R1 returns 1.0 where num/den is NaN (a reference without any texture: 0/0).
    return np.where(np.isnan(vifp), 1.0, vifp)


def vifp(ref, dist):
    """Multiscale pixel-domain VIF of dist against the reference ref (images of at least 41x41 pixels)."""
    return float(_vifp_many([ref], dist)[0])


def vif(fused, a, b):
    """VIF = vifp(A, F) + vifp(B, F), so it runs up to about 2."""
    return float(_vifp_many([a, b], fused).sum())
