"""MSE and PSNR of METRICS.md (R1)."""

import numpy as np


def mse(fused, a, b):
    """MSE = (mean((A - F)^2) + mean((B - F)^2)) / 2."""
    fused = np.asarray(fused, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float((np.mean((a - fused) ** 2) + np.mean((b - fused) ** 2)) / 2.0)


def psnr(fused, a, b):
    """PSNR = 10 log10(max(F)^2 / MSE) in dB; inf when F equals both sources.

    The peak is max(F), not 255, as in R1; under the R1 min-max stretch of F the two agree.
    """
    fused = np.asarray(fused, dtype=np.float64)
    error = mse(fused, a, b)
    if error == 0.0:
        return float("inf")
    return float(10.0 * np.log10(np.max(fused) ** 2 / error))
