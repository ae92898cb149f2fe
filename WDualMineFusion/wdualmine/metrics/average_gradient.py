"""AG of METRICS.md (R1): mean over all pixels of sqrt((Gx^2 + Gy^2) / 2)."""

import numpy as np


def average_gradient(fused):
    # np.gradient: central differences inside, one-sided at the first and last row/column,
    # as R1 (and MATLAB gradient) use; R1 divides by H*W, not (H-1)(W-1) as VIFB does.
    gy, gx = np.gradient(np.asarray(fused, dtype=np.float64))
    return float(np.mean(np.sqrt((gx * gx + gy * gy) / 2.0)))
