"""SF of METRICS.md (R1): sqrt(RF^2 + CF^2) of the fused image."""

import numpy as np


def spatial_frequency(fused):
    # R1 averages each direction over its own number of neighbour pairs, H(W-1) and (H-1)W
    # (VIFB divides both by HW instead, about 0.2 % lower on 256x256).
    fused = np.asarray(fused, dtype=np.float64)
    rf_sq = np.mean(np.diff(fused, axis=1) ** 2)
    cf_sq = np.mean(np.diff(fused, axis=0) ** 2)
    return float(np.sqrt(rf_sq + cf_sq))
