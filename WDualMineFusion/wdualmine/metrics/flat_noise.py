"""Noise in flat regions: does the fused image show texture where neither source has any?

Not an R1 metric: the volume evaluation and the auto controls use it to check
that a fusion adds no amplified noise (issue: no new artefacts).
"""

import numpy as np

from ._filters import box_filter_reflect

NOISE_WINDOW = 5  # pixels of the local standard deviation
FLAT_QUANTILE = 25  # a pixel is flat where both sources' local sd is in this lowest percentage of the anatomy


def local_sd(image, size=NOISE_WINDOW):
    image = np.asarray(image, dtype=np.float64)
    mean = box_filter_reflect(image, size)
    return np.sqrt(np.clip(box_filter_reflect(image * image, size) - mean * mean, 0, None))


def flat_mask(a, b):
    """Anatomy where each 8-bit source's local standard deviation is in the lowest quarter of the slice's anatomy."""
    anatomy = (a > 0) | (b > 0)
    if anatomy.sum() < 16:
        return np.zeros(anatomy.shape, bool)
    sd_a, sd_b = local_sd(a), local_sd(b)
    return anatomy & (sd_a <= np.percentile(sd_a[anatomy], FLAT_QUANTILE)) & (sd_b <= np.percentile(sd_b[anatomy], FLAT_QUANTILE))


def flat_noise(fused, a, b, mask=None):
    """Mean local standard deviation of the (stretched, 0..255) fused slice where both sources are flat; NaN if none is."""
    mask = flat_mask(a, b) if mask is None else mask
    return float(local_sd(fused)[mask].mean()) if mask.any() else float("nan")
