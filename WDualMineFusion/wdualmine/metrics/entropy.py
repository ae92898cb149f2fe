"""EN of METRICS.md (R1): Shannon entropy of the fused image's 256-bin grey-level histogram, in bits."""

import numpy as np


def entropy(fused):
    # R1 rounds and casts to uint8; clipping first keeps the cast defined for out-of-range input.
    levels = np.clip(np.round(np.asarray(fused, dtype=np.float64)), 0, 255).astype(np.intp).ravel()
    p = np.bincount(levels, minlength=256) / levels.size
    p = p[p > 0]
    return float(-np.sum(p * np.log2(p)))
