"""SSIM of METRICS.md (R1): scikit-image 0.19.2 structural_similarity defaults, summed over both sources.

Computed in float64. R1 handed float32 images to scikit-image, which then works in float32; on the
AANLIB training pairs that rounding moves the summed SSIM by up to 8e-5 (float64 scikit-image agrees
with this module to 1e-10).
"""

import numpy as np

from ._filters import box_filter_reflect

WIN_SIZE = 7
K1, K2 = 0.01, 0.03
# R1 passes float images without data_range; scikit-image 0.19.2 then takes the float dtype range
# (-1, 1), so L = 2 and C1, C2 are tiny next to 0..255 data. 2 reproduces R1; 255 is the textbook value.
R1_DATA_RANGE = 2.0


def _ssim_many(x, others, data_range):
    """Mean SSIM of x against each image in others, sharing x's local statistics."""
    images = [np.asarray(image, dtype=np.float64) for image in (x, *others)]
    if len({image.shape for image in images}) != 1 or images[0].ndim != 2:
        raise ValueError("SSIM needs 2-D images of one shape")
    if min(images[0].shape) < WIN_SIZE:
        raise ValueError(f"SSIM needs images of at least {WIN_SIZE}x{WIN_SIZE} pixels")
    stack = np.stack(images)
    n = len(others)
    means = box_filter_reflect(np.concatenate([stack, stack * stack, stack[0] * stack[1:]]), WIN_SIZE)
    ux, uy = means[0], means[1:n + 1]
    uxx, uyy = means[n + 1], means[n + 2:2 * n + 2]
    uxy = means[2 * n + 2:]
    # Sample (unbiased) variances, as scikit-image's default use_sample_covariance=True.
    cov_norm = WIN_SIZE ** 2 / (WIN_SIZE ** 2 - 1.0)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    ssim_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    # scikit-image averages after cropping (win_size - 1) // 2 pixels on every side.
    pad = (WIN_SIZE - 1) // 2
    return ssim_map[:, pad:-pad, pad:-pad].mean(axis=(1, 2))


def structural_similarity(x, y, data_range=R1_DATA_RANGE):
    """Mean SSIM of x and y (7x7 box window, 'reflect' edges, sample covariance)."""
    return float(_ssim_many(x, [y], data_range)[0])


def ssim(fused, a, b, data_range=R1_DATA_RANGE):
    """SSIM = ssim(F, A) + ssim(F, B), so it runs up to 2."""
    return float(_ssim_many(fused, [a, b], data_range).sum())
